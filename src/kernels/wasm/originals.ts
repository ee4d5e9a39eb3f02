import * as tf from '@tensorflow/tfjs-core';

/**
 * The wasm backend's shipped kernel configs, captured before we override any of them, so our
 * composites (and our fallbacks) can always call the original XNNPACK-backed implementation.
 */
const originals = new Map<string, tf.KernelConfig>();

/** Records the shipped kernel `name` (once) before it is replaced. */
export function rememberOriginal(name: string): tf.KernelConfig | undefined {
  if (!originals.has(name)) {
    const k = tf.getKernel(name, 'wasm');
    if (k) originals.set(name, k);
  }
  return originals.get(name);
}

/** The shipped wasm kernel `name`; throws when the backend has none (a kernel we must provide). */
export function baseKernel(name: string): tf.KernelConfig {
  const k = originals.get(name) ?? tf.getKernel(name, 'wasm');
  if (!k) throw new Error(`wasm backend has no kernel '${name}'`);
  return k;
}

/**
 * Replaces (or adds) the wasm kernel `name`. The original's setupFunc is kept so a backend
 * initialised after the override still wires up the original (our fallbacks call it).
 */
export function overrideKernel(name: string, kernelFunc: tf.KernelFunc): void {
  const original = rememberOriginal(name);
  if (tf.getKernel(name, 'wasm')) tf.unregisterKernel(name, 'wasm');
  tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc, setupFunc: original?.setupFunc });
}
