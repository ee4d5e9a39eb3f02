import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { nativeKernels } from '../native';

export type NativeConvKind = 'conv2d' | 'conv2dFilterGrad' | 'conv2dInputGrad';

/**
 * Runs a convolution (or one of its gradients) through the native addon's im2col + sgemm, in
 * place on the wasm heap; null when the addon (or this entry point) is not available or the
 * convolution is dilated. Operands: conv2d [x, w], filter grad [x, dy], input grad [dy, w].
 */
export function nativeConv(
  kind: NativeConvKind,
  backend: BackendWasm,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  outShape: number[],
  info: tf.backend_util.Conv2DInfo,
): tf.TensorInfo | null {
  const fn = nativeKernels()?.[kind];
  if (!fn || info.dilationHeight !== 1 || info.dilationWidth !== 1 || a.dtype !== 'float32' || b.dtype !== 'float32') return null;
  const out = backend.makeOutput(outShape, 'float32');
  const heap = (backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8.buffer as ArrayBuffer;
  const off = (t: tf.TensorInfo) => backend.getMemoryOffset(t.dataId);
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth } = info;
  fn(heap, [off(a), off(b), off(out)], [
    batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth,
    info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left,
  ]);
  return out;
}
