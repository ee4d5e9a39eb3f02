import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/**
 * The optional native addon (see native_addon.c / build.sh): OpenBLAS sgemm and depth-wise
 * convolution gradients, working in place on the wasm heap at byte offsets.
 * The GEMMs and convolutions split over the addon's own threads: SSLIGHT_NATIVE_THREADS, else the
 * cores up to DEFAULT_NATIVE_THREADS_CAP.
 */
export interface NativeKernels {
  /** C = op(A) @ op(B), row-major float32. */
  sgemm(heap: ArrayBuffer, transA: boolean, transB: boolean, m: number, n: number, k: number, aOff: number, bOff: number, cOff: number): void;
  /** geom = [N, H, W, C, OH, OW, KH, KW, strideH, strideW, padTop, padLeft]; channel multiplier 1. */
  dwFilterGrad?(heap: ArrayBuffer, xOff: number, dyOff: number, outOff: number, geom: number[]): void;
  dwInputGrad?(heap: ArrayBuffer, dyOff: number, wOff: number, outOff: number, geom: number[]): void;
  /** dy where 0 < x <= 6, else 0. */
  relu6Grad?(heap: ArrayBuffer, dyOff: number, xOff: number, outOff: number, count: number): void;
  /** Offsets of [x, gamma, beta, y, mean, var]; x and y are [m, c]. */
  bnTrain?(heap: ArrayBuffer, offsets: number[], m: number, c: number, eps: number): void;
  /** cgeom = [N, H, W, Ci, OH, OW, Co, KH, KW, strideH, strideW, padTop, padLeft]; offsets of [x, w, y]. */
  conv2d?(heap: ArrayBuffer, offsets: number[], cgeom: number[]): void;
  /** Offsets of [x, dy, dw]. */
  conv2dFilterGrad?(heap: ArrayBuffer, offsets: number[], cgeom: number[]): void;
  /** Offsets of [dy, w, dx]. */
  conv2dInputGrad?(heap: ArrayBuffer, offsets: number[], cgeom: number[]): void;
  /** Offsets of [dy, x, mean, var, gamma, dx, dgamma, dbeta]. */
  bnTrainGrad?(heap: ArrayBuffer, offsets: number[], m: number, c: number, eps: number): void;
  /** Max-pool input gradient (first maximum of each window takes dy); geom as dwFilterGrad's. */
  maxPoolGrad?(heap: ArrayBuffer, xOff: number, dyOff: number, dxOff: number, geom: number[]): void;
  /** out = exp(x) for n float32 values (vectorised; <= 2 ulp, results below FLT_MIN are 0). */
  expf?(heap: ArrayBuffer, xOff: number, outOff: number, n: number): void;
  /** Offsets of [p, g, mu, pOut, muOut]; hyper = [lr, wd, momentum, eta, adapt (0/1)]. One LARS step. */
  larsUpdate?(heap: ArrayBuffer, offsets: number[], n: number, hyper: number[]): void;
  /** Offsets of [t, o, out] per pair and element counts: out = m t + (1 - m) o. */
  emaUpdate?(heap: ArrayBuffer, offsets: number[], counts: number[], m: number): void;
  /** Threads for sgemm and the convolutions; operations under minWork multiply-adds (default 4e6) stay on one. */
  setThreads(n: number, minWork?: number): void;
  getThreads(): number;
  /**
   * Which 3x3 stride-1 "same" convolutions (and gradients) run as Winograd F(2x2, 3x3): 0 none,
   * 1 the shapes where it is faster than im2col + sgemm (the default), 2 all of them.
   */
  setWinograd?(policy: 0 | 1 | 2): void;
  /** OpenBLAS's kernel set (Haswell, SkylakeX, ...). */
  blasCore?(): string;
}

export interface NativeStatus {
  available: boolean;
  detail: string;
}

const ADDON = path.join('build', 'native', 'sslight_native.node');

let loaded: { gemm: NativeKernels | null; status: NativeStatus } | null = null;

/** build/native/sslight_native.node in the first ancestor of this file that has it. */
function findAddon(): string | null {
  const override = process.env.SSLIGHT_NATIVE_PATH;
  if (override) return override;
  let dir = __dirname;
  for (let i = 0; i < 8; i++) {
    const candidate = path.join(dir, ADDON);
    if (fs.existsSync(candidate)) return candidate;
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return null;
}

/** Default threads: the cores (at most 4: the split work is per convolution, small beyond that). */
export const DEFAULT_NATIVE_THREADS_CAP = 4;

/** Threads from SSLIGHT_NATIVE_THREADS (a positive whole number), else the cores up to the cap. */
export function nativeThreads(env: string | undefined): { threads: number; note: string } {
  const cores = Math.max(1, Math.min(DEFAULT_NATIVE_THREADS_CAP, os.availableParallelism?.() ?? os.cpus().length));
  if (env === undefined || env.trim() === '') return { threads: cores, note: '' };
  const n = Number(env);
  if (Number.isInteger(n) && n > 0) return { threads: n, note: ' (SSLIGHT_NATIVE_THREADS)' };
  return { threads: cores, note: ` (SSLIGHT_NATIVE_THREADS='${env}' is not a positive whole number: ignored)` };
}

/** SSLIGHT_WINOGRAD: `0` turns the Winograd convolutions off (for comparisons); on otherwise. */
export function winogradSetting(env: string | undefined): { enabled: boolean; note: string } {
  const v = env?.trim() ?? '';
  if (v === '' || v === '1') return { enabled: true, note: '' };
  if (v === '0') return { enabled: false, note: ' (SSLIGHT_WINOGRAD=0)' };
  return { enabled: true, note: ` (SSLIGHT_WINOGRAD='${env}' is not 0 or 1: ignored)` };
}

const AVX512_FLAGS = ['avx512f', 'avx512cd', 'avx512dq', 'avx512bw', 'avx512vl'];
const AVX512_CORES = ['skylakex', 'cooperlake', 'sapphirerapids'];

/**
 * What the status says of OPENBLAS_CORETYPE (`env`), given /proc/cpuinfo's text. OpenBLAS picks
 * its kernels itself when it loads (on the development VM's EPYC: Cooperlake); a core pinned by
 * the environment is kept, but on an AVX-512 CPU a pin to an older set (the VM pins Haswell) runs
 * sgemm 1.5-1.9x slower (95-108 against 154-202 GFLOP/s per core there), so the note says so.
 */
export function openblasCoreNote(cpuinfo: string, env: string | undefined): string {
  const given = env?.trim() ?? '';
  if (given === '') return '';
  const flags = new Set((/^flags\s*:(.*)$/m.exec(cpuinfo)?.[1] ?? '').trim().split(/\s+/));
  if (AVX512_FLAGS.every((f) => flags.has(f)) && !AVX512_CORES.includes(given.toLowerCase())) {
    return ` (OPENBLAS_CORETYPE=${given} from the environment; this CPU has AVX-512, where OpenBLAS's own choice, or SkylakeX, runs sgemm 1.5-1.9x faster)`;
  }
  return ' (OPENBLAS_CORETYPE from the environment)';
}

function readCpuinfo(): string {
  try {
    return fs.readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return '';
  }
}

function load(): { gemm: NativeKernels | null; status: NativeStatus } {
  if (process.env.SSLIGHT_NATIVE === '0') return { gemm: null, status: { available: false, detail: 'disabled by SSLIGHT_NATIVE=0' } };
  const file = findAddon();
  if (!file) {
    return { gemm: null, status: { available: false, detail: `not built (sh src/kernels/native/build.sh; needs libopenblas-dev)` } };
  }
  try {
    const gemm = require(file) as NativeKernels;
    const { threads, note } = nativeThreads(process.env.SSLIGHT_NATIVE_THREADS);
    gemm.setThreads(threads);
    const winograd = winogradSetting(process.env.SSLIGHT_WINOGRAD);
    gemm.setWinograd?.(winograd.enabled ? 1 : 0);
    const dw = typeof gemm.dwFilterGrad === 'function' ? ' + depth-wise gradients' : '';
    const wino = gemm.setWinograd ? `, Winograd 3x3 convolutions ${winograd.enabled ? 'on' : 'off'}${winograd.note}` : '';
    const blas = gemm.blasCore ? `, OpenBLAS core ${gemm.blasCore()}${openblasCoreNote(readCpuinfo(), process.env.OPENBLAS_CORETYPE)}` : '';
    return { gemm, status: { available: true, detail: `OpenBLAS sgemm${dw} addon, ${gemm.getThreads()} thread(s)${note}${wino}${blas}, ${file}` } };
  } catch (e) {
    const msg = String(e instanceof Error ? e.message : e).split('\n')[0];
    return { gemm: null, status: { available: false, detail: `failed to load ${file}: ${msg}` } };
  }
}

/** The addon, or null when it is not built, fails to load, or SSLIGHT_NATIVE=0. Loaded once. */
export function nativeKernels(): NativeKernels | null {
  loaded ??= load();
  return loaded.gemm;
}

export function nativeStatus(): NativeStatus {
  loaded ??= load();
  return loaded.status;
}

/** For tests: forget the loaded state so the environment is read again. */
export function resetNativeForTests(): void {
  loaded = null;
}
