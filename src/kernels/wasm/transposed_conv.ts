import * as tf from '@tensorflow/tfjs-core';
import { sliceOnHeap } from './heap_slice';
import type { Scratch } from './scratch';

/**
 * Stride-1 correlation (`Conv2D` or `DepthwiseConv2dNative`) of `src` with the rotated filter
 * `wRot`, padded or cropped so that the output is exactly [N, h, w, C]: the last step of a
 * transposed convolution. `src` is dy, zero-dilated when the forward stride was > 1. A negative
 * `padTop`/`padLeft` (forward padding larger than the filter) crops src's first rows/cols.
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
  const [kh, kw, , cOut] = wRot.shape;
  const [n, dh, dw, c] = src.shape;
  const rowStart = Math.max(0, -padTop);
  const colStart = Math.max(0, -padLeft);
  const top = Math.max(0, padTop);
  const left = Math.max(0, padLeft);
  let rows = dh - rowStart;
  let cols = dw - colStart;
  let bottom = h + kh - 1 - top - rows;
  let right = w + kw - 1 - left - cols;
  // Rows/cols that only ever meet the forward pass's padding contribute nothing: drop them.
  rows += Math.min(0, bottom);
  cols += Math.min(0, right);
  bottom = Math.max(0, bottom);
  right = Math.max(0, right);
  const outChannels = kernelName === 'Conv2D' ? cOut : c;
  if (rows <= 0 || cols <= 0) {
    // Every input position lies in the padding: the gradient is zero.
    return s.run('Fill', {}, { shape: [n, h, w, outChannels], value: 0, dtype: 'float32' });
  }
  if (rowStart > 0 || colStart > 0 || rows < dh || cols < dw) {
    src = s.track(sliceOnHeap(s.backend, src, [0, rowStart, colStart, 0], [n, rows, cols, c]));
  }
  const attrs: tf.NamedAttrMap = {
    strides: [1, 1],
    pad: [[0, 0], [top, bottom], [left, right], [0, 0]],
    dilations: [1, 1],
  };
  if (kernelName === 'Conv2D') attrs.dataFormat = 'NHWC';
  return s.run(kernelName, { x: src, filter: wRot }, attrs);
}
