import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { baseKernel } from './originals';

type TensorInfo = tf.TensorInfo;

/** The parts of the emscripten module our kernels touch (the package types leave it loosely typed). */
export interface WasmModuleView {
  HEAPU8: Uint8Array;
  tfjs: { registerTensor(id: number, size: number, memoryOffset: number): void; disposeData(id: number): void };
}

export function wasmModule(backend: BackendWasm): WasmModuleView {
  return backend.wasm as unknown as WasmModuleView;
}

/**
 * Working space for one composite kernel: runs the backend's own (XNNPACK) kernels directly,
 * bypassing the engine (no tape, no per-op bookkeeping), and frees every intermediate when the
 * kernel ends. Usage: `const s = new Scratch(backend); try { ... return s.keep(out); } finally { s.dispose(); }`.
 */
export class Scratch {
  private readonly temps: TensorInfo[] = [];
  private readonly aliases: TensorInfo[] = [];

  constructor(readonly backend: BackendWasm) {}

  /** Runs the wasm backend's kernel `name` (the shipped one, never our override) and tracks its output. */
  run(name: string, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap = {}): TensorInfo {
    const out = baseKernel(name).kernelFunc({ inputs, backend: this.backend, attrs }) as TensorInfo;
    return this.track(out);
  }

  track(t: TensorInfo): TensorInfo {
    this.temps.push(t);
    return t;
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }

  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    return this.run('Transpose', { x }, { perm });
  }

  pad(x: TensorInfo, paddings: Array<[number, number]>): TensorInfo {
    if (paddings.every(([a, b]) => a === 0 && b === 0)) return x;
    return this.run('PadV2', { x }, { paddings, constantValue: 0 });
  }

  /** A float32 scalar on the heap. */
  scalar(value: number): TensorInfo {
    return this.track(this.backend.makeOutput([], 'float32', undefined, Float32Array.of(value)));
  }

  /**
   * A zero-copy view of `size(shape)` float32 elements of `base` starting at element `offset`.
   * It gets its own tensor id, so XNNPACK's operator caches keyed on it die with it (and do not
   * pin a packed copy of `base`). Released without freeing: the memory belongs to `base`.
   */
  alias(base: TensorInfo, offset: number, shape: number[]): TensorInfo {
    const size = tf.util.sizeFromShape(shape);
    const baseSize = tf.util.sizeFromShape(base.shape);
    if (offset < 0 || offset + size > baseSize) {
      throw new Error(`alias [${offset}, ${offset + size}) outside a tensor of ${baseSize} elements`);
    }
    const byteOffset = this.backend.getMemoryOffset(base.dataId) + offset * 4;
    const view = this.backend.makeOutput(shape, base.dtype, byteOffset);
    this.aliases.push(view);
    return view;
  }

  /** Frees a temporary now rather than at the end (keeps the heap peak low in loops). */
  free(t: TensorInfo): void {
    const i = this.temps.lastIndexOf(t);
    if (i < 0) return;
    this.temps.splice(i, 1);
    this.backend.disposeData(t.dataId);
  }

  /** Removes `t` from the scratch so it survives `dispose()` (the kernel's result). */
  keep(t: TensorInfo): TensorInfo {
    if (this.aliases.includes(t)) {
      // A view cannot outlive its base; hand back a real copy.
      return this.backend.makeOutput(t.shape, t.dtype, undefined, this.backend.typedArrayFromHeap(t).slice());
    }
    const i = this.temps.lastIndexOf(t);
    if (i >= 0) {
      this.temps.splice(i, 1);
      return t;
    }
    // An input handed back unchanged: the engine expects an output that owns a reference.
    this.backend.incRef(t.dataId);
    return { dataId: t.dataId, shape: t.shape, dtype: t.dtype };
  }

  dispose(): void {
    const mod = wasmModule(this.backend);
    for (const v of this.aliases) {
      const id = this.backend.dataIdMap.get(v.dataId).id;
      this.backend.dataIdMap.delete(v.dataId);
      mod.tfjs.disposeData(id);
    }
    this.aliases.length = 0;
    for (const t of this.temps) this.backend.disposeData(t.dataId);
    this.temps.length = 0;
  }
}

/** Runs `body` with a fresh Scratch and returns its result as a kernel output. */
export function withScratch(backend: BackendWasm, body: (s: Scratch) => TensorInfo): TensorInfo {
  const s = new Scratch(backend);
  try {
    return s.keep(body(s));
  } finally {
    s.dispose();
  }
}

/** What the engine passes a kernel function. */
export interface WasmKernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}

/** The named inputs of a kernel call, each checked present. */
export function requireInputs<K extends string>(args: WasmKernelArgs, ...names: K[]): Record<K, TensorInfo> {
  const out = {} as Record<K, TensorInfo>;
  for (const name of names) {
    const t = args.inputs[name];
    if (t == null) throw new Error(`kernel input '${name}' is missing`);
    out[name] = t;
  }
  return out;
}
