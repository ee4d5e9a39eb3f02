import * as tf from '@tensorflow/tfjs-core';
import { fitTo } from './grid';
import type { Scratch } from './scratch';

/**
 * Stride-1 correlation (`Conv2D` or `DepthwiseConv2dNative`) of `src` with the rotated filter
 * `wRot`, padded so that the output is exactly [N, h, w, C]: the last step of a transposed
 * convolution. `src` is dy, zero-dilated when the forward stride was > 1.
 */
export function transposedConv(
  s: Scratch,
  kernelName: 'Conv2D' | 'DepthwiseConv2dNative',
  src: tf.TensorInfo,
  wRot: tf.TensorInfo,
  h: number,
  w: number,
  padTop: number,
  padLeft: number,
): tf.TensorInfo {
  const [kh, kw] = wRot.shape;
  let [, dh, dw] = src.shape;
  let padBottom = h + kh - 1 - padTop - dh;
  let padRight = w + kw - 1 - padLeft - dw;
  if (padBottom < 0 || padRight < 0) {
    // Only trailing zero rows/cols of the dilation are surplus: drop them.
    dh += Math.min(0, padBottom);
    dw += Math.min(0, padRight);
    src = fitTo(s, src, dh, dw);
    padBottom = Math.max(0, padBottom);
    padRight = Math.max(0, padRight);
  }
  const attrs: tf.NamedAttrMap = {
    strides: [1, 1],
    pad: [[0, 0], [padTop, padBottom], [padLeft, padRight], [0, 0]],
    dilations: [1, 1],
  };
  if (kernelName === 'Conv2D') attrs.dataFormat = 'NHWC';
  return s.run(kernelName, { x: src, filter: wRot }, attrs);
}
