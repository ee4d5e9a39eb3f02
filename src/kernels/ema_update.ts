import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { nativeKernels } from './native';

/**
 * target <- m * target + (1 - m) * online for every pair (an EMA / momentum-encoder update).
 * On wasm with the native addon: one kernel call for all pairs, one pass over each (instead of
 * Mul, Mul, Add per parameter, ~480 kernel calls for a DINO student and teacher); elsewhere
 * plain ops. Each target is assigned a new tensor (tfjs tensors are immutable).
 */
export function emaAssign(pairs: ReadonlyArray<readonly [tf.Variable, tf.Tensor]>, m: number): void {
  if (!(m >= 0 && m <= 1)) throw new RangeError(`EMA momentum must be in [0, 1], got ${m}`);
  for (const [t, o] of pairs) {
    if (!tf.util.arraysEqual(t.shape, o.shape)) throw new Error(`emaAssign: target [${t.shape}] and online [${o.shape}] differ`);
  }
  if (m === 1 || pairs.length === 0) return;
  tf.tidy(() => {
    const fused = useNative() && pairs.every(([t, o]) => t.dtype === 'float32' && o.dtype === 'float32' && t.size > 0);
    if (fused) {
      const inputs: tf.NamedTensorMap = {};
      pairs.forEach(([t, o], i) => {
        inputs[`t${i}`] = t;
        inputs[`o${i}`] = o;
      });
      const outs = tf.engine().runKernel(EMA_UPDATE, inputs, { m, count: pairs.length }) as tf.Tensor[];
      pairs.forEach(([t], i) => t.assign(outs[i]));
      return;
    }
    for (const [t, o] of pairs) t.assign(tf.add(tf.mul(t, m), tf.mul(o, 1 - m)));
  });
}

const EMA_UPDATE = 'SslightEmaUpdate';

function useNative(): boolean {
  return tf.getBackend() === 'wasm' && !!nativeKernels()?.emaUpdate && tf.getKernel(EMA_UPDATE, 'wasm') != null;
}

/** Registers the wasm kernel emaAssign uses with the native addon. Idempotent. */
export function registerEmaKernels(): void {
  if (tf.getKernel(EMA_UPDATE, 'wasm')) return;
  tf.registerKernel({
    kernelName: EMA_UPDATE,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const be = backend as BackendWasm;
      const { m, count } = attrs as unknown as { m: number; count: number };
      const ins = inputs as Record<string, tf.TensorInfo>;
      const outs: tf.TensorInfo[] = [];
      for (let i = 0; i < count; i++) outs.push(be.makeOutput(ins[`t${i}`].shape.slice(), 'float32'));
      // Read the heap after allocating: growing the wasm memory replaces its ArrayBuffer.
      const heap = (be.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8.buffer as ArrayBuffer;
      const off = (t: tf.TensorInfo) => be.getMemoryOffset(t.dataId);
      const offsets: number[] = [];
      const counts: number[] = [];
      for (let i = 0; i < count; i++) {
        offsets.push(off(ins[`t${i}`]), off(ins[`o${i}`]), off(outs[i]));
        counts.push(tf.util.sizeFromShape(outs[i].shape));
      }
      nativeKernels()!.emaUpdate!(heap, offsets, counts, m);
      return outs;
    },
  });
}
