import * as tf from '@tensorflow/tfjs-core';

/**
 * Euclidean norm along `axis`, kept as a size-1 axis: sqrt(sum(x^2)). tf.norm computes the same
 * through Pow(Abs(x), 2), whose forward and gradient are scalar pow() loops on wasm (~10 ns per
 * element: 240 ms of a 1.4 s DINO step went there, most of it in LARS).
 */
export function normAlong(x: tf.Tensor, axis: number): tf.Tensor {
  return tf.sqrt(tf.sum(tf.square(x), axis, true));
}

/** F.normalize(x, dim=-1, p=2): x / max(||x||, 1e-12). */
export function l2Normalize(x: tf.Tensor2D, eps = 1e-12): tf.Tensor2D {
  return tf.tidy(() => tf.div(x, tf.maximum(normAlong(x, -1), eps)) as tf.Tensor2D);
}

/** Identity forward, zero gradient (torch's .detach()). */
const detach = tf.customGrad((...inputs: Array<tf.Tensor | tf.GradSaveFunc>) => ({
  value: tf.clone(inputs[0] as tf.Tensor),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
}));

/** torch's `.detach()` inside a taped computation: the value passes, no gradient flows back. */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  return detach(x) as T;
}
