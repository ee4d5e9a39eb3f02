import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { nativeKernels } from '../native';
import { requireInputs, WasmKernelArgs, withScratch } from './scratch';

/** The float32 just above 6: step(c - x) is 1 exactly for x <= 6. */
const ABOVE_SIX = Math.fround(6 + 2 ** -21);

/** Our wasm kernel for the Relu6 gradient: inputs dy and x, output dy * (0 < x <= 6). */
export const RELU6_GRAD_KERNEL = 'SslightRelu6Grad';

/**
 * The mask 0 < x <= 6 is step(x * (c - x)) with c the float above 6: the same values as tfjs's
 * (x <= 6) * step(x) (x * (c - x) > 0 exactly when 0 < x < c), from 4 XNNPACK elementwise passes
 * (Sub, Mul, Step, Mul) instead of scalar LessEqual and Cast loops; one fused pass with the
 * native addon.
 */
export const relu6GradKernel: tf.KernelFunc = (args) => {
  const { dy, x } = requireInputs(args as WasmKernelArgs, 'dy', 'x');
  const backend = args.backend as BackendWasm;
  const native = nativeKernels();
  if (native?.relu6Grad) {
    const out = backend.makeOutput(x.shape.slice(), 'float32');
    const heap = (backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8.buffer as ArrayBuffer;
    const off = (t: tf.TensorInfo) => backend.getMemoryOffset(t.dataId);
    native.relu6Grad(heap, off(dy), off(x), off(out), tf.util.sizeFromShape(x.shape));
    return out;
  }
  return withScratch(backend, (s) => {
    const room = s.run('Sub', { a: s.scalar(ABOVE_SIX), b: x });
    const mask = s.run('Step', { x: s.run('Multiply', { a: x, b: room }) }, { alpha: 0 });
    return s.run('Multiply', { a: dy, b: mask });
  });
};

let replaced: tf.GradConfig | undefined;
let ours: tf.GradConfig | undefined;

/**
 * Relu6's gradient on wasm runs our kernel (the shipped gradient is dy * cast((x <= 6) * step(x)),
 * whose LessEqual and Casts are scalar loops there); other backends keep the gradient we replaced.
 * Re-applies itself when another Relu6 gradient was registered since (e.g. late gradient
 * registration).
 */
export function ensureRelu6Gradient(): boolean {
  const current = tf.getGradient('Relu6');
  if (current && current === ours) return true;
  replaced = current;
  ours = {
    kernelName: 'Relu6',
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      if (tf.getBackend() !== 'wasm' && replaced) return replaced.gradFunc(dy, saved, attrs);
      const x = saved[0];
      if (tf.getBackend() !== 'wasm') {
        return { x: () => tf.mul(dy as tf.Tensor, tf.step(tf.mul(x, tf.sub(tf.scalar(ABOVE_SIX), x)))) };
      }
      return { x: () => tf.engine().runKernel(RELU6_GRAD_KERNEL, { dy: dy as tf.Tensor, x }) as tf.Tensor };
    },
  };
  tf.registerGradient(ours);
  return true;
}
