import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { baseKernel } from './originals';
import { requireInputs, WasmKernelArgs } from './scratch';

/** Above this many copy calls the shipped kernel is used (memmoves would be too small to pay). */
const MAX_COPIES = 1 << 16;

/**
 * Tile by memmoves on the heap: the trailing axes that are not repeated form contiguous blocks;
 * going outwards, each axis's span is written once and then doubled until it is repeated
 * reps[axis] times. tfjs's batch-norm and mean gradients tile [1, 1, 1, C] or [N, 1, 1, C]
 * tensors up to activation size; the shipped kernel computes an index per element.
 */
export const tileKernel: tf.KernelFunc = (args) => {
  const { x } = requireInputs(args as WasmKernelArgs, 'x');
  const { reps } = args.attrs as unknown as { reps: number[] };
  const rank = x.shape.length;
  let suffix = rank; // first axis of the trailing run with reps 1
  while (suffix > 0 && reps[suffix - 1] === 1) suffix--;
  const outerCount = tf.util.sizeFromShape(x.shape.slice(0, suffix));
  if (x.dtype === 'string' || rank === 0 || outerCount > MAX_COPIES) return baseKernel('Tile').kernelFunc(args);
  const backend = args.backend as BackendWasm;
  const outShape = x.shape.map((d, i) => d * reps[i]);
  const out = backend.makeOutput(outShape, x.dtype);
  if (tf.util.sizeFromShape(outShape) === 0) return out;
  const bpe = tf.util.bytesPerElement(x.dtype);
  const xStride = x.shape.map((_, i) => tf.util.sizeFromShape(x.shape.slice(i + 1)) * bpe);
  const heap = (backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8;
  // Writes x's sub-tensor from `axis` on, tiled, at outOff; returns the bytes written.
  const build = (axis: number, xOff: number, outOff: number): number => {
    if (axis === suffix) {
      const bytes = axis === 0 ? tf.util.sizeFromShape(x.shape) * bpe : xStride[axis - 1];
      heap.copyWithin(outOff, xOff, xOff + bytes);
      return bytes;
    }
    let span = 0;
    for (let a = 0; a < x.shape[axis]; a++) span += build(axis + 1, xOff + a * xStride[axis], outOff + span);
    const total = span * reps[axis];
    for (let filled = span; filled < total; filled *= 2) {
      heap.copyWithin(outOff + filled, outOff, outOff + Math.min(filled, total - filled));
    }
    return total;
  };
  build(0, backend.getMemoryOffset(x.dataId), backend.getMemoryOffset(out.dataId));
  return out;
};
