import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { blockMean } from './block_mean';
import { baseKernel } from './originals';
import { requireInputs, WasmKernelArgs, withScratch } from './scratch';

/**
 * Sum and Mean over a contiguous block of axes that is not innermost (e.g. [N, H, W] of an NHWC
 * tensor, as in batch-norm statistics and bias/scale gradients), as one average pooling over
 * [outer, block, 1, inner]. Everything else (innermost reductions, which the shipped kernels do
 * without a transpose; scattered axes; integer tensors) goes to the shipped kernel.
 */
function reduceOverBlock(kind: 'Sum' | 'Mean'): tf.KernelFunc {
  return (args) => {
    const { x } = requireInputs(args as WasmKernelArgs, 'x');
    const attrs = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
    const rank = x.shape.length;
    const axes = [...new Set(tf.util.parseAxisParam(attrs.axis, x.shape))].sort((p, q) => p - q);
    const first = axes[0];
    const last = axes[axes.length - 1];
    const contiguous = axes.length > 0 && last - first + 1 === axes.length;
    if (x.dtype !== 'float32' || !contiguous || last === rank - 1 || tf.util.sizeFromShape(x.shape) === 0) {
      return baseKernel(kind).kernelFunc(args);
    }
    const outer = tf.util.sizeFromShape(x.shape.slice(0, first));
    const m = tf.util.sizeFromShape(x.shape.slice(first, last + 1));
    const inner = tf.util.sizeFromShape(x.shape.slice(last + 1));
    const outShape = attrs.keepDims
      ? x.shape.map((d, i) => (i >= first && i <= last ? 1 : d))
      : x.shape.filter((_, i) => i < first || i > last);
    return withScratch(args.backend as BackendWasm, (s) => {
      const mean = blockMean(s, x, outer, m, inner);
      const out = kind === 'Mean' || m === 1 ? mean : s.run('Multiply', { a: mean, b: s.scalar(m) });
      return s.reshape(out, outShape);
    });
  };
}

export const sumOverBlock = reduceOverBlock('Sum');
export const meanOverBlock = reduceOverBlock('Mean');
