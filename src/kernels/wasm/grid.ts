import * as tf from '@tensorflow/tfjs-core';
import { sliceOnHeap } from './heap_slice';
import type { Scratch } from './scratch';

type TensorInfo = tf.TensorInfo;

/** Conv geometry as the engine computes it (padding, output size) for NHWC tensors. */
export function convGeometry(
  xShape: number[],
  filterShape: number[],
  strides: number | [number, number],
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding,
  dimRoundingMode: 'floor' | 'round' | 'ceil' | undefined,
  depthwise: boolean,
  dataFormat: string | undefined,
): tf.backend_util.Conv2DInfo {
  if (dataFormat != null && dataFormat !== 'NHWC' && dataFormat !== 'channelsLast') {
    throw new Error(`wasm training kernels support NHWC only, got dataFormat '${dataFormat}'`);
  }
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
    depthwise,
    'channelsLast',
  );
}

/** Pads with zeros or crops rows/cols at the end so that `t` becomes [N, h, w, C]. */
export function fitTo(s: Scratch, t: TensorInfo, h: number, w: number): TensorInfo {
  const [n, th, tw, c] = t.shape;
  let cur = t;
  if (th > h || tw > w) {
    cur = s.track(sliceOnHeap(s.backend, cur, [0, 0, 0, 0], [n, Math.min(th, h), Math.min(tw, w), c]));
  }
  const [, ch, cw] = cur.shape;
  return s.pad(cur, [[0, 0], [0, h - ch], [0, w - cw], [0, 0]]);
}

/**
 * Places `t` [N, OH, OW, C] on a zero grid [N, h, w, C] at rows multiple of `sh` and cols
 * multiple of `sw` (out[oh*sh, ow*sw] = t[oh, ow]): the zero-dilation of transposed convolutions.
 * The dilation is a 6-D pad of [N, OH, 1, OW, 1, C], so it is one XNNPACK-speed copy.
 */
export function dilateTo(s: Scratch, t: TensorInfo, sh: number, sw: number, h: number, w: number): TensorInfo {
  if (sh === 1 && sw === 1) return fitTo(s, t, h, w);
  const [n, oh, ow, c] = t.shape;
  const six = s.reshape(t, [n, oh, 1, ow, 1, c]);
  const padded = s.pad(six, [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]]);
  return fitTo(s, s.reshape(padded, [n, oh * sh, ow * sw, c]), h, w);
}
