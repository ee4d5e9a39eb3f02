import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { convGeometry } from './grid';
import { sliceOnHeap } from './heap_slice';
import { matMulTN } from './matmul_tn';
import { nativeConv } from './native_conv';
import { requireInputs, WasmKernelArgs, withScratch } from './scratch';

/**
 * dW[kh,kw,ci,co] = sum over n,oh,ow of xpad[n, oh*s+kh, ow*s+kw, ci] * dy[n, oh, ow, co].
 * - 1x1, stride 1, no padding: a GEMM, x2d^T @ dy2d, in cache-sized chunks (see matmul_tn).
 * - otherwise, with the native addon: im2col + sgemm;
 * - otherwise: a stride-1 convolution of x seen as [Ci, H, W, N] (N as channels) with dy seen as
 *   a [OH, OW, N, Co] filter dilated by the stride; it yields [Ci, KH, KW, Co].
 */
export function conv2DBackpropFilter(args: WasmKernelArgs): tf.TensorInfo {
  const backend = args.backend as BackendWasm;
  const { x, dy } = requireInputs(args, 'x', 'dy');
  const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  const info = convGeometry(x.shape, attrs.filterShape, attrs.strides, attrs.pad, attrs.dimRoundingMode, false, attrs.dataFormat);
  const [kh, kw, ci, co] = attrs.filterShape;
  const { top, left } = info.padInfo;
  const { strideHeight: sh, strideWidth: sw, outHeight: oh, outWidth: ow, batchSize: n } = info;
  const [, h, w] = x.shape;

  return withScratch(backend, (s) => {
    if (kh === 1 && kw === 1 && sh === 1 && sw === 1 && top === 0 && left === 0 && oh === h && ow === w) {
      const m = n * h * w;
      return s.reshape(matMulTN(s, s.reshape(x, [m, ci]), s.reshape(dy, [m, co])), [1, 1, ci, co]);
    }
    const viaNative = nativeConv('conv2dFilterGrad', backend, x, dy, [kh, kw, ci, co], info);
    if (viaNative) return s.track(viaNative);
    const xT = s.transpose(x, [3, 1, 2, 0]); // [ci, h, w, n]
    const dyF = s.transpose(dy, [1, 2, 0, 3]); // [oh, ow, n, co]
    const bottom = Math.max(0, (oh - 1) * sh + kh - h - top);
    const right = Math.max(0, (ow - 1) * sw + kw - w - left);
    const conv = s.run(
      'Conv2D',
      { x: xT, filter: dyF },
      {
        strides: [1, 1],
        pad: [[0, 0], [top, bottom], [left, right], [0, 0]],
        dataFormat: 'NHWC',
        dilations: [sh, sw],
      },
    ); // [ci, >=kh, >=kw, co]: extra rows/cols appear when 'valid' leaves input unused
    const exact = conv.shape[1] === kh && conv.shape[2] === kw ? conv : s.track(sliceOnHeap(backend, conv, [0, 0, 0, 0], [ci, kh, kw, co]));
    return s.transpose(exact, [1, 2, 0, 3]);
  });
}

export const conv2DBackpropFilterConfig: tf.KernelConfig = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter as unknown as tf.KernelFunc,
};
