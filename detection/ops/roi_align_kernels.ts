import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { type Nhwc, type RoiAlignParams, roiAlignBackward, roiAlignForward } from './roi_align_compute';

/**
 * Forward kernel over L feature levels: inputs {rois [K,5] float32, levels [K] int32, f0 .. f{L-1}
 * [N,Hl,Wl,C] float32} -> [K, oh, ow, C]; RoI k is pooled from level levels[k] at that level's
 * spatial scale. Single-level RoIAlign is L = 1 with all levels 0.
 */
export const ROI_ALIGN = 'SslightRoiAlign';
/** Backward kernel for one level: inputs {dy [K,oh,ow,C], rois, levels}, attr `level` -> d f{level}. */
export const ROI_ALIGN_GRAD = 'SslightRoiAlignGrad';

export interface RoiAlignAttrs {
  pooledHeight: number;
  pooledWidth: number;
  samplingRatio: number;
  aligned: boolean;
  /** Spatial scale per level. */
  spatialScales: number[];
  /** Shapes [N, H, W, C] of the levels, flattened (4 per level). */
  featureShapes: number[];
  /** Gradient kernel only: the level whose gradient to compute. */
  level?: number;
}

interface Level {
  shape: Nhwc;
  p: RoiAlignParams;
}

function levelsOf(a: RoiAlignAttrs): Level[] {
  return a.spatialScales.map((spatialScale, l) => ({
    shape: a.featureShapes.slice(4 * l, 4 * l + 4) as Nhwc,
    p: { pooledHeight: a.pooledHeight, pooledWidth: a.pooledWidth, samplingRatio: a.samplingRatio, aligned: a.aligned, spatialScale },
  }));
}

/** RoI indices per level (levels checked in range). */
function groupByLevel(levels: ArrayLike<number>, numLevels: number): Int32Array[] {
  const counts = new Int32Array(numLevels);
  for (let k = 0; k < levels.length; k++) {
    const l = levels[k];
    if (!(l >= 0 && l < numLevels)) throw new Error(`roiAlign: roi ${k} is assigned level ${l}, but there are ${numLevels} level(s)`);
    counts[l]++;
  }
  const groups = Array.from(counts, (n) => new Int32Array(n));
  counts.fill(0);
  for (let k = 0; k < levels.length; k++) groups[levels[k]][counts[levels[k]]++] = k;
  return groups;
}

type KernelArgs = { inputs: Inputs; backend: unknown; attrs?: tf.NamedAttrMap };
/** The engine always passes every input the op was called with (runRoiAlign checks them). */
type Inputs = Record<string, tf.TensorInfo>;

/** Reads a kernel input's values: in place on the wasm heap, the stored array on cpu. */
type Reader = (t: tf.TensorInfo) => ArrayLike<number>;

/**
 * Checks every RoI's level and batch index and groups the RoIs by level. Runs before the kernel
 * allocates its output, so bad input throws without leaking a buffer.
 */
function prepare(inputs: Inputs, a: RoiAlignAttrs, read: Reader): { levels: Level[]; groups: Int32Array[] } {
  const levels = levelsOf(a);
  const rois = read(inputs.rois);
  const n = a.featureShapes[0];
  for (let k = 0; k < inputs.rois.shape[0]; k++) {
    const b = rois[5 * k];
    if (!(Number.isInteger(b) && b >= 0 && b < n)) {
      throw new Error(`roiAlign: roi ${k} has batch index ${b}, but the features hold ${n} image(s)`);
    }
  }
  return { levels, groups: groupByLevel(read(inputs.levels), levels.length) };
}

function forward(inputs: Inputs, prep: { levels: Level[]; groups: Int32Array[] }, read: Reader, out: Float32Array): void {
  const rois = read(inputs.rois);
  prep.levels.forEach((lv, l) => {
    const which = prep.groups[l];
    if (which.length > 0) roiAlignForward(read(inputs[`f${l}`]) as Float32Array, lv.shape, rois, which, lv.p, out);
  });
}

function backward(inputs: Inputs, a: RoiAlignAttrs, prep: { levels: Level[]; groups: Int32Array[] }, read: Reader, dx: Float32Array): void {
  const l = a.level!;
  const { levels, groups } = prep;
  roiAlignBackward(read(inputs.dy) as Float32Array, read(inputs.rois), groups[l], levels[l].shape, levels[l].p, dx);
}

function outShape(inputs: Inputs, a: RoiAlignAttrs): number[] {
  return [inputs.rois.shape[0], a.pooledHeight, a.pooledWidth, a.featureShapes[3]];
}

// wasm: the loops read the inputs and write the output in place on the wasm heap (no copies).
// Views are taken after the output is allocated: growing the heap replaces its buffer.
function wasmForward({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const be = backend as BackendWasm;
  const a = attrs as unknown as RoiAlignAttrs;
  const read: Reader = (t) => be.typedArrayFromHeap(t);
  const prep = prepare(inputs, a, read);
  const out = be.makeOutput(outShape(inputs, a), 'float32');
  if (inputs.rois.shape[0] > 0) forward(inputs, prep, read, be.typedArrayFromHeap(out) as Float32Array);
  return out;
}

function wasmBackward({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const be = backend as BackendWasm;
  const a = attrs as unknown as RoiAlignAttrs;
  const read: Reader = (t) => be.typedArrayFromHeap(t);
  const prep = prepare(inputs, a, read);
  const out = be.makeOutput(a.featureShapes.slice(4 * a.level!, 4 * a.level! + 4), 'float32');
  backward(inputs, a, prep, read, be.typedArrayFromHeap(out) as Float32Array);
  return out;
}

// Any backend that stores plain typed arrays (cpu: readSync is zero-copy): a new output buffer.
function hostForward({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const be = backend as tf.KernelBackend;
  const a = attrs as unknown as RoiAlignAttrs;
  const shape = outShape(inputs, a);
  const out = new Float32Array(tf.util.sizeFromShape(shape));
  const read: Reader = (t) => be.readSync(t.dataId) as Float32Array;
  if (inputs.rois.shape[0] > 0) forward(inputs, prepare(inputs, a, read), read, out);
  return { dataId: be.write(out, shape, 'float32'), shape, dtype: 'float32' };
}

function hostBackward({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const be = backend as tf.KernelBackend;
  const a = attrs as unknown as RoiAlignAttrs;
  const shape = a.featureShapes.slice(4 * a.level!, 4 * a.level! + 4);
  const out = new Float32Array(tf.util.sizeFromShape(shape));
  const read: Reader = (t) => be.readSync(t.dataId) as Float32Array;
  backward(inputs, a, prepare(inputs, a, read), read, out);
  return { dataId: be.write(out, shape, 'float32'), shape, dtype: 'float32' };
}

/**
 * Registers the RoIAlign kernels on the given backends (wasm: on the heap; any other backend
 * through readSync/write) and the forward's gradient: each level's by the backward kernel, zeros
 * for the RoIs and levels (no gradient flows to boxes, as in torchvision). Idempotent.
 */
export function registerRoiAlignKernels(backends: string[] = ['cpu', 'wasm']): void {
  for (const backendName of backends) {
    if (tf.getKernel(ROI_ALIGN, backendName)) continue;
    const wasm = backendName === 'wasm';
    tf.registerKernel({ kernelName: ROI_ALIGN, backendName, kernelFunc: (wasm ? wasmForward : hostForward) as tf.KernelFunc });
    tf.registerKernel({ kernelName: ROI_ALIGN_GRAD, backendName, kernelFunc: (wasm ? wasmBackward : hostBackward) as tf.KernelFunc });
  }
  if (tf.getGradient(ROI_ALIGN)) return;
  tf.registerGradient({
    kernelName: ROI_ALIGN,
    inputsToSave: ['rois', 'levels'],
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
      const [rois, levels] = saved;
      const a = attrs as unknown as RoiAlignAttrs;
      const grads: Record<string, () => tf.Tensor> = {
        rois: () => tf.zeros(rois.shape),
        levels: () => tf.zeros(levels.shape),
      };
      a.spatialScales.forEach((_, l) => {
        grads[`f${l}`] = () =>
          tf.engine().runKernel(ROI_ALIGN_GRAD, { dy: dy as tf.Tensor, rois, levels }, { ...attrs, level: l } as tf.NamedAttrMap) as tf.Tensor;
      });
      return grads;
    },
  });
}

/**
 * Runs the forward kernel: RoI k of `rois` [K, 5] pooled from `features[levels[k]]`. Checks
 * shapes; `levels` is int32 [K].
 */
export function runRoiAlign(
  features: tf.Tensor4D[],
  rois: tf.Tensor2D,
  levels: tf.Tensor1D,
  o: { outputSize: [number, number]; spatialScales: number[]; samplingRatio: number; aligned: boolean },
): tf.Tensor4D {
  const [oh, ow] = o.outputSize;
  if (!(Number.isInteger(oh) && oh > 0 && Number.isInteger(ow) && ow > 0)) {
    throw new Error(`roiAlign: outputSize must be two positive integers, got [${o.outputSize}]`);
  }
  if (!Number.isInteger(o.samplingRatio)) throw new Error(`roiAlign: samplingRatio must be an integer, got ${o.samplingRatio}`);
  if (features.length !== o.spatialScales.length || features.length === 0) {
    throw new Error(`roiAlign: ${features.length} feature map(s) for ${o.spatialScales.length} spatial scale(s)`);
  }
  for (const s of o.spatialScales) if (!(s > 0)) throw new Error(`roiAlign: spatialScale must be > 0, got ${s}`);
  features.forEach((f, l) => {
    if (f.rank !== 4 || f.dtype !== 'float32') {
      throw new Error(`roiAlign: features[${l}] must be a float32 [N, H, W, C] tensor, got ${f.dtype} [${f.shape}]`);
    }
    if (f.shape[0] !== features[0].shape[0] || f.shape[3] !== features[0].shape[3]) {
      throw new Error(`roiAlign: features[${l}] [${f.shape}] differs from features[0] [${features[0].shape}] in batch or channels`);
    }
  });
  if (rois.rank !== 2 || rois.shape[1] !== 5) {
    throw new Error(`roiAlign: rois must be [K, 5] (batchIndex, x1, y1, x2, y2), got [${rois.shape}]`);
  }
  if (levels.shape[0] !== rois.shape[0] || levels.dtype !== 'int32') {
    throw new Error(`roiAlign: levels must be int32 [${rois.shape[0]}], got ${levels.dtype} [${levels.shape}]`);
  }
  registerRoiAlignKernels([tf.getBackend()]);
  const attrs: RoiAlignAttrs = {
    pooledHeight: oh,
    pooledWidth: ow,
    samplingRatio: o.samplingRatio,
    aligned: o.aligned,
    spatialScales: o.spatialScales.slice(),
    featureShapes: features.flatMap((f) => f.shape),
  };
  return tf.tidy(() => {
    const inputs: tf.NamedTensorMap = { rois: rois.dtype === 'float32' ? rois : tf.cast(rois, 'float32'), levels };
    features.forEach((f, l) => (inputs[`f${l}`] = f));
    return tf.engine().runKernel(ROI_ALIGN, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D;
  });
}
