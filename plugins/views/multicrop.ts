import type { ImageViews, RawImage, ViewSampler } from '../../src/core/interfaces';
import type { Rng } from '../../src/core/rng';
import { planViews, type MultiCropConfig, type ViewPlan } from './plan';
import { renderView } from './render';

/**
 * The multi-crop view sampler behind both `dino` and `sslight` (they differ only in defaults).
 * sample() = planViews() (all randomness) + renderView() per view (pure pixel work).
 */
export class MultiCropSampler implements ViewSampler {
  readonly nGlobal: number;
  readonly nLocal: number;
  readonly globalSize: number;
  readonly localSize: number;
  private scratch: Float32Array;

  /**
   * @param recommendedAlpha the eq. 3 weight that goes with these views (the method owns the
   *   loss; this is only advice a config builder may read). null: eq. 2, uniform pairs.
   */
  constructor(readonly config: Readonly<MultiCropConfig>, readonly recommendedAlpha: number | null = null) {
    this.nGlobal = config.nGlobal;
    this.nLocal = config.nLocal;
    this.globalSize = config.globalSize;
    this.localSize = config.localSize;
    const maxSize = Math.max(config.globalSize, config.localSize);
    this.scratch = new Float32Array(maxSize * maxSize * 3);
  }

  /** The random decisions for every view of a width x height image (globals, then locals). */
  plan(width: number, height: number, rng: Rng): ViewPlan[] {
    return planViews(this.config, width, height, rng);
  }

  /** Render one planned view (into `out` when given). */
  render(image: RawImage, plan: ViewPlan, out?: Float32Array): Float32Array {
    return renderView(this.config, image, plan, this.scratch, out);
  }

  sample(image: RawImage, rng: Rng): ImageViews {
    const plans = this.plan(image.width, image.height, rng);
    const views: ImageViews = { globals: [], locals: [], globalPixelScales: [], localPixelScales: [] };
    for (const p of plans) {
      const data = this.render(image, p);
      if (p.kind === 'global') {
        views.globals.push(data);
        views.globalPixelScales.push(p.pixelScale);
      } else {
        views.locals.push(data);
        views.localPixelScales.push(p.pixelScale);
      }
    }
    return views;
  }
}
