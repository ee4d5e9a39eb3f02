import * as tf from '@tensorflow/tfjs-core';
import { meanOverLeading } from '../../../src/nn/reduce';
import { stopGradient } from '../common/normalize';
import { pairWeights, weightedPairLoss } from '../common/pairs';

/**
 * The DINO cross-entropy between the centred, sharpened teacher softmax (global views) and the
 * student log-softmax (all views), with the paper's eq. 2 / eq. 3 weighting (common/pairs.ts).
 * A pure function: schedules (teacher temperature) and state (center) come in as arguments.
 */

export interface DinoLossOptions {
  nGlobal: number;
  nLocal: number;
  /** Teacher temperature at this epoch (schedule lives outside the loss). */
  teacherTemp: number;
  /** Student temperature, DINO default 0.1. */
  studentTemp: number;
  /**
   * null: eq. 2, every (teacher i, student v != i) pair weighted 1 / (P_gg + P_gl).
   * number: eq. 3, global-global pairs alpha / P_gg, global-local pairs (1 - alpha) / P_gl.
   */
  alpha: number | null;
}

// A type alias (not an interface) so results pass to tf.tidy / tf.dispose as a TensorContainer.
export type DinoLossResult = {
  loss: tf.Scalar;
  /** [nGlobal, nViews]: mean over the batch of sum_k -t_i * log s_v; the diagonal is unused. */
  pairLoss: tf.Tensor2D;
  /** [nGlobal * B, K] teacher probabilities (no gradient flows to the teacher). */
  teacherProbs: tf.Tensor2D;
  /** [1, K] mean of the raw teacher outputs, for the center EMA. */
  batchCenter: tf.Tensor2D;
};

/** softmax((teacherOutput - center) / temp), detached. */
export function teacherProbabilities(teacherOutput: tf.Tensor2D, center: tf.Tensor, teacherTemp: number): tf.Tensor2D {
  return tf.tidy(() => stopGradient(tf.softmax(tf.div(tf.sub(teacherOutput, center), teacherTemp)) as tf.Tensor2D));
}

/**
 * The loss of one batch. Rows are view-major (torch.chunk order): student rows [v*B, (v+1)*B)
 * are view v (globals first), teacher rows [i*B, (i+1)*B) are global view i, the same image
 * view as student view i.
 */
export function dinoLoss(
  studentOutput: tf.Tensor2D,
  teacherOutput: tf.Tensor2D,
  center: tf.Tensor,
  opts: DinoLossOptions,
): DinoLossResult {
  const { nGlobal, nLocal, teacherTemp, studentTemp, alpha } = opts;
  const nViews = nGlobal + nLocal;
  const [tRows, k] = teacherOutput.shape;
  const [sRows, ks] = studentOutput.shape;
  const b = tRows / nGlobal;
  if (!Number.isInteger(b) || b < 1 || sRows !== b * nViews || ks !== k) {
    throw new Error(
      `DINO loss: expected teacher [${nGlobal}*B, K] and student [${nViews}*B, K]; got teacher [${teacherOutput.shape}], student [${studentOutput.shape}]`,
    );
  }
  const weights = pairWeights(nGlobal, nLocal, alpha);
  return tf.tidy(() => {
    const teacherProbs = teacherProbabilities(teacherOutput, center, teacherTemp);
    const studentLogp = tf.logSoftmax(tf.div(studentOutput, studentTemp));
    // All teacher x student view pairs as one matrix product over (batch, class).
    const t = tf.reshape(teacherProbs, [nGlobal, b * k]);
    const s = tf.reshape(studentLogp, [nViews, b * k]);
    const pairLoss = tf.mul(tf.matMul(t, s, false, true), -1 / b) as tf.Tensor2D;
    const loss = weightedPairLoss(pairLoss, weights);
    // Mean over rows via avgPool (fast on wasm); the center takes no gradient.
    const batchCenter = tf.reshape(meanOverLeading(stopGradient(teacherOutput)), [1, k]) as tf.Tensor2D;
    return { loss, pairLoss, teacherProbs, batchCenter };
  });
}

/** center * m + batchCenter * (1 - m). */
export function updateCenter(center: tf.Tensor, batchCenter: tf.Tensor, momentum: number): tf.Tensor2D {
  return tf.tidy(() => tf.add(tf.mul(center, momentum), tf.mul(batchCenter, 1 - momentum)) as tf.Tensor2D);
}

/**
 * Cheap collapse indicators from the teacher probabilities, as a [2] tensor:
 * [0] mean per-sample entropy (-> ln K when the teacher is uniform: collapse by flatness),
 * [1] entropy of the batch-mean distribution (-> 0 when every sample picks the same dim).
 */
export function teacherEntropies(teacherProbs: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const ent = (p: tf.Tensor) => tf.neg(tf.sum(tf.mul(p, tf.log(tf.maximum(p, 1e-30))), -1));
    const perSample = tf.mean(ent(teacherProbs));
    const ofMean = ent(tf.mean(teacherProbs, 0));
    return tf.stack([perSample, ofMean]) as tf.Tensor1D;
  });
}
