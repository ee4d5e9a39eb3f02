import * as tf from '@tensorflow/tfjs-core';
import { meanOverHW } from './reduce';

/** Global average pooling, NHWC [B, H, W, C] -> [B, C] (adaptive_avg_pool2d(1) + flatten). */
export function globalAvgPool(x: tf.Tensor4D): tf.Tensor2D {
  return meanOverHW(x);
}

/**
 * torch.nn.MaxPool2d(kernel, stride, padding) with ceil_mode=False: padded positions never win
 * (tfjs skips them, like torch's -inf padding); output floor((H + 2p - k) / s) + 1.
 */
export function maxPool2d(x: tf.Tensor4D, kernel: number, stride: number, padding = 0): tf.Tensor4D {
  return tf.maxPool(x, kernel, stride, padding === 0 ? 'valid' : padding);
}
