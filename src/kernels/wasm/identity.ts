import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { baseKernel } from './originals';
import { requireInputs, WasmKernelArgs } from './scratch';

/**
 * Identity and same-dtype Cast share the input's buffer (a reference, as the cpu backend does)
 * instead of copying it. Tensors are immutable, so sharing is safe; the engine clones every
 * tensor it saves for the backward pass, so these copies were a large share of a training step.
 */
function share(backend: BackendWasm, x: tf.TensorInfo): tf.TensorInfo {
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
}

export const identityKernel: tf.KernelFunc = (args) => {
  const { x } = requireInputs(args as WasmKernelArgs, 'x');
  if (x.dtype === 'string') return baseKernel('Identity').kernelFunc(args);
  return share(args.backend as BackendWasm, x);
};

export const castKernel: tf.KernelFunc = (args) => {
  const { x } = requireInputs(args as WasmKernelArgs, 'x');
  const { dtype } = args.attrs as unknown as { dtype: tf.DataType };
  if (dtype !== x.dtype || x.dtype === 'string') return baseKernel('Cast').kernelFunc(args);
  return share(args.backend as BackendWasm, x);
};
