import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { sliceOnHeap } from './heap_slice';
import { baseKernel } from './originals';
import { requireInputs, WasmKernelArgs } from './scratch';

/** Slice without the shipped kernel's full copy of the input out of the heap (see heap_slice). */
export const sliceKernel: tf.KernelFunc = (args) => {
  const { x } = requireInputs(args as WasmKernelArgs, 'x');
  if (x.dtype === 'string') return baseKernel('Slice').kernelFunc(args);
  const attrs = args.attrs as unknown as { begin: number | number[]; size?: number | number[] };
  const [begin, size] = tf.slice_util.parseSliceParams(x as tf.Tensor, attrs.begin, attrs.size);
  return sliceOnHeap(args.backend as BackendWasm, x, begin, size);
};
