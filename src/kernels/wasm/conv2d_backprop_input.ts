import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { convGeometry, dilateTo } from './grid';
import { matMul2D } from './matmul2d';
import { nativeConv } from './native_conv';
import { reverseTaps } from './heap_slice';
import { requireInputs, WasmKernelArgs, withScratch } from './scratch';
import { transposedConv } from './transposed_conv';

/**
 * dx = full correlation of dy (zero-dilated by the stride) with the filter rotated 180 degrees
 * and its channel axes swapped: one XNNPACK conv2d instead of the shipped scalar loops.
 * 1x1 filters are a GEMM, dy2d @ W^T, followed by the stride's zero-dilation. With the native
 * addon, other filters are sgemm + col2im.
 */
export function conv2DBackpropInput(args: WasmKernelArgs): tf.TensorInfo {
  const backend = args.backend as BackendWasm;
  const { dy, filter } = requireInputs(args, 'dy', 'filter');
  const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
  const info = convGeometry(attrs.inputShape, filter.shape, attrs.strides, attrs.pad, attrs.dimRoundingMode, false, attrs.dataFormat);
  const [kh, kw, ci, co] = filter.shape;
  const [n, h, w] = attrs.inputShape;
  const { top, left } = info.padInfo;
  const { strideHeight: sh, strideWidth: sw, outHeight: oh, outWidth: ow } = info;

  return withScratch(backend, (s) => {
    if (kh === 1 && kw === 1 && top === 0 && left === 0) {
      const wT = s.transpose(s.reshape(filter, [ci, co]), [1, 0]); // [co, ci]
      const g = s.reshape(matMul2D(s, s.reshape(dy, [n * oh * ow, co]), wT), [n, oh, ow, ci]);
      return dilateTo(s, g, sh, sw, h, w);
    }
    const viaNative = nativeConv('conv2dInputGrad', backend, dy, filter, [n, h, w, ci], info);
    if (viaNative) return s.track(viaNative);
    // Rotated filter [kh, kw, co, ci].
    const wRot = s.track(reverseTaps(backend, s.transpose(filter, [0, 1, 3, 2])));
    // dyd has OH*s rows (the last s-1 of them zero); the conv pads it to H + KH - 1 rows.
    const dyd = sh === 1 && sw === 1 ? dy : dilateTo(s, dy, sh, sw, oh * sh, ow * sw);
    return transposedConv(s, 'Conv2D', dyd, wRot, h, w, kh - 1 - top, kw - 1 - left);
  });
}

export const conv2DBackpropInputConfig: tf.KernelConfig = {
  kernelName: 'Conv2DBackpropInput',
  backendName: 'wasm',
  kernelFunc: conv2DBackpropInput as unknown as tf.KernelFunc,
};
