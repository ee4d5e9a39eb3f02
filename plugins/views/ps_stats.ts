import type { Rng } from '../../src/core/rng';
import type { ViewPlan } from './plan';

/** Anything that can plan views without rendering them (MultiCropSampler does). */
export interface ViewPlanner {
  readonly localSize: number;
  plan(width: number, height: number, rng: Rng): ViewPlan[];
}

export interface PixelScaleStats {
  /** E[PS_g / PS_l] over global-local pairs of the same image (the paper's knob 2). */
  meanOfRatio: number;
  /** Standard error of meanOfRatio, from the spread of per-image means. */
  stderr: number;
  meanGlobal: number;
  meanLocal: number;
  /** The local size that would bring meanOfRatio to 1: PS_l scales with LC^2. */
  balancedLocalSize: number;
}

/**
 * Monte Carlo pixel-scale statistics of a sampler's crops on a width x height image (only the
 * crop boxes are drawn, no pixels), e.g. to pick LC for new crop scales or image sizes.
 */
export function pixelScaleStats(planner: ViewPlanner, width: number, height: number, draws: number, rng: Rng): PixelScaleStats {
  let sum = 0, sumSq = 0, g = 0, l = 0, ng = 0, nl = 0;
  for (let i = 0; i < draws; i++) {
    let inv = 0, gs = 0, gc = 0, lc = 0;
    for (const p of planner.plan(width, height, rng)) {
      if (p.kind === 'global') {
        gs += p.pixelScale;
        gc++;
      } else {
        inv += 1 / p.pixelScale;
        l += p.pixelScale;
        lc++;
      }
    }
    g += gs;
    ng += gc;
    nl += lc;
    const perImage = (gs * inv) / (gc * lc);
    sum += perImage;
    sumSq += perImage * perImage;
  }
  const meanOfRatio = sum / draws;
  const variance = Math.max(0, (sumSq - draws * meanOfRatio * meanOfRatio) / (draws - 1));
  return {
    meanOfRatio,
    stderr: Math.sqrt(variance / draws),
    meanGlobal: g / ng,
    meanLocal: l / nl,
    balancedLocalSize: planner.localSize * Math.sqrt(meanOfRatio),
  };
}
