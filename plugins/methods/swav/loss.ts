import * as tf from '@tensorflow/tfjs-core';
import { noGrad } from '../../../src/kernels/no_grad';
import { pairWeights, weightedPairLoss } from '../common/pairs';
import { sinkhorn } from './sinkhorn';

/**
 * SwAV's swapped-prediction loss over multi-crop views, with the paper's eq. 2 / eq. 3 weighting.
 * A pure function of the prototype scores (and, optionally, the queue's scores).
 *
 * For every crop c in crops_for_assign (global views), the codes q_c = sinkhorn(scores_c) are
 * computed off the gradient tape (SwAV's torch.no_grad), and every other view v predicts them:
 *   pair_loss[c][v] = -mean_b sum_k q_c[b, k] * log_softmax(scores_v / T)[b, k],  v != c.
 * alpha null: SwAV's mean over c of the mean over v != c, i.e. every pair weighted
 * 1 / (P_gg + P_gl) (eq. 2). alpha a number: alpha * L_g / P_gg + (1 - alpha) * L_l / P_gl
 * (eq. 3), L_g summing the pairs with v global, L_l those with v local (common/pairs.ts, with
 * crops_for_assign as the target views).
 */

export interface SwavLossOptions {
  nGlobal: number;
  nLocal: number;
  /** Views whose codes are computed (SwAV crops_for_assign, default [0, 1]); global views only. */
  cropsForAssign?: number[];
  /** Softmax temperature of the predictions (SwAV 0.1). */
  temperature?: number;
  /** Sinkhorn epsilon (0.05) and iterations (3). */
  epsilon?: number;
  sinkhornIterations?: number;
  /** null: eq. 2 (SwAV's uniform average); a number in [0, 1]: eq. 3. */
  alpha: number | null;
  /**
   * Per assigned crop, scores of queued embeddings [L, K] prepended before Sinkhorn (SwAV's
   * queue); only the batch's rows of the codes are used. null / absent: no queue.
   */
  queueScores?: Array<tf.Tensor2D | null> | null;
  /**
   * Scores [nAssign * B, K] the codes are computed from, crop-major (a target network's); null /
   * absent: the assigned crops' rows of `scores` (SwAV).
   */
  codeScores?: tf.Tensor2D | null;
}

// A type alias so results pass to tf.tidy / tf.dispose as a TensorContainer.
export type SwavLossResult = {
  loss: tf.Scalar;
  /** [nAssign, nViews] pair losses; entries (c, c) are computed but weighted 0. */
  pairLoss: tf.Tensor2D;
  /** [nAssign * B, K] codes of the assigned crops, crop-major (no gradient). */
  codes: tf.Tensor2D;
};

/**
 * The loss of one batch. `scores` [nViews * B, K] are cosine scores normalize(z) @ normalize(C)^T,
 * view-major (rows [v*B, (v+1)*B) are view v, globals first), as SwAV's MultiCropWrapper gives.
 */
export function swavLoss(scores: tf.Tensor2D, opts: SwavLossOptions): SwavLossResult {
  const { nGlobal, nLocal, cropsForAssign = [0, 1], temperature = 0.1, epsilon = 0.05, sinkhornIterations = 3, alpha } = opts;
  const nViews = nGlobal + nLocal;
  const [rows, k] = scores.shape;
  const b = rows / nViews;
  if (scores.rank !== 2 || !Number.isInteger(b) || b < 1) {
    throw new Error(`SwAV loss: expected scores [${nViews}*B, K] for ${nGlobal} + ${nLocal} views, got [${scores.shape}]`);
  }
  if (!(temperature > 0)) throw new RangeError(`SwAV loss: temperature must be > 0, got ${temperature}`);
  const weights = pairWeights(nGlobal, nLocal, alpha, cropsForAssign);
  const queue = opts.queueScores ?? null;
  if (queue && queue.length !== cropsForAssign.length) {
    throw new Error(`SwAV loss: ${queue.length} queue score blocks for ${cropsForAssign.length} assigned crops`);
  }
  const nA = cropsForAssign.length;
  const codeScores = opts.codeScores ?? null;
  if (codeScores && (codeScores.rank !== 2 || codeScores.shape[0] !== nA * b || codeScores.shape[1] !== k)) {
    throw new Error(`SwAV loss: code scores must be [${nA}*${b}, ${k}], got [${codeScores.shape}]`);
  }
  return tf.tidy(() => {
    // Codes off the tape (torch.no_grad): constants to the backward pass, and Sinkhorn's
    // intermediates are freed at once instead of being held for it.
    const codes = noGrad(() =>
      tf.tidy(() => {
        const per = cropsForAssign.map((c, i) => {
          const own = codeScores ? tf.slice(codeScores, [i * b, 0], [b, k]) : tf.slice(scores, [c * b, 0], [b, k]);
          const q = queue?.[i];
          if (!q) return sinkhorn(own, { epsilon, iterations: sinkhornIterations });
          if (q.rank !== 2 || q.shape[1] !== k) throw new Error(`SwAV loss: queue scores must be [L, ${k}], got [${q.shape}]`);
          const all = sinkhorn(tf.concat([q, own], 0), { epsilon, iterations: sinkhornIterations });
          return tf.slice(all, [q.shape[0], 0], [b, k]);
        });
        return (per.length === 1 ? per[0] : tf.concat(per, 0)) as tf.Tensor2D;
      }),
    );
    const logp = tf.logSoftmax(tf.div(scores, temperature));
    // Every (assigned crop, view) pair as one matrix product over (batch, prototype).
    const q = tf.reshape(codes, [nA, b * k]);
    const s = tf.reshape(logp, [nViews, b * k]);
    const pairLoss = tf.mul(tf.matMul(q, s, false, true), -1 / b) as tf.Tensor2D;
    const loss = weightedPairLoss(pairLoss, weights);
    return { loss, pairLoss, codes };
  });
}
