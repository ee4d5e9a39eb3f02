import * as tf from '@tensorflow/tfjs-core';

/**
 * Means over many rows written as one avgPool: Sum/Mean over leading axes is ~25x slower on wasm
 * than AvgPool (docs/tfjs-cpu-notes.md §3). Their gradients are written out: tfjs's AvgPoolGrad
 * loops over the whole window for every input element, O(M^2) for an M-row window, whereas the
 * gradient of a mean is dy / M broadcast back (one Tile).
 */

/** Mean over all leading axes, keeping the last: x [..., C] -> [C]. */
export function meanOverLeading(x: tf.Tensor): tf.Tensor1D {
  const c = x.shape[x.rank - 1];
  const m = x.size / c;
  const shape = x.shape;
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0] as tf.Tensor;
    const value = tf.reshape(tf.avgPool(tf.reshape(input, [1, m, 1, c]) as tf.Tensor4D, [m, 1], 1, 'valid'), [c]);
    return { value, gradFunc: (dy: tf.Tensor) => tf.broadcastTo(tf.div(dy, m), shape) };
  });
  return op(x) as tf.Tensor1D;
}

/** Spatial mean of NHWC maps, [B, H, W, C] -> [B, C] (global average pooling). */
export function meanOverHW(x: tf.Tensor4D): tf.Tensor2D {
  const [b, h, w, c] = x.shape;
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0] as tf.Tensor4D;
    const value = tf.reshape(tf.avgPool(input, [h, w], 1, 'valid'), [b, c]);
    return { value, gradFunc: (dy: tf.Tensor) => tf.broadcastTo(tf.reshape(tf.div(dy, h * w), [b, 1, 1, c]), [b, h, w, c]) };
  });
  return op(x) as tf.Tensor2D;
}
