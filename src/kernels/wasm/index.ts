import * as tf from '@tensorflow/tfjs-core';
// The shipped kernels must be registered before we capture and override them.
import '@tensorflow/tfjs-backend-wasm';
import { registerBatchNormKernels } from '../batchnorm_train';
import { registerLarsKernels } from '../lars_update';
import { registerEmaKernels } from '../ema_update';
import { batchMatMulKernel } from './batch_mat_mul';
import { conv2DKernel } from './conv2d';
import { conv2DBackpropFilter } from './conv2d_backprop_filter';
import { conv2DBackpropInput } from './conv2d_backprop_input';
import { depthwiseConv2dNativeBackpropFilter } from './depthwise_backprop_filter';
import { depthwiseConv2dNativeBackpropInput } from './depthwise_backprop_input';
import { castKernel, identityKernel } from './identity';
import { maxPoolGradKernel } from './max_pool_grad';
import { expKernel } from './exp';
import { overrideKernel } from './originals';
import { meanOverBlock, sumOverBlock } from './reduce_block';
import { ensureRelu6Gradient, RELU6_GRAD_KERNEL, relu6GradKernel } from './relu6_grad';
import { sliceKernel } from './slice';
import { tileKernel } from './tile';

let registered = false;

/** Kernel names this pack adds to or replaces on the wasm backend. */
export const WASM_TRAINING_KERNELS = [
  'Conv2D',
  'Conv2DBackpropFilter',
  'Conv2DBackpropInput',
  'DepthwiseConv2dNativeBackpropInput',
  'DepthwiseConv2dNativeBackpropFilter',
  'Sum',
  'Mean',
  'BatchMatMul',
  'Slice',
  'Tile',
  'Identity',
  'Cast',
  'MaxPoolGrad',
  'Exp',
] as const;

/**
 * Registers the training kernels the wasm backend lacks (or ships as scalar loops), composed from
 * its XNNPACK kernels (or run by the optional native addon when it is built), plus our own
 * kernels for the Relu6 gradient and batchNormTrain. Idempotent; safe before or after the wasm
 * backend is initialised. Call it again after registering gradients late: it re-applies the
 * Relu6 gradient if the registration replaced it.
 */
export function registerWasmTrainingKernels(): void {
  ensureRelu6Gradient();
  if (registered) return;
  const fns: Record<(typeof WASM_TRAINING_KERNELS)[number], unknown> = {
    Conv2D: conv2DKernel,
    Conv2DBackpropFilter: conv2DBackpropFilter,
    Conv2DBackpropInput: conv2DBackpropInput,
    DepthwiseConv2dNativeBackpropInput: depthwiseConv2dNativeBackpropInput,
    DepthwiseConv2dNativeBackpropFilter: depthwiseConv2dNativeBackpropFilter,
    Sum: sumOverBlock,
    Mean: meanOverBlock,
    BatchMatMul: batchMatMulKernel,
    Slice: sliceKernel,
    Tile: tileKernel,
    Identity: identityKernel,
    Cast: castKernel,
    MaxPoolGrad: maxPoolGradKernel,
    Exp: expKernel,
  };
  for (const name of WASM_TRAINING_KERNELS) overrideKernel(name, fns[name] as tf.KernelFunc);
  tf.registerKernel({ kernelName: RELU6_GRAD_KERNEL, backendName: 'wasm', kernelFunc: relu6GradKernel });
  registerBatchNormKernels();
  registerLarsKernels();
  registerEmaKernels();
  registered = true;
}
