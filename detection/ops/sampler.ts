import type { Rng } from '../../src/core/rng';

/**
 * detectron2's subsample_labels: picks at most `batchSizePerImage * positiveFraction` positives
 * (labels >= 1) and fills the rest of `batchSizePerImage` with negatives (label 0); -1 is
 * ignored. Each subset is drawn uniformly without replacement by a partial Fisher-Yates shuffle
 * driven by `rng`, so the draw is reproducible from the Rng state. Indices come back ascending.
 */
export function sampleBalanced(
  labels: Int8Array,
  batchSizePerImage: number,
  positiveFraction: number,
  rng: Rng,
): { positive: Int32Array; negative: Int32Array } {
  if (!(Number.isInteger(batchSizePerImage) && batchSizePerImage >= 0)) {
    throw new Error(`sampleBalanced: batchSizePerImage must be a non-negative integer, got ${batchSizePerImage}`);
  }
  if (!(positiveFraction >= 0 && positiveFraction <= 1)) {
    throw new Error(`sampleBalanced: positiveFraction must be in [0, 1], got ${positiveFraction}`);
  }
  const pos: number[] = [];
  const neg: number[] = [];
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] >= 1) pos.push(i);
    else if (labels[i] === 0) neg.push(i);
  }
  const numPos = Math.min(Math.floor(batchSizePerImage * positiveFraction), pos.length);
  const numNeg = Math.min(batchSizePerImage - numPos, neg.length);
  return { positive: pick(Int32Array.from(pos), numPos, rng), negative: pick(Int32Array.from(neg), numNeg, rng) };
}

/** `k` distinct entries of `from` chosen uniformly (shuffles `from` in place), ascending. */
function pick(from: Int32Array, k: number, rng: Rng): Int32Array {
  const n = from.length;
  if (k < n) {
    for (let i = 0; i < k; i++) {
      const j = i + Math.floor(rng.uniform() * (n - i));
      const t = from[i];
      from[i] = from[j];
      from[j] = t;
    }
  }
  return from.slice(0, k).sort();
}
