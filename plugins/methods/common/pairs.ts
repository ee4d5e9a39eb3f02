import * as tf from '@tensorflow/tfjs-core';

/**
 * The paper's view-pair weighting, one function for every method. A method compares some
 * "target" views (DINO: the teacher's global views; SwAV: crops_for_assign; MoCo and BYOL: the
 * views whose target-network outputs are the targets) with every other view; pair losses form a
 * [targets, nViews] matrix, rows in `targets` order, columns view-major (globals first).
 *   eq. 2 (alpha null): every pair (t, v != t) weighted 1 / (P_gg + P_gl);
 *   eq. 3 (alpha):      global-global pairs alpha / P_gg, global-local pairs (1 - alpha) / P_gl.
 * P_gg = |targets| (N_g - 1) and P_gl = |targets| N_l (targets are global views).
 */

/** Every global view: DINO's and BYOL's targets. */
export function allGlobals(nGlobal: number): number[] {
  return Array.from({ length: nGlobal }, (_, i) => i);
}

/** Pair counts of eq. 2 / 3. */
export function pairCounts(nGlobal: number, nLocal: number, targets: number[] = allGlobals(nGlobal)): { pgg: number; pgl: number } {
  return { pgg: targets.length * (nGlobal - 1), pgl: targets.length * nLocal };
}

/** The alpha of eq. 3 that reproduces eq. 2: P_gg / (P_gg + P_gl) (1/7 for 2 + 6 crops). */
export function equivalentAlpha(nGlobal: number, nLocal: number, targets?: number[]): number {
  const { pgg, pgl } = pairCounts(nGlobal, nLocal, targets);
  return pgg / (pgg + pgl);
}

/**
 * The [targets.length, nGlobal + nLocal] pair weights (row-major). Same-view pairs get 0. When a
 * block is empty (one global view, or no local views) the other block takes the whole weight, so
 * the loss stays an average of pair losses.
 */
export function pairWeights(
  nGlobal: number,
  nLocal: number,
  alpha: number | null,
  targets: number[] = allGlobals(nGlobal),
): Float32Array {
  if (!(Number.isInteger(nGlobal) && nGlobal >= 1 && Number.isInteger(nLocal) && nLocal >= 0)) {
    throw new RangeError(`pair weights: need >= 1 global view and >= 0 local views, got ${nGlobal} + ${nLocal}`);
  }
  if (targets.length === 0) throw new RangeError('pair weights: the list of target views is empty');
  const seen = new Set<number>();
  for (const t of targets) {
    if (!(Number.isInteger(t) && t >= 0 && t < nGlobal)) {
      throw new RangeError(`pair weights: target views must be global views (0..${nGlobal - 1}), got ${t}`);
    }
    if (seen.has(t)) throw new RangeError(`pair weights: target view ${t} appears twice`);
    seen.add(t);
  }
  if (alpha !== null && !(alpha >= 0 && alpha <= 1)) throw new RangeError(`pair weights: alpha must be in [0, 1], got ${alpha}`);
  const { pgg, pgl } = pairCounts(nGlobal, nLocal, targets);
  if (pgg + pgl === 0) throw new RangeError('pair weights: one global view and no local views leave no pair to compare');
  let wgg: number;
  let wgl: number;
  if (alpha === null || pgg === 0 || pgl === 0) {
    wgg = pgg > 0 ? 1 / (pgg + pgl) : 0;
    wgl = pgl > 0 ? 1 / (pgg + pgl) : 0;
  } else {
    wgg = alpha / pgg;
    wgl = (1 - alpha) / pgl;
  }
  const nViews = nGlobal + nLocal;
  const w = new Float32Array(targets.length * nViews);
  targets.forEach((t, i) => {
    for (let v = 0; v < nViews; v++) w[i * nViews + v] = v === t ? 0 : v < nGlobal ? wgg : wgl;
  });
  return w;
}

/** sum(pairLoss * weights): the loss of eq. 2 / eq. 3 from a [targets, nViews] pair-loss matrix. */
export function weightedPairLoss(pairLoss: tf.Tensor2D, weights: Float32Array): tf.Scalar {
  return tf.tidy(() => tf.sum(tf.mul(pairLoss, tf.tensor2d(weights, pairLoss.shape))) as tf.Scalar);
}

/**
 * [mean over global-global pairs, mean over global-local pairs] of a pair-loss matrix: the
 * `loss_gg` / `loss_gl` metrics of every method (0 for an empty block).
 */
export function pairBlockMeans(pairLoss: tf.Tensor2D, nGlobal: number, targets: number[] = allGlobals(nGlobal)): tf.Tensor1D {
  const [rows, nViews] = pairLoss.shape;
  if (rows !== targets.length) throw new Error(`pairBlockMeans: ${rows} pair-loss rows for ${targets.length} target views`);
  return tf.tidy(() => {
    const pl = tf.reshape(pairLoss, [rows * nViews]);
    const block = (gg: boolean) => {
      const m = new Float32Array(rows * nViews);
      targets.forEach((t, i) => {
        for (let v = 0; v < nViews; v++) if (v !== t && v < nGlobal === gg) m[i * nViews + v] = 1;
      });
      const n = m.reduce((a, x) => a + x, 0);
      return n > 0 ? tf.div(tf.sum(tf.mul(pl, tf.tensor1d(m))), n) : tf.scalar(0);
    };
    return tf.stack([block(true), block(false)]) as tf.Tensor1D;
  });
}
