import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { nativeKernels } from './native';

/** Hyper-parameters of one LARS step of one parameter. */
export interface LarsStepOptions {
  lr: number;
  /** Weight decay added to the gradient (0 = none). */
  weightDecay: number;
  momentum: number;
  eta: number;
  /** Layer-wise adaptation (trust ratio) on or off. */
  adapt: boolean;
}

/**
 * One LARS step of one parameter (DINO's utils.LARS):
 *   d = g + wd p;  q = eta ||p|| / ||d|| when adapting and both norms are > 0, else 1;
 *   mu' = momentum mu + q d;  p' = p - lr mu'.
 * Returns [p', mu'] (new tensors; the caller assigns them). On wasm with the native addon it is
 * one kernel of two passes over the parameter (norms, then update); elsewhere plain ops, the
 * norms as sqrt(sum(square)) (tf.norm goes through Pow(Abs), a scalar loop on wasm).
 */
export function larsStep(p: tf.Tensor, g: tf.Tensor, mu: tf.Tensor, o: LarsStepOptions): [tf.Tensor, tf.Tensor] {
  if (!tf.util.arraysEqual(p.shape, g.shape) || !tf.util.arraysEqual(p.shape, mu.shape)) {
    throw new Error(`larsStep: parameter [${p.shape}], gradient [${g.shape}] and momentum [${mu.shape}] differ`);
  }
  if (useNative() && p.dtype === 'float32' && g.dtype === 'float32' && mu.dtype === 'float32' && p.size > 0) {
    const attrs = { lr: o.lr, weightDecay: o.weightDecay, momentum: o.momentum, eta: o.eta, adapt: o.adapt };
    return tf.engine().runKernel(LARS_UPDATE, { p, g, mu }, attrs as unknown as tf.NamedAttrMap) as [tf.Tensor, tf.Tensor];
  }
  return tf.tidy(() => {
    let d: tf.Tensor = g;
    if (o.weightDecay !== 0) d = tf.add(d, tf.mul(p, o.weightDecay));
    if (o.adapt) {
      const pn = tf.sqrt(tf.sum(tf.square(p)));
      const dn = tf.sqrt(tf.sum(tf.square(d)));
      const one = tf.onesLike(pn);
      const q = tf.where(tf.greater(pn, 0), tf.where(tf.greater(dn, 0), tf.div(tf.mul(pn, o.eta), dn), one), one);
      d = tf.mul(d, q);
    }
    const newMu = tf.add(tf.mul(mu, o.momentum), d);
    return [tf.sub(p, tf.mul(newMu, o.lr)), newMu] as [tf.Tensor, tf.Tensor];
  });
}

const LARS_UPDATE = 'SslightLarsUpdate';

function useNative(): boolean {
  return tf.getBackend() === 'wasm' && !!nativeKernels()?.larsUpdate && tf.getKernel(LARS_UPDATE, 'wasm') != null;
}

/** Registers the wasm kernel larsStep uses with the native addon. Idempotent. */
export function registerLarsKernels(): void {
  if (tf.getKernel(LARS_UPDATE, 'wasm')) return;
  tf.registerKernel({
    kernelName: LARS_UPDATE,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const be = backend as BackendWasm;
      const { p, g, mu } = inputs as Record<string, tf.TensorInfo>;
      const a = attrs as unknown as LarsStepOptions;
      const pOut = be.makeOutput(p.shape.slice(), 'float32');
      const muOut = be.makeOutput(p.shape.slice(), 'float32');
      // Read the heap after allocating: growing the wasm memory replaces its ArrayBuffer.
      const heap = (be.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8.buffer as ArrayBuffer;
      const offs = [p, g, mu, pOut, muOut].map((t) => be.getMemoryOffset(t.dataId));
      nativeKernels()!.larsUpdate!(heap, offs, tf.util.sizeFromShape(p.shape), [a.lr, a.weightDecay, a.momentum, a.eta, a.adapt ? 1 : 0]);
      return [pOut, muOut];
    },
  });
}
