import * as tf from '@tensorflow/tfjs-core';
import { nativeKernels } from '../native';
import { gemmNative, matMul2D } from './matmul2d';
import type { Scratch } from './scratch';

/**
 * Rows per chunk of the contraction. XNNPACK's GEMM needs its right operand packed (a strided
 * pass per 8 columns) and its left operand transposed here; over the whole contraction both
 * passes fall out of cache, and with a power-of-two row count the transposes' writes alias in
 * the cache. 2000-row chunks (not a power of two) keep every pass in cache: measured 5-9x faster
 * for 32768 x 16 x 96 (the expand layer's weight gradient at 64x64, batch 32).
 */
const CHUNK_ROWS = 2000;

/**
 * a^T @ b for a [P, M], b [P, N] (a contraction over the long axis P, as in weight gradients):
 * per chunk of rows, one operand is transposed and the other packed (by estimated cost), and the
 * partial [M, N] products are summed.
 */
export function matMulTN(s: Scratch, a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo {
  const [p, m] = a.shape;
  const [p2, n] = b.shape;
  if (p !== p2) throw new Error(`matMulTN: row counts differ (${a.shape} vs ${b.shape})`);
  if (nativeKernels()) return gemmNative(s, a, true, b, false);
  let rows = Math.min(p, CHUNK_ROWS);
  if (rows === p && p >= 512 && (p & (p - 1)) === 0) rows = p - 8; // break the power-of-two stride
  // Which operand to transpose per chunk (the other is packed by XNNPACK). Measured costs per
  // element: ~2.3 ns to transpose a cached chunk, ~6 ns to pack one, ~5 ns for an uncached 2-D
  // transpose of the [N, M] result, which orientation 2 needs at the end.
  const transposeA = 2.3 * p * m + 6 * p * n;
  const transposeB = 2.3 * p * n + 6 * p * m + 5 * m * n;
  const transA = transposeA <= transposeB;
  let acc: tf.TensorInfo | null = null;
  for (let r0 = 0; r0 < p; r0 += rows) {
    const r = Math.min(rows, p - r0);
    const ac = s.alias(a, r0 * m, [r, m]);
    const bc = s.alias(b, r0 * n, [r, n]);
    // [M, N] directly when a is transposed, else [N, M], transposed at the end.
    const part = transA ? matMul2D(s, s.transpose(ac, [1, 0]), bc) : matMul2D(s, s.transpose(bc, [1, 0]), ac);
    if (acc === null) {
      acc = part;
    } else {
      const sum = s.run('Add', { a: acc, b: part });
      s.free(acc);
      s.free(part);
      acc = sum;
    }
  }
  if (acc === null) throw new Error('matMulTN: empty contraction');
  return transA ? acc : s.transpose(acc, [1, 0]);
}
