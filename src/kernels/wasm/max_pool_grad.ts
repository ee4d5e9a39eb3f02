import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { nativeKernels } from '../native';
import { baseKernel } from './originals';
import { requireInputs, WasmKernelArgs } from './scratch';

/**
 * MaxPoolGrad: one pass (running max/argmax per window, channels innermost, then a scatter of
 * dy); the first maximum in scan order takes dy and padding never wins, as in tfjs's cpu kernel.
 * Native with the addon, otherwise the same loop in JS on heap views. The shipped wasm kernel is
 * replaced because it is slow (~100 ms for ResNet18's stem pool at batch 64, 64x64 crops) and
 * wrong when a window holds only negative values (it sends dy to the window's first pixel, not
 * its maximum: [[-3, -1], [-2, -4]] gives [1, 0, 0, 0] where cpu gives [0, 1, 0, 0]).
 */
export const maxPoolGradKernel: tf.KernelFunc = (args) => {
  const { dy, input } = requireInputs(args as WasmKernelArgs, 'dy', 'input');
  const attrs = args.attrs as unknown as tf.MaxPoolGradAttrs;
  const native = nativeKernels();
  if (input.dtype !== 'float32' || dy.dtype !== 'float32' || input.shape.length !== 4) {
    return baseKernel('MaxPoolGrad').kernelFunc(args);
  }
  const info = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], attrs.filterSize, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
  const backend = args.backend as BackendWasm;
  const dx = backend.makeOutput(input.shape.slice(), 'float32');
  if (tf.util.sizeFromShape(input.shape) === 0) return dx;
  const heap = (backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8.buffer as ArrayBuffer;
  const off = (t: tf.TensorInfo) => backend.getMemoryOffset(t.dataId);
  const geom = [
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.outHeight,
    info.outWidth,
    info.filterHeight,
    info.filterWidth,
    info.strideHeight,
    info.strideWidth,
    info.padInfo.top,
    info.padInfo.left,
  ];
  if (native?.maxPoolGrad) native.maxPoolGrad(heap, off(input), off(dy), off(dx), geom);
  else maxPoolGradJs(heap, off(input), off(dy), off(dx), geom);
  return dx;
};

/** The native kernel's loop in JS, on float32 views of the heap at byte offsets. */
function maxPoolGradJs(heap: ArrayBuffer, xOff: number, dyOff: number, dxOff: number, geom: number[]): void {
  const [n, h, w, c, oh, ow, kh, kw, sh, sw, pt, pl] = geom;
  const x = new Float32Array(heap, xOff, n * h * w * c);
  const dy = new Float32Array(heap, dyOff, n * oh * ow * c);
  const dx = new Float32Array(heap, dxOff, n * h * w * c);
  dx.fill(0);
  const best = new Float32Array(c);
  const arg = new Int32Array(c);
  for (let b = 0; b < n; b++) {
    const base = b * h * w;
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        best.fill(-Infinity);
        arg.fill(-1);
        for (let u = 0; u < kh; u++) {
          const ih = i * sh + u - pt;
          if (ih < 0 || ih >= h) continue;
          for (let v = 0; v < kw; v++) {
            const iw = j * sw + v - pl;
            if (iw < 0 || iw >= w) continue;
            const pos = base + ih * w + iw;
            const xo = pos * c;
            for (let k = 0; k < c; k++) {
              if (x[xo + k] > best[k]) {
                best[k] = x[xo + k];
                arg[k] = pos;
              }
            }
          }
        }
        const d = ((b * oh + i) * ow + j) * c;
        for (let k = 0; k < c; k++) if (arg[k] >= 0) dx[arg[k] * c + k] += dy[d + k];
      }
    }
  }
}
