import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { nativeKernels } from '../native';
import { baseKernel } from './originals';
import { requireInputs, WasmKernelArgs } from './scratch';

/**
 * Exp: with the native addon, a vectorised float32 exp (<= 1 ulp from the correctly rounded
 * value; results below the smallest normal float are 0), ~10x the shipped kernel, a scalar
 * std::exp loop (the DINO step's log-softmax and GELU gradients: 4 calls over 3M values, ~22 ms).
 * Otherwise, or for other dtypes, the shipped kernel.
 */
export const expKernel: tf.KernelFunc = (args) => {
  const { x } = requireInputs(args as WasmKernelArgs, 'x');
  const native = nativeKernels();
  const n = tf.util.sizeFromShape(x.shape);
  if (!native?.expf || x.dtype !== 'float32' || n === 0) return baseKernel('Exp').kernelFunc(args);
  const backend = args.backend as BackendWasm;
  const out = backend.makeOutput(x.shape.slice(), 'float32');
  const heap = (backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8.buffer as ArrayBuffer;
  native.expf(heap, backend.getMemoryOffset(x.dataId), backend.getMemoryOffset(out.dataId), n);
  return out;
};
