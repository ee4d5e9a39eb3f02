import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { baseKernel } from './originals';
import { requireInputs, WasmKernelArgs } from './scratch';

/**
 * Tile where the result is the whole input repeated k times back to back: every repeated axis
 * comes before the input's first non-unit axis, e.g. [1, 1, 1, C] tiled by [N, H, W, 1] (tfjs's
 * batch-norm gradient does exactly this). One copy of the input, then copies that double the
 * filled prefix: log2(k) memmoves instead of the shipped kernel's per-element index arithmetic.
 * Other patterns go to the shipped kernel.
 */
export const tileKernel: tf.KernelFunc = (args) => {
  const { x } = requireInputs(args as WasmKernelArgs, 'x');
  const { reps } = args.attrs as unknown as { reps: number[] };
  const firstData = x.shape.findIndex((d) => d !== 1);
  const lastRep = reps.reduce((last, r, i) => (r !== 1 ? i : last), -1);
  const wholeBlock = firstData === -1 || lastRep < firstData || lastRep === -1;
  if (x.dtype === 'string' || !wholeBlock) return baseKernel('Tile').kernelFunc(args);
  const backend = args.backend as BackendWasm;
  const outShape = x.shape.map((d, i) => d * reps[i]);
  const out = backend.makeOutput(outShape, x.dtype);
  const total = tf.util.sizeFromShape(outShape) * tf.util.bytesPerElement(x.dtype);
  if (total === 0) return out;
  const block = tf.util.sizeFromShape(x.shape) * tf.util.bytesPerElement(x.dtype);
  const heap = (backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8;
  const dst = backend.getMemoryOffset(out.dataId);
  const src = backend.getMemoryOffset(x.dataId);
  heap.copyWithin(dst, src, src + block);
  for (let filled = block; filled < total; filled *= 2) {
    heap.copyWithin(dst + filled, dst, dst + Math.min(filled, total - filled));
  }
  return out;
};
