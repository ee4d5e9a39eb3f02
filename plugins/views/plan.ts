import type { Rng } from '../../src/core/rng';
import { pixelScale, sampleCropBox, type CropBox } from '../../data/transforms/random_resized_crop';
import { sampleColorJitter, type ColorJitterParams, type ColorJitterStrength } from '../../data/transforms/color_jitter';
import type { Interpolation } from '../../data/transforms/resize';

/** Everything a multi-crop sampler needs, resolved from a plugin's snake_case options. */
export interface MultiCropConfig {
  nGlobal: number;
  nLocal: number;
  globalSize: number;
  localSize: number;
  globalScale: [number, number];
  localScale: [number, number];
  ratio: [number, number];
  interpolation: Interpolation;
  antialias: boolean;
  flipP: number;
  colorJitterP: number;
  jitter: ColorJitterStrength;
  grayscaleP: number;
  /** Sigma range in output pixels (already scaled to the view sizes). */
  blurSigma: [number, number];
  /** Blur probability per global view (DINO: 1.0 then 0.1); views past the end use the last. */
  globalBlurP: number[];
  localBlurP: number;
  /** Solarisation probability per global view (DINO: 0 then 0.2). */
  globalSolarizeP: number[];
  localSolarizeP: number;
  mean: [number, number, number];
  std: [number, number, number];
}

/** The random decisions for one view, drawn before any pixel is touched. */
export interface ViewPlan {
  kind: 'global' | 'local';
  size: number;
  box: CropBox;
  /** Eq. 1: size^2 / crop area in source pixels. */
  pixelScale: number;
  flip: boolean;
  jitter: ColorJitterParams | null;
  grayscale: boolean;
  blurSigma: number | null;
  solarize: boolean;
}

function perView(ps: readonly number[], i: number): number {
  return ps.length === 0 ? 0 : ps[Math.min(i, ps.length - 1)];
}

function planOne(
  cfg: MultiCropConfig,
  kind: 'global' | 'local',
  index: number,
  width: number,
  height: number,
  rng: Rng,
): ViewPlan {
  const global = kind === 'global';
  const size = global ? cfg.globalSize : cfg.localSize;
  const box = sampleCropBox(width, height, global ? cfg.globalScale : cfg.localScale, cfg.ratio, rng);
  const flip = rng.uniform() < cfg.flipP;
  const jitter = rng.uniform() < cfg.colorJitterP ? sampleColorJitter(cfg.jitter, rng) : null;
  const grayscale = rng.uniform() < cfg.grayscaleP;
  const blurP = global ? perView(cfg.globalBlurP, index) : cfg.localBlurP;
  const blurSigma = rng.uniform() < blurP ? rng.range(cfg.blurSigma[0], cfg.blurSigma[1]) : null;
  const solarizeP = global ? perView(cfg.globalSolarizeP, index) : cfg.localSolarizeP;
  const solarize = rng.uniform() < solarizeP;
  return { kind, size, box, pixelScale: pixelScale(size, box), flip, jitter, grayscale, blurSigma, solarize };
}

/**
 * All views of one image: globals first, then locals, each drawn fully before the next so the
 * stream of draws is fixed by the config alone (not by pixel work or image content).
 */
export function planViews(cfg: MultiCropConfig, width: number, height: number, rng: Rng): ViewPlan[] {
  const plans: ViewPlan[] = [];
  for (let g = 0; g < cfg.nGlobal; g++) plans.push(planOne(cfg, 'global', g, width, height, rng));
  for (let l = 0; l < cfg.nLocal; l++) plans.push(planOne(cfg, 'local', l, width, height, rng));
  return plans;
}
