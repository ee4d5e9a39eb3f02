import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { nativeKernels } from '../native';
import { convGeometry, dilateTo } from './grid';
import { reverseTaps } from './heap_slice';
import { requireInputs, WasmKernelArgs, withScratch } from './scratch';
import { transposedConv } from './transposed_conv';

/**
 * dx = depth-wise full correlation of the zero-dilated dy with the filter rotated 180 degrees:
 * one XNNPACK depthwise conv per channel multiplier (MobileNets use multiplier 1); with the native
 * addon built, a direct scatter (multiplier 1), which skips the stride's zero-dilation.
 */
export function depthwiseConv2dNativeBackpropInput(args: WasmKernelArgs): tf.TensorInfo {
  const backend = args.backend as BackendWasm;
  const { dy, filter } = requireInputs(args, 'dy', 'filter');
  const attrs = args.attrs as unknown as tf.DepthwiseConv2dNativeBackpropInputAttrs;
  assertUnitDilation(attrs.dilations);
  const info = convGeometry(attrs.inputShape, filter.shape, attrs.strides, attrs.pad, attrs.dimRoundingMode, true, undefined);
  const [kh, kw, c, m] = filter.shape;
  const [n, h, w] = attrs.inputShape;
  const { top, left } = info.padInfo;
  const { strideHeight: sh, strideWidth: sw, outHeight: oh, outWidth: ow } = info;

  const native = nativeKernels();
  if (native?.dwInputGrad && m === 1 && dy.dtype === 'float32') {
    const out = backend.makeOutput([n, h, w, c], 'float32');
    const heap = (backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8.buffer as ArrayBuffer;
    const off = (t: tf.TensorInfo) => backend.getMemoryOffset(t.dataId);
    native.dwInputGrad(heap, off(dy), off(filter), off(out), [n, h, w, c, oh, ow, kh, kw, sh, sw, top, left]);
    return out;
  }
  return withScratch(backend, (s) => {
    const one = (dyq: tf.TensorInfo, wq: tf.TensorInfo): tf.TensorInfo => {
      const dyd = sh === 1 && sw === 1 ? dyq : dilateTo(s, dyq, sh, sw, oh * sh, ow * sw);
      const wRot = s.track(reverseTaps(backend, wq));
      return transposedConv(s, 'DepthwiseConv2dNative', dyd, wRot, h, w, kh - 1 - top, kw - 1 - left);
    };
    if (m === 1) return one(dy, filter);
    // Multiplier m: dx = sum over q of the depthwise correlation of dy[..., c*m+q] with W[..., c, q].
    const dyQ = s.transpose(s.reshape(dy, [n * oh * ow, c, m]), [2, 0, 1]); // [m, n*oh*ow, c]
    const wQ = s.transpose(filter, [3, 0, 1, 2]); // [m, kh, kw, c]
    let acc: tf.TensorInfo | null = null;
    for (let q = 0; q < m; q++) {
      const part = one(s.alias(dyQ, q * n * oh * ow * c, [n, oh, ow, c]), s.alias(wQ, q * kh * kw * c, [kh, kw, c, 1]));
      acc = acc === null ? part : s.run('Add', { a: acc, b: part });
    }
    return acc as tf.TensorInfo;
  });
}

export function assertUnitDilation(dilations: number | [number, number] | undefined): void {
  const d = dilations == null ? [1, 1] : typeof dilations === 'number' ? [dilations, dilations] : dilations;
  if (d[0] !== 1 || d[1] !== 1) throw new Error(`wasm depthwise gradients support dilation 1 only, got ${d}`);
}

export const depthwiseConv2dNativeBackpropInputConfig: tf.KernelConfig = {
  kernelName: 'DepthwiseConv2dNativeBackpropInput',
  backendName: 'wasm',
  kernelFunc: depthwiseConv2dNativeBackpropInput as unknown as tf.KernelFunc,
};
