import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { nativeKernels } from '../native';
import { gemmNative, matMul2D } from './matmul2d';
import { matMulTN } from './matmul_tn';
import { baseKernel } from './originals';
import { requireInputs, Scratch, WasmKernelArgs, withScratch } from './scratch';

/**
 * BatchMatMul on XNNPACK's GEMM for the cases the shipped kernel sends to its scalar loops:
 * - transposed 2-D operands: transpose explicitly, choosing between op(A) @ op(B) and
 *   (op(B)^T @ op(A)^T)^T by which moves fewer elements (a 2-D transpose is a slow copy too);
 * - batched products (attention): one XNNPACK GEMM per batch entry on zero-copy views.
 * Plain 2-D products keep the shipped kernel (its packed-weight cache serves repeated weights).
 */
export const batchMatMulKernel: tf.KernelFunc = (args) => {
  const { a, b } = requireInputs(args as WasmKernelArgs, 'a', 'b');
  const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
  const batchA = tf.util.sizeFromShape(a.shape.slice(0, -2));
  const batchB = tf.util.sizeFromShape(b.shape.slice(0, -2));
  const [ra, ca] = a.shape.slice(-2);
  const [rb, cb] = b.shape.slice(-2);
  const m = transposeA ? ca : ra;
  const k = transposeA ? ra : ca;
  const n = transposeB ? rb : cb;
  // With the native GEMM, plain products go native too (no per-call packing of the right operand).
  const plain = batchA === 1 && batchB === 1 && !transposeA && !transposeB && !nativeKernels();
  const broadcastOk = batchA === batchB || batchA === 1 || batchB === 1;
  if (plain || a.dtype !== 'float32' || !broadcastOk || m * n * k === 0 || (transposeB ? cb : rb) !== k) {
    return baseKernel('BatchMatMul').kernelFunc(args);
  }
  const outShape = tf.broadcast_util
    .assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2))
    .concat([m, n]);
  return withScratch(args.backend as BackendWasm, (s) => {
    const batch = Math.max(batchA, batchB);
    if (batch === 1) return s.reshape(product2D(s, s.reshape(a, [ra, ca]), transposeA, s.reshape(b, [rb, cb]), transposeB), outShape);
    // Batched: bring both operands to the non-transposed layout once, then one GEMM per entry.
    const a3 = transposeA ? s.transpose(s.reshape(a, [batchA, ra, ca]), [0, 2, 1]) : a;
    const b3 = transposeB ? s.transpose(s.reshape(b, [batchB, rb, cb]), [0, 2, 1]) : b;
    const parts: tf.TensorInfo[] = [];
    for (let i = 0; i < batch; i++) {
      const ai = s.alias(a3, (batchA === 1 ? 0 : i) * m * k, [m, k]);
      const bi = s.alias(b3, (batchB === 1 ? 0 : i) * k * n, [k, n]);
      parts.push(matMul2D(s, ai, bi));
    }
    return s.reshape(s.run('Concat', parts as unknown as tf.NamedTensorInfoMap, { axis: 0 }), outShape);
  });
};

/** op(a) @ op(b) for 2-D operands via the non-transposed GEMM. */
function product2D(s: Scratch, a: tf.TensorInfo, tA: boolean, b: tf.TensorInfo, tB: boolean): tf.TensorInfo {
  if (nativeKernels()) return gemmNative(s, a, tA, b, tB);
  const sizeA = tf.util.sizeFromShape(a.shape);
  const sizeB = tf.util.sizeFromShape(b.shape);
  const m = tA ? a.shape[1] : a.shape[0];
  const n = tB ? b.shape[0] : b.shape[1];
  if (tA && !tB) return matMulTN(s, a, b); // a contraction over the long axis (weight gradients)
  const direct = (tA ? sizeA : 0) + (tB ? sizeB : 0);
  const viaTranspose = (tA ? 0 : sizeA) + (tB ? 0 : sizeB) + m * n;
  if (direct <= viaTranspose) {
    return matMul2D(s, tA ? s.transpose(a, [1, 0]) : a, tB ? s.transpose(b, [1, 0]) : b);
  }
  // C^T = op(B)^T @ op(A)^T, then one transpose of the (smaller) result.
  const bt = tB ? b : s.transpose(b, [1, 0]);
  const at = tA ? a : s.transpose(a, [1, 0]);
  return s.transpose(matMul2D(s, bt, at), [1, 0]);
}
