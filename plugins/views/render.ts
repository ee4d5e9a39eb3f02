import type { RawImage } from '../../src/core/interfaces';
import { resizedCrop } from '../../data/transforms/resize';
import { flipHorizontal } from '../../data/transforms/flip';
import { applyColorJitter } from '../../data/transforms/color_jitter';
import { grayscale } from '../../data/transforms/grayscale';
import { gaussianBlur } from '../../data/transforms/gaussian_blur';
import { solarize } from '../../data/transforms/solarize';
import { normalize } from '../../data/transforms/normalize';
import type { MultiCropConfig, ViewPlan } from './plan';

/**
 * Pixel work for one planned view, in DINO's order: resized crop, flip, colour jitter, grayscale,
 * blur, solarise, normalise. Writes size*size*3 floats into `out` (a fresh array by default, or
 * a slice of a batch buffer). `scratch` must hold at least size*size*3 floats.
 */
export function renderView(
  cfg: MultiCropConfig,
  image: RawImage,
  plan: ViewPlan,
  scratch: Float32Array,
  out: Float32Array = new Float32Array(plan.size * plan.size * 3),
): Float32Array {
  const s = plan.size;
  resizedCrop(image.data, image.width, plan.box, s, cfg.interpolation, cfg.antialias, out);
  if (plan.flip) flipHorizontal(out, s, s);
  if (plan.jitter) applyColorJitter(out, plan.jitter);
  if (plan.grayscale) grayscale(out);
  if (plan.blurSigma !== null) gaussianBlur(out, s, s, plan.blurSigma, scratch);
  if (plan.solarize) solarize(out);
  normalize(out, cfg.mean, cfg.std);
  return out;
}
