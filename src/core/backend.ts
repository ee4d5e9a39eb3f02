import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, SslightError } from './errors';
import { installAllocationGuard } from './memory';
import { nativeStatus } from '../kernels/native';
import { registerWasmTrainingKernels } from '../kernels/wasm';
import { ensureGradients } from '../nn/gradients';

/**
 * Backend selection. Canonical names (what `--backend` takes, what runs report):
 * - `tensorflow-gpu`: @tensorflow/tfjs-node-gpu (libtensorflow with CUDA). Aliases: node-gpu, tfjs-node-gpu, gpu.
 * - `tensorflow`: @tensorflow/tfjs-node (libtensorflow on CPU). Aliases: node, tfjs-node.
 * - `wasm`: @tensorflow/tfjs-backend-wasm (XNNPACK, 1 thread) plus our training kernels.
 * - `cpu`: @tensorflow/tfjs-backend-cpu, pure JS; the reference, 100x slower than wasm for training.
 * Both node packages register tfjs's backend under the name 'tensorflow'; we report the GPU one
 * as `tensorflow-gpu` so a run says which library it used.
 */
export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';

/** In order of preference. */
export const BACKEND_ORDER: readonly BackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

const ALIASES: Record<string, BackendName> = {
  'tensorflow-gpu': 'tensorflow-gpu',
  'node-gpu': 'tensorflow-gpu',
  'tfjs-node-gpu': 'tensorflow-gpu',
  gpu: 'tensorflow-gpu',
  tensorflow: 'tensorflow',
  node: 'tensorflow',
  'tfjs-node': 'tensorflow',
  wasm: 'wasm',
  cpu: 'cpu',
};

const PACKAGES: Record<BackendName, string> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs-backend-cpu',
};

/** The name tfjs registers each backend under. */
const TFJS_NAME: Record<BackendName, string> = {
  'tensorflow-gpu': 'tensorflow',
  tensorflow: 'tensorflow',
  wasm: 'wasm',
  cpu: 'cpu',
};

export interface BackendProbe {
  name: BackendName;
  available: boolean;
  /** Why it does or does not load (for a failed require, the error's first line). */
  detail: string;
}

export interface BackendChoice {
  name: BackendName;
  /** Why this one: requested, or the first that loaded and which were skipped. */
  reason: string;
  probes: BackendProbe[];
}

/** Maps a user-facing name or alias to its canonical name; unknown names list the valid ones. */
export function canonicalBackendName(requested: string): BackendName {
  const name = ALIASES[requested.trim().toLowerCase()];
  if (!name) {
    throw new ConfigError(
      'backend',
      `unknown backend '${requested}'; valid: ${BACKEND_ORDER.join(', ')} ` +
        `(aliases: node-gpu, node, tfjs-node-gpu, tfjs-node, gpu)`,
    );
  }
  return name;
}

// require() results are cached by Node, so each package is loaded (and probed) once.
const loadResults = new Map<BackendName, BackendProbe>();

function firstLine(e: unknown): string {
  return String(e instanceof Error ? e.message : e).split('\n')[0];
}

function tryLoad(name: BackendName): BackendProbe {
  const cached = loadResults.get(name);
  if (cached) return cached;
  const pkg = PACKAGES[name];
  let probe: BackendProbe;
  if (name === 'tensorflow' && loadResults.get('tensorflow-gpu')?.available) {
    // Both packages bind the same backend name and native library; loading both in one process clashes.
    probe = { name, available: false, detail: `not loaded: ${PACKAGES['tensorflow-gpu']} already provides 'tensorflow'` };
  } else {
    try {
      // A runtime name: the optional packages have no type declarations here, and must not be bundled.
      const mod = require(pkg) as { version?: Record<string, string> };
      probe = { name, available: true, detail: describeLoaded(name, mod) };
    } catch (e) {
      const code = (e as { code?: string }).code;
      probe = {
        name,
        available: false,
        detail:
          code === 'MODULE_NOT_FOUND' && firstLine(e).includes(pkg)
            ? `${pkg} is not installed (optional dependency; its install step downloads libtensorflow): ${firstLine(e)}`
            : `${pkg} failed to load: ${firstLine(e)}`,
      };
    }
  }
  loadResults.set(name, probe);
  return probe;
}

function describeLoaded(name: BackendName, mod: { version?: Record<string, string> }): string {
  switch (name) {
    case 'tensorflow-gpu':
    case 'tensorflow':
      return `${PACKAGES[name]} loaded (tfjs-node ${mod.version?.['tfjs-node'] ?? '?'})`;
    case 'wasm': {
      const dist = path.dirname(require.resolve(PACKAGES.wasm));
      const simd = fs.existsSync(path.join(dist, 'tfjs-backend-wasm-simd.wasm'));
      const native = nativeStatus();
      return (
        `${PACKAGES.wasm} ${tf.version_core} loaded (${simd ? 'SIMD' : 'plain'} binary, 1 thread; XNNPACK plus our training ` +
        `kernels; native GEMM: ${native.available ? native.detail : `no, ${native.detail}`})`
      );
    }
    case 'cpu':
      return `${PACKAGES.cpu} loaded (pure JS; reference only, ~100x slower than wasm for training)`;
  }
}

/** Which backends load in this process and why the others do not. Loads each package once. */
export async function probeBackends(): Promise<BackendProbe[]> {
  return BACKEND_ORDER.map((n) => tryLoad(n));
}

export class BackendUnavailableError extends SslightError {}

/** Makes `name` the active tfjs backend; returns null on success, or why it failed. */
async function activate(name: BackendName): Promise<string | null> {
  const probe = tryLoad(name);
  if (!probe.available) return probe.detail;
  if (name === 'wasm') {
    registerWasmTrainingKernels();
    // The engine picks the shipped binary itself in Node (no setWasmPaths needed). Threads stay at
    // 1: Node builds have no wasm threads, and the forced threadpool only gains ~1.15x per step.
    const wasm = require(PACKAGES.wasm) as { setThreadsCount(n: number): void };
    try {
      wasm.setThreadsCount(1);
    } catch {
      // Already initialised: the count is fixed by then, and 1 is the only count Node gets.
    }
  }
  let ok = false;
  try {
    ok = await tf.setBackend(TFJS_NAME[name]);
    await tf.ready();
  } catch (e) {
    return `${TFJS_NAME[name]} did not initialise: ${firstLine(e)}`;
  }
  if (!ok || tf.getBackend() !== TFJS_NAME[name]) return `${TFJS_NAME[name]} did not initialise`;
  if (name === 'wasm') {
    // Gradients first, then our kernel pack (it re-asserts the gradient overrides it owns).
    await ensureGradients();
    registerWasmTrainingKernels();
    installAllocationGuard();
  } else {
    await ensureGradients();
  }
  return null;
}

/** The run-start line's reason, with the native kernels' state when they serve the backend (wasm). */
function withNative(name: BackendName, reason: string): string {
  if (name !== 'wasm') return reason;
  const native = nativeStatus();
  return `${reason}; native kernels: ${native.available ? native.detail : `no, ${native.detail}`}`;
}

/**
 * Selects and activates a backend. With `requested` (a canonical name or alias) that backend or
 * an error saying why it cannot load; otherwise the first of tensorflow-gpu, tensorflow, wasm, cpu
 * that loads.
 */
export async function selectBackend(requested?: string): Promise<BackendChoice> {
  if (requested != null && requested !== '' && requested !== 'auto') {
    const name = canonicalBackendName(requested);
    const failure = await activate(name);
    if (failure) throw new BackendUnavailableError(`backend '${name}' was requested but is unavailable: ${failure}`);
    return { name, reason: withNative(name, 'requested'), probes: await probeBackends() };
  }
  const skipped: string[] = [];
  for (const name of BACKEND_ORDER) {
    const failure = await activate(name);
    if (!failure) {
      const reason = skipped.length ? `first that loads; skipped ${skipped.join('; ')}` : 'first that loads';
      return { name, reason: withNative(name, reason), probes: await probeBackends() };
    }
    skipped.push(`${name} (${failure})`);
  }
  throw new BackendUnavailableError(`no tfjs backend could be activated: ${skipped.join('; ')}`);
}

/** Multi-line summary for `sslight info`: the active backend, then each candidate and why it (does not) load. */
export async function describeBackend(): Promise<string> {
  const probes = await probeBackends();
  const active = tf.getBackend();
  const lines = [`active backend: ${active ?? 'none'}`];
  for (const p of probes) lines.push(`  ${p.available ? 'yes' : 'no '} ${p.name.padEnd(15)} ${p.detail}`);
  return lines.join('\n');
}
