import * as path from 'path';
import { z } from 'zod';
import type { Dataset, RawImage, Sample } from '../../src/core/interfaces';
import { ConfigError } from '../../src/core/errors';
import { registerPlugin } from '../../src/core/registry';
import { decodeImage } from './decode';
import { isDir, scanClassFolders, scanImages, type FolderIndex } from './scan';

export const imageFolderSchema = z
  .object({
    /** Either root/<train_dir|test_dir>/<class>/* or, with neither present, root/<class>/*. */
    root: z.string({ required_error: 'image_folder needs root: the folder holding the images' }).min(1),
    /**
     * 'auto': split folders when root has them, else the flat layout for every split. 'images':
     * root holds the images themselves (no classes: one label for all, for pre-training only).
     */
    layout: z.enum(['auto', 'split', 'flat', 'images']).default('auto'),
    train_dir: z.string().default('train'),
    test_dir: z.string().default('test'),
    extensions: z.array(z.string()).min(1).default(['jpg', 'jpeg', 'png']),
    /** Keep the first N files (sorted) of each class (with layout 'images': of the folder). */
    max_per_class: z.number().int().min(1).optional(),
    /** Resize so the shorter side has this many pixels, at decode time. */
    resize_short: z.number().int().min(1).optional(),
    /** Keep decoded images in memory (CIFAR train: ~150 MB) so later epochs skip decoding. */
    cache: z.boolean().default(false),
  })
  .strict();

export type ImageFolderOptions = z.output<typeof imageFolderSchema>;

/** Where the split's class folders are, or a ConfigError naming `root` and the path. */
export function resolveSplitDir(o: ImageFolderOptions, split: 'train' | 'test'): string {
  const root = path.resolve(o.root);
  if (!isDir(root)) {
    throw new ConfigError('data.root', `image folder '${root}' does not exist or is not a directory`);
  }
  const splitName = split === 'train' ? o.train_dir : o.test_dir;
  const splitDir = path.join(root, splitName);
  const hasSplits = isDir(path.join(root, o.train_dir)) || isDir(path.join(root, o.test_dir));
  const layout = o.layout === 'auto' ? (hasSplits ? 'split' : 'flat') : o.layout;
  if (layout === 'flat' || layout === 'images') return root;
  if (!isDir(splitDir)) {
    throw new ConfigError('data.root', `no '${splitName}' folder for the ${split} split under '${root}' (expected ${splitDir}/<class>/*)`);
  }
  return splitDir;
}

/** An ImageNet-style folder of class subfolders, decoded with sharp on demand. */
export class ImageFolderDataset implements Dataset {
  readonly name = 'image_folder';
  readonly length: number;
  readonly classNames: string[];
  readonly dir: string;
  private readonly index: FolderIndex;
  private readonly cache: Map<number, RawImage> | null;

  constructor(private readonly options: ImageFolderOptions, split: 'train' | 'test') {
    this.dir = resolveSplitDir(options, split);
    const flatImages = options.layout === 'images';
    this.index = flatImages
      ? scanImages(this.dir, options.extensions, options.max_per_class)
      : scanClassFolders(this.dir, options.extensions, options.max_per_class);
    if (this.index.files.length === 0) {
      throw new ConfigError(
        'data.root',
        `no images (${options.extensions.join(', ')}) ${flatImages ? 'directly in' : 'in class folders under'} '${this.dir}'`,
      );
    }
    // Flag it here, not when an evaluation later finds a class with no examples (torchvision does too).
    const counts = new Int32Array(this.index.classNames.length);
    for (const l of this.index.labels) counts[l]++;
    const empty = this.index.classNames.filter((_, c) => counts[c] === 0);
    if (empty.length) {
      throw new ConfigError(
        'data.root',
        `class folder${empty.length > 1 ? 's' : ''} ${empty.map((c) => `'${path.join(this.dir, c)}'`).join(', ')} ` +
          `hold${empty.length > 1 ? '' : 's'} no images (${options.extensions.join(', ')}): add images or remove the folder`,
      );
    }
    this.length = this.index.files.length;
    this.classNames = this.index.classNames;
    this.cache = options.cache ? new Map() : null;
  }

  labelOf(i: number): number {
    this.check(i);
    return this.index.labels[i];
  }

  /** Path of item i. */
  fileOf(i: number): string {
    this.check(i);
    return this.index.files[i];
  }

  async get(i: number): Promise<Sample> {
    const source = this.fileOf(i);
    const label = this.index.labels[i];
    const hit = this.cache?.get(i);
    if (hit) return { image: hit, label, source };
    const image = await decodeImage(source, this.options.resize_short);
    this.cache?.set(i, image);
    return { image, label, source };
  }

  private check(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.index.files.length) {
      throw new RangeError(`image_folder '${this.dir}': index ${i} out of range [0, ${this.index.files.length})`);
    }
  }
}

registerPlugin({
  kind: 'dataset',
  name: 'image_folder',
  description: 'Class-per-folder images (jpg/jpeg/png) decoded with sharp',
  schema: imageFolderSchema,
  create: (options, deps) => new ImageFolderDataset(options, deps.split),
});

