import * as tf from '@tensorflow/tfjs-core';

/** Activations used by the backbones and heads. Stateless, so plain functions, not modules. */

export function relu<T extends tf.Tensor>(x: T): T {
  return tf.relu(x);
}

/** min(max(x, 0), 6), as torch.nn.ReLU6 (MobileNetV2). */
export function relu6<T extends tf.Tensor>(x: T): T {
  return tf.relu6(x);
}

/** Exact GELU, 0.5 x (1 + erf(x / sqrt 2)): torch.nn.GELU's default (approximate='none'). */
export function gelu<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)) as T);
}
