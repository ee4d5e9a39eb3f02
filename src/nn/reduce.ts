import * as tf from '@tensorflow/tfjs-core';

/**
 * Mean over all leading axes, keeping the last: x [..., C] -> [C].
 * Written as one avgPool over a [1, M, 1, C] view because Sum/Mean over leading axes is ~25x
 * slower on wasm than AvgPool (docs/tfjs-cpu-notes.md §3); on cpu it is exact as well.
 */
export function meanOverLeading(x: tf.Tensor): tf.Tensor1D {
  const c = x.shape[x.rank - 1];
  const m = x.size / c;
  return tf.tidy(() => tf.reshape(tf.avgPool(tf.reshape(x, [1, m, 1, c]) as tf.Tensor4D, [m, 1], 1, 'valid'), [c]));
}

/** Spatial mean of NHWC maps, [B, H, W, C] -> [B, C] (global average pooling, same trick). */
export function meanOverHW(x: tf.Tensor4D): tf.Tensor2D {
  const [b, h, w, c] = x.shape;
  return tf.tidy(() => tf.reshape(tf.avgPool(x, [h, w], 1, 'valid'), [b, c]));
}
