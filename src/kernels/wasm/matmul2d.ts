import * as tf from '@tensorflow/tfjs-core';
import type { Scratch } from './scratch';

type TensorInfo = tf.TensorInfo;

/**
 * a [M, K] @ b [K, N] on XNNPACK's fast path (batch 1, no transposes). XNNPACK caches the packed
 * right operand per tensor id for as long as that tensor lives; giving it a throw-away alias
 * id keeps it from pinning a packed copy of a long-lived activation.
 */
export function matMul2D(s: Scratch, a: TensorInfo, b: TensorInfo): TensorInfo {
  const [m, k] = a.shape;
  const [k2, n] = b.shape;
  if (k !== k2) throw new Error(`matMul2D: inner sizes differ (${a.shape} x ${b.shape})`);
  const a3 = s.reshape(a, [1, m, k]);
  const b3 = s.alias(b, 0, [1, k, n]);
  const out = s.run('BatchMatMul', { a: a3, b: b3 }, { transposeA: false, transposeB: false });
  return s.reshape(out, [m, n]);
}
