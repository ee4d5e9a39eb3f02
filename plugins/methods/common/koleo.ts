import * as tf from '@tensorflow/tfjs-core';
import { noGrad } from '../../../src/kernels/no_grad';
import { l2Normalize } from './normalize';

/**
 * The KoLeo regulariser (Sablayrolles et al., "Spreading vectors for similarity search"; DINOv2's
 * `koleo_loss`): -mean_i log(||x_i - x_nn(i)|| + eps) over the L2-normalised rows of `x` [B, D],
 * nn(i) the nearest other row by cosine. It grows without bound as two rows meet, so it pushes a
 * batch's embeddings apart where a method lets them gather in one direction.
 * As DINOv2: the distance is torch's PairwiseDistance, ||x_i - x_nn + eps|| (eps added to every
 * component), and the neighbour index carries no gradient.
 */
export function koleoLoss(x: tf.Tensor2D, eps = 1e-8): tf.Scalar {
  const n = x.shape[0];
  if (n < 2) throw new Error(`KoLeo: needs at least 2 rows, got [${x.shape}]`);
  return tf.tidy(() => {
    const u = l2Normalize(x, eps);
    // Nearest other row: the diagonal (cosine 1) is pushed to -1, below every other cosine.
    // As a one-hot selection matrix: gather's gradient (UnsortedSegmentSum) has no wasm kernel.
    const pick = noGrad(() =>
      tf.tidy(() => tf.cast(tf.oneHot(tf.argMax(tf.sub(tf.matMul(u, u, false, true), tf.mul(tf.eye(n), 2)), 1) as tf.Tensor1D, n), 'float32')),
    );
    const diff = tf.add(tf.sub(u, tf.matMul(pick, u)), eps);
    const dist = tf.sqrt(tf.sum(tf.square(diff), 1));
    return tf.neg(tf.mean(tf.log(tf.add(dist, eps)))) as tf.Scalar;
  });
}

/**
 * The KoLeo of each of the first `nViews` blocks of `b` rows of the view-major `x` [>= nViews * b, D],
 * summed, as DINOv2 sums it over the global crops: each view's batch is spread on its own.
 */
export function viewsKoleoLoss(x: tf.Tensor2D, nViews: number, b: number): tf.Scalar {
  return tf.tidy(() => tf.addN(Array.from({ length: nViews }, (_, v) => koleoLoss(tf.slice(x, [v * b, 0], [b, x.shape[1]])))) as tf.Scalar);
}
