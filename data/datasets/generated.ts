import { z } from 'zod';
import type { Dataset, Sample } from '../../src/core/interfaces';
import { registerPlugin } from '../../src/core/registry';
import type { RngState } from '../../src/core/rng';
import { deriveRng, seedState } from '../seed';
import { renderShape, SHAPE_CLASSES } from './shapes';

export const generatedSchema = z
  .object({
    /** Images in the split; default 2000 (train) / 500 (test). */
    num_images: z.number().int().min(1).optional(),
    image_size: z.number().int().min(8).default(64),
    num_classes: z.number().int().min(2).max(SHAPE_CLASSES.length).default(10),
    seed: z.number().int().default(0),
  })
  .strict();

export type GeneratedOptions = z.output<typeof generatedSchema>;

const SPLIT_KEY = { train: 1, test: 2 } as const;

/**
 * Synthetic shapes and textures, rendered on the fly: image i is a pure function of
 * (seed, split, i), so nothing is stored and every run sees the same pixels. Labels cycle
 * through the classes (balanced); train and test draw from different streams.
 */
export class GeneratedDataset implements Dataset {
  readonly name = 'generated';
  readonly length: number;
  readonly classNames: string[];
  readonly imageSize: number;
  private readonly base: RngState;

  constructor(options: GeneratedOptions, readonly split: 'train' | 'test') {
    this.length = options.num_images ?? (split === 'train' ? 2000 : 500);
    this.imageSize = options.image_size;
    this.classNames = SHAPE_CLASSES.slice(0, options.num_classes);
    this.base = deriveRng(seedState(options.seed), SPLIT_KEY[split]).getState();
  }

  labelOf(index: number): number {
    this.check(index);
    return index % this.classNames.length;
  }

  /** Synchronous render, for callers that do not need a promise. */
  render(index: number): Sample {
    const label = this.labelOf(index);
    const size = this.imageSize;
    const data = new Uint8Array(size * size * 3);
    renderShape(label, size, deriveRng(this.base, index), data);
    return { image: { width: size, height: size, data }, label, source: `generated:${this.split}:${index}` };
  }

  get(index: number): Promise<Sample> {
    try {
      return Promise.resolve(this.render(index));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private check(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) {
      throw new RangeError(`generated dataset: index ${index} out of range [0, ${this.length})`);
    }
  }
}

registerPlugin({
  kind: 'dataset',
  name: 'generated',
  description: 'Built-in synthetic shapes and textures (10 classes, 64x64 RGB by default)',
  schema: generatedSchema,
  create: (options, deps) => new GeneratedDataset(options, deps.split),
});
