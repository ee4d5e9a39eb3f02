import * as tf from '@tensorflow/tfjs-core';
import { nativeKernels } from '../native';
import type { Scratch } from './scratch';

type TensorInfo = tf.TensorInfo;

/**
 * a [M, K] @ b [K, N] on XNNPACK's fast path (batch 1, no transposes). XNNPACK caches the packed
 * right operand per tensor id for as long as that tensor lives; giving it a throw-away alias
 * id keeps it from pinning a packed copy of a long-lived activation.
 */
export function matMul2D(s: Scratch, a: TensorInfo, b: TensorInfo): TensorInfo {
  if (nativeKernels()) return gemmNative(s, a, false, b, false);
  const [m, k] = a.shape;
  const [k2, n] = b.shape;
  if (k !== k2) throw new Error(`matMul2D: inner sizes differ (${a.shape} x ${b.shape})`);
  const a3 = s.reshape(a, [1, m, k]);
  const b3 = s.alias(b, 0, [1, k, n]);
  const out = s.run('BatchMatMul', { a: a3, b: b3 }, { transposeA: false, transposeB: false });
  return s.reshape(out, [m, n]);
}

/**
 * op(a) @ op(b) with the native OpenBLAS addon, in place on the wasm heap: no packing, no
 * transposes. Call only when nativeKernels() is non-null.
 */
export function gemmNative(s: Scratch, a: TensorInfo, transA: boolean, b: TensorInfo, transB: boolean): TensorInfo {
  const native = nativeKernels();
  if (!native) throw new Error('gemmNative: the native GEMM addon is not loaded');
  const [ar, ac] = a.shape;
  const [br, bc] = b.shape;
  const m = transA ? ac : ar;
  const k = transA ? ar : ac;
  const n = transB ? br : bc;
  if ((transB ? bc : br) !== k) throw new Error(`gemm: inner sizes differ (${a.shape}${transA ? 'ᵀ' : ''} x ${b.shape}${transB ? 'ᵀ' : ''})`);
  const out = s.track(s.backend.makeOutput([m, n], 'float32'));
  // Read the heap after allocating: growing the wasm memory replaces its ArrayBuffer.
  const heap = (s.backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8.buffer as ArrayBuffer;
  const off = (t: TensorInfo) => s.backend.getMemoryOffset(t.dataId);
  native.sgemm(heap, transA, transB, m, n, k, off(a), off(b), off(out));
  return out;
}
