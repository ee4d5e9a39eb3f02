'use strict';
// BYOL's regression loss over SSLight's multi-crop views, built from sslight's loss blocks.
const { tf, l2Normalize, pairWeights, weightedPairLoss } = require('sslight');

/**
 * Pair losses [nGlobal, nViews]: entry (i, v) is the batch mean of BYOL's normalised MSE
 *   || p_v / |p_v| - z_i / |z_i| ||^2 = 2 - 2 cos(p_v, z_i)
 * between the online prediction of view v and the target projection of global view i.
 * `predictions` [nViews * B, D] and `targets` [nGlobal * B, D] are view-major (globals first).
 */
function byolPairLoss(predictions, targets, nGlobal) {
  const [rows, d] = targets.shape;
  const b = rows / nGlobal;
  const nViews = predictions.shape[0] / b;
  if (!Number.isInteger(b) || b < 1 || !Number.isInteger(nViews) || predictions.shape[1] !== d) {
    throw new Error(`byol loss: expected predictions [nViews*B, D] and targets [${nGlobal}*B, D], got [${predictions.shape}] and [${targets.shape}]`);
  }
  return tf.tidy(() => {
    const p = tf.reshape(l2Normalize(predictions), [nViews, b * d]);
    const z = tf.reshape(l2Normalize(targets), [nGlobal, b * d]);
    // Every (target view, view) pair's summed cosine as one matrix product over (batch, dim).
    const meanCos = tf.div(tf.matMul(z, p, false, true), b);
    return tf.sub(2, tf.mul(meanCos, 2));
  });
}

/**
 * The symmetric BYOL loss over multi-crop views: every global view's target against every other
 * view's prediction, pairs weighted by eq. 2 (alpha null) or eq. 3 (alpha). With two global
 * views and no local ones this is BYOL's symmetrised loss, averaged over its two terms.
 */
function byolLoss(predictions, targets, { nGlobal, nLocal, alpha }) {
  return tf.tidy(() => {
    const pairLoss = byolPairLoss(predictions, targets, nGlobal);
    return { loss: weightedPairLoss(pairLoss, pairWeights(nGlobal, nLocal, alpha)), pairLoss };
  });
}

module.exports = { byolPairLoss, byolLoss };
