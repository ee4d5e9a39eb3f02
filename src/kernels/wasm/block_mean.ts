import * as tf from '@tensorflow/tfjs-core';
import type { Scratch } from './scratch';

/**
 * Mean over the middle axis of `x` viewed as [outer, m, inner], returned as [outer, inner].
 * It is XNNPACK average pooling with an [m, 1] window over [outer, m, 1, inner]: the pooling
 * ukernels are vectorised along `inner` (channels) and stream the data once, while the shipped
 * Sum/Mean transpose the reduced axes innermost first (a full copy) and reduce with scalar loops.
 */
export function blockMean(s: Scratch, x: tf.TensorInfo, outer: number, m: number, inner: number): tf.TensorInfo {
  if (m === 1) return s.reshape(x, [outer, inner]);
  const pooled = s.run(
    'AvgPool',
    { x: s.reshape(x, [outer, m, 1, inner]) },
    { filterSize: [m, 1], strides: [m, 1], pad: 'valid' },
  );
  return s.reshape(pooled, [outer, inner]);
}
