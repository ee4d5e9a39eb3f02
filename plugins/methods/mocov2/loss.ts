import * as tf from '@tensorflow/tfjs-core';
import { noGrad } from '../../../src/kernels/no_grad';
import { l2Normalize, stopGradient } from '../common/normalize';
import { equivalentAlpha, pairWeights, weightedPairLoss } from '../common/pairs';

/**
 * MoCo-v2's InfoNCE against a key queue, in SSLight's multi-crop form, with the paper's eq. 2 /
 * eq. 3 weighting. A pure function: the queue and temperature come in as arguments.
 *
 * Views: global view 0 goes through the key (momentum) encoder and gives the positive key of
 * each image; every other view (global views 1.., then the local views) goes through the query
 * encoder and is matched to that key. Per query row:
 *   logits = [q . k, q @ queue] / T,   CE = logsumexp(logits) - logits[0]   (label 0).
 * Query rows are view-major chunks of B rows: chunks [0, nGlobalQueries) are global queries,
 * the rest local. The loss is a weighted sum of the chunk means (see `chunkWeights`).
 */

export interface MocoLossOptions {
  /** Softmax temperature T (MoCo-v2: 0.2). */
  temperature: number;
  /** Query chunks from global views (N_g - 1: 1 with two global views). */
  nGlobalQueries: number;
  /** Query chunks from local views (0 in two-view MoCo-v2). */
  nLocal: number;
  /**
   * null: eq. 2 analogue, every query row weighted alike (mean over all rows).
   * number: eq. 3, alpha * (mean CE of the global queries) + (1 - alpha) * (mean CE of the local
   * queries), as SSLight's MOCOLoss with LAMBDAS = [alpha, 1 - alpha].
   */
  alpha: number | null;
}

// A type alias (not an interface) so results pass to tf.tidy / tf.dispose as a TensorContainer.
export type MocoLossResult = {
  loss: tf.Scalar;
  /** [N] q . k / T (the positive logit of each query row). */
  posLogits: tf.Tensor1D;
  /** [N, K] q @ queue / T (the negative logits). */
  negLogits: tf.Tensor2D;
  /** [N] cross-entropy of each query row. */
  perRowCe: tf.Tensor1D;
  /** [nGlobalQueries + nLocal] mean CE of each query chunk (global chunks first). */
  chunkLoss: tf.Tensor1D;
  /** [N] 1 where the positive logit beats every negative (MoCo's instance-discrimination acc@1). */
  correct: tf.Tensor1D;
  /** [B, dim] the normalised keys, detached: what goes into the queue after the step. */
  keys: tf.Tensor2D;
};

/** The alpha of eq. 3 that reproduces eq. 2: nGlobalQueries / (nGlobalQueries + nLocal) (1/7 for 2 + 6 crops). */
export function uniformAlpha(nGlobalQueries: number, nLocal: number): number {
  return equivalentAlpha(nGlobalQueries + 1, nLocal, [0]);
}

/**
 * Weight of each query chunk's mean CE: the key view (global view 0) is the one target view of
 * common/pairs.ts and the query chunks are its pairs, so this is row 0 of pairWeights without
 * the (0, 0) entry. Uniform (alpha null): 1 / nChunks each; alpha: the global chunks share
 * alpha, the local chunks 1 - alpha; with one side empty the other takes the whole weight.
 */
export function chunkWeights(nGlobalQueries: number, nLocal: number, alpha: number | null): Float32Array {
  if (!(Number.isInteger(nGlobalQueries) && nGlobalQueries >= 1)) {
    throw new RangeError(`MoCo loss: need >= 1 global query view, got ${nGlobalQueries}`);
  }
  return pairWeights(nGlobalQueries + 1, nLocal, alpha, [0]).slice(1);
}

/**
 * queriesRaw: [(nGlobalQueries + nLocal) * B, dim] query-encoder outputs (not normalised);
 * keysRaw: [B, dim] key-encoder outputs of global view 0 (not normalised; no gradient flows to
 * them); queue: [dim, K] normalised keys (no gradient).
 */
export function mocoLoss(queriesRaw: tf.Tensor2D, keysRaw: tf.Tensor2D, queue: tf.Tensor2D, opts: MocoLossOptions): MocoLossResult {
  const { temperature, nGlobalQueries, nLocal, alpha } = opts;
  const weights = chunkWeights(nGlobalQueries, nLocal, alpha);
  const nChunks = weights.length;
  const [b, dim] = keysRaw.shape;
  const [n, dq] = queriesRaw.shape;
  if (!(temperature > 0)) throw new RangeError(`MoCo loss: temperature must be > 0, got ${temperature}`);
  if (b < 1 || dq !== dim || n !== nChunks * b || queue.rank !== 2 || queue.shape[0] !== dim) {
    throw new Error(
      `MoCo loss: expected queries [${nChunks}*B, dim], keys [B, dim], queue [dim, K]; ` +
        `got queries [${queriesRaw.shape}], keys [${keysRaw.shape}], queue [${queue.shape}]`,
    );
  }
  return tf.tidy(() => {
    const q = l2Normalize(queriesRaw);
    const k = stopGradient(l2Normalize(keysRaw));
    const negatives = stopGradient(queue);
    // Positive: each chunk of B query rows against the same B keys.
    const pos = tf.reshape(tf.sum(tf.mul(tf.reshape(q, [nChunks, b, dim]), k), -1), [n, 1]);
    const posLogits = tf.div(pos, temperature) as tf.Tensor2D; // [N, 1]
    const negLogits = tf.div(tf.matMul(q, negatives), temperature) as tf.Tensor2D; // [N, K]
    // logsumexp over [pos, neg] without building the [N, 1 + K] concatenation. The shift m is a
    // constant to the gradient (logsumexp does not depend on it), so it is computed off the tape:
    // Max's gradient (an Equal mask over [N, K]) took ~1 s of a 1.3 s step on wasm at K = 65536.
    const negMax = noGrad(() => tf.max(negLogits, 1, true));
    const m = noGrad(() => tf.maximum(negMax, posLogits));
    const sumExp = tf.add(tf.exp(tf.sub(posLogits, m)), tf.sum(tf.exp(tf.sub(negLogits, m)), 1, true));
    const lse = tf.add(m, tf.log(sumExp));
    const perRowCe = tf.reshape(tf.sub(lse, posLogits), [n]) as tf.Tensor1D;
    const chunkLoss = tf.mean(tf.reshape(perRowCe, [nChunks, b]), 1) as tf.Tensor1D;
    const loss = weightedPairLoss(tf.reshape(chunkLoss, [1, nChunks]) as tf.Tensor2D, weights);
    const correct = tf.reshape(tf.cast(tf.greater(posLogits, negMax), 'float32'), [n]) as tf.Tensor1D;
    return { loss, posLogits: tf.reshape(posLogits, [n]) as tf.Tensor1D, negLogits, perRowCe, chunkLoss, correct, keys: k };
  });
}
