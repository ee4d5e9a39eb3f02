import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from '../../../src/kernels/wasm';
import { ensureGradients } from '../../../src/nn/gradients';
import { nativeKernels, resetNativeForTests } from '../../../src/kernels/native';

/** Deterministic values in [-1, 1) (a small LCG), so cpu and wasm see identical inputs. */
export function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

export interface Operand {
  shape: number[];
  seed: number;
}

/**
 * Value and gradients of `sum(f(...xs) * r)` (r a fixed random cotangent) with respect to every
 * operand, computed on `backend`: the upstream gradient of f's output is exactly r.
 */
export async function valueAndGrads(
  backend: 'cpu' | 'wasm',
  f: (...xs: tf.Tensor[]) => tf.Tensor,
  operands: Operand[],
): Promise<{ y: Float32Array; grads: Float32Array[] }> {
  await ensureGradients();
  if (backend === 'wasm') registerWasmTrainingKernels();
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const xs = operands.map((o) => tf.tensor(values(tf.util.sizeFromShape(o.shape), o.seed), o.shape));
    const y = f(...xs);
    const r = tf.tensor(values(y.size, 977), y.shape);
    const g = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(f(...a), r)));
    const grads = g(xs).map((t) => t.dataSync() as Float32Array);
    return { y: y.dataSync() as Float32Array, grads };
  });
}

/** Largest |a - e| / (atol + |e|) over all elements: <= rtol means within tolerance. */
export function maxRelErr(a: ArrayLike<number>, e: ArrayLike<number>, atol = 1e-3): number {
  let worst = 0;
  for (let i = 0; i < e.length; i++) worst = Math.max(worst, Math.abs(a[i] - e[i]) / (atol + Math.abs(e[i])));
  return worst;
}

/**
 * The wasm kernel paths to test: the XNNPACK compositions always, and the native addon's when
 * it is built here. `inMode` runs `body` with that choice in force.
 */
export type KernelMode = 'xnnpack' | 'native' | 'native, 2 threads' | 'native, Winograd' | 'native, Winograd, 2 threads';

export function kernelModes(opts: { threads?: boolean; winograd?: boolean } = {}): KernelMode[] {
  if (!nativeKernels()) return ['xnnpack'];
  const modes: KernelMode[] = opts.threads ? ['xnnpack', 'native', 'native, 2 threads'] : ['xnnpack', 'native'];
  if (opts.winograd && nativeKernels()?.setWinograd) modes.push('native, Winograd', ...(opts.threads ? (['native, Winograd, 2 threads'] as const) : []));
  return modes;
}

/**
 * Runs `body` with that kernel path in force; '2 threads' splits even the tiny test shapes
 * (minWork 0), 'Winograd' sends every 3x3 stride-1 "same" convolution there whatever its size.
 * Loading the addon again (resetNativeForTests) restores the defaults afterwards.
 */
export async function inMode<T>(mode: KernelMode, body: () => Promise<T>): Promise<T> {
  const saved = process.env.SSLIGHT_NATIVE;
  if (mode === 'xnnpack') process.env.SSLIGHT_NATIVE = '0';
  resetNativeForTests();
  if (mode.endsWith('2 threads')) nativeKernels()?.setThreads(2, 0);
  if (mode.startsWith('native, Winograd')) nativeKernels()?.setWinograd?.(2);
  try {
    return await body();
  } finally {
    if (mode.endsWith('2 threads')) nativeKernels()?.setThreads(1, 4e6);
    if (saved === undefined) delete process.env.SSLIGHT_NATIVE;
    else process.env.SSLIGHT_NATIVE = saved;
    resetNativeForTests();
  }
}
