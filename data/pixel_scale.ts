import type { ImageViews } from '../src/core/interfaces';

type Scales = Pick<ImageViews, 'globalPixelScales' | 'localPixelScales'>;

/**
 * The batch statistic mean(PS_g / PS_l): every global view paired with every local view of the
 * same image, averaged over all such pairs of all images. NaN when there are no pairs.
 */
export function meanPsRatio(batch: readonly Scales[]): number {
  let sum = 0;
  let pairs = 0;
  for (const v of batch) {
    let inv = 0; // sum over locals of 1 / PS_l, so each image costs Ng + Nl divisions
    for (const l of v.localPixelScales) inv += 1 / l;
    for (const g of v.globalPixelScales) sum += g * inv;
    pairs += v.globalPixelScales.length * v.localPixelScales.length;
  }
  return pairs === 0 ? NaN : sum / pairs;
}

/** Mean pixel scale of one kind of view over a batch (NaN when empty). */
export function meanPixelScale(batch: readonly Scales[], kind: 'global' | 'local'): number {
  let sum = 0;
  let n = 0;
  for (const v of batch) {
    const ps = kind === 'global' ? v.globalPixelScales : v.localPixelScales;
    for (const p of ps) sum += p;
    n += ps.length;
  }
  return n === 0 ? NaN : sum / n;
}
