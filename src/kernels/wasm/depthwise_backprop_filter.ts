import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { nativeKernels } from '../native';
import { blockMean } from './block_mean';
import { assertUnitDilation } from './depthwise_backprop_input';
import { convGeometry } from './grid';
import { requireInputs, Scratch, WasmKernelArgs, withScratch } from './scratch';

/**
 * dW[kh,kw,c,q] = sum over n,oh,ow of xpad[n, oh*s+kh, ow*s+kw, c] * dy[n, oh, ow, c*m+q].
 *
 * With the native addon built: one fused pass (multiplier 1). Otherwise, per tap, this is a column sum of an elementwise product, with no GEMM structure (one dot
 * product per channel), so it is memory-bound. Formulation, all whole-tensor XNNPACK ops:
 * - x is padded and split into its s*s stride phases ([s, s, N, Hs, Ws, C]; one plane when s=1),
 *   and dy is padded onto the same [N, Hs, Ws] grid. Then tap (kh, kw) pairs dy's flat row r with
 *   row r + (kh div s)*Ws + (kw div s) of phase plane (kh mod s, kw mod s): a zero-copy view.
 *   Rows that wrap past an image edge meet dy's zero padding, so they add nothing.
 * - each tap is then one Multiply (broadcast over the multiplier) and one column mean
 *   (average pooling), 2 passes over the data instead of a copy per tap; with stride 2 the
 *   phase split makes every pass 4x shorter than on a zero-dilated grid.
 */
export function depthwiseConv2dNativeBackpropFilter(args: WasmKernelArgs): tf.TensorInfo {
  const backend = args.backend as BackendWasm;
  const { x, dy } = requireInputs(args, 'x', 'dy');
  const attrs = args.attrs as unknown as tf.DepthwiseConv2dNativeBackpropFilterAttrs;
  assertUnitDilation(attrs.dilations);
  const info = convGeometry(x.shape, attrs.filterShape, attrs.strides, attrs.pad, attrs.dimRoundingMode, true, undefined);
  const [kh, kw, c, m] = attrs.filterShape;
  const [n, h, w] = x.shape;
  const { top, left } = info.padInfo;
  const { strideHeight: sh, strideWidth: sw, outHeight: oh, outWidth: ow } = info;
  // Phase-grid sizes: big enough for the padded input and for every tap's shifted view.
  const hs = Math.max(Math.ceil((top + h) / sh), oh + Math.floor((kh - 1) / sh));
  const ws = Math.max(Math.ceil((left + w) / sw), ow + Math.floor((kw - 1) / sw));

  const native = nativeKernels();
  if (native?.dwFilterGrad && m === 1 && x.dtype === 'float32') {
    const out = backend.makeOutput([kh, kw, c, 1], 'float32');
    const heap = (backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8.buffer as ArrayBuffer;
    const off = (t: tf.TensorInfo) => backend.getMemoryOffset(t.dataId);
    native.dwFilterGrad(heap, off(x), off(dy), off(out), [n, h, w, c, oh, ow, kh, kw, sh, sw, top, left]);
    return out;
  }
  return withScratch(backend, (s) => {
    const xpad = s.pad(x, [[0, 0], [top, hs * sh - h - top], [left, ws * sw - w - left], [0, 0]]);
    const planes = splitPhases(s, xpad, n, hs, sh, ws, sw, c);
    const dyg = s.pad(dy, [[0, 0], [0, hs - oh], [0, ws - ow], [0, 0]]);
    const planeSize = n * hs * ws * c;
    const maxShift = Math.floor((kh - 1) / sh) * ws + Math.floor((kw - 1) / sw);
    const rows = n * hs * ws - maxShift;
    const dyv = s.alias(dyg, 0, [rows, c, m]);
    const taps: tf.TensorInfo[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const phase = (j % sw) * sh + (i % sh);
        const shift = Math.floor(i / sh) * ws + Math.floor(j / sw);
        const xv = s.alias(planes, phase * planeSize + shift * c, [rows, c, 1]);
        const prod = s.run('Multiply', { a: xv, b: dyv });
        taps.push(blockMean(s, prod, 1, rows, c * m));
        s.free(prod);
      }
    }
    const means = taps.length === 1 ? taps[0] : s.run('Concat', taps as unknown as tf.NamedTensorInfoMap, { axis: 0 });
    const sums = s.run('Multiply', { a: means, b: s.scalar(rows) });
    return s.reshape(sums, [kh, kw, c, m]);
  });
}

/**
 * Splits xpad [n, hs*sh, ws*sw, c] into its stride phases, laid out [sw, sh, n, hs, ws, c]
 * (phase (ph, pw) = plane pw*sh + ph). Two 3-D transposes that move contiguous runs: the
 * equivalent single 6-D transpose is ~100x slower on wasm (element-wise gather).
 */
function splitPhases(s: Scratch, xpad: tf.TensorInfo, n: number, hs: number, sh: number, ws: number, sw: number, c: number): tf.TensorInfo {
  let cur = xpad;
  if (sh > 1) cur = s.transpose(s.reshape(cur, [n * hs, sh, ws * sw * c]), [1, 0, 2]); // [sh, n*hs, ws*sw*c]
  if (sw > 1) cur = s.transpose(s.reshape(cur, [sh * n * hs * ws, sw, c]), [1, 0, 2]); // [sw, sh*n*hs*ws, c]
  return cur;
}

export const depthwiseConv2dNativeBackpropFilterConfig: tf.KernelConfig = {
  kernelName: 'DepthwiseConv2dNativeBackpropFilter',
  backendName: 'wasm',
  kernelFunc: depthwiseConv2dNativeBackpropFilter as unknown as tf.KernelFunc,
};
