import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

type TensorInfo = tf.TensorInfo;

/**
 * Slice `x[begin : begin + size]` by copying contiguous runs inside the wasm heap. The shipped
 * Slice kernel first copies the whole input out of the heap (`readSync`), which costs more than
 * the slice itself; here each run is one `copyWithin` (a memmove), and the loop is per run
 * (per row at most), never per element.
 */
export function sliceOnHeap(backend: BackendWasm, x: TensorInfo, begin: number[], size: number[]): TensorInfo {
  const rank = x.shape.length;
  const out = backend.makeOutput(size.slice(), x.dtype);
  const total = tf.util.sizeFromShape(size);
  if (total === 0) return out;
  const bytesPer = tf.util.bytesPerElement(x.dtype);
  // Merge trailing dimensions that are taken whole into one contiguous run.
  let run = 1;
  let d = rank - 1;
  while (d >= 0 && begin[d] === 0 && size[d] === x.shape[d]) run *= x.shape[d--];
  if (d >= 0) run *= size[d];
  const outerRank = Math.max(d, 0);
  const strides = tf.util.computeStrides(x.shape); // element strides of x, length rank-1
  const stride = (i: number) => (i < rank - 1 ? strides[i] : 1);
  // Recompute the heap view after makeOutput: malloc may have grown (and replaced) the buffer.
  const heap = (backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8;
  const xBase = backend.getMemoryOffset(x.dataId);
  const oBase = backend.getMemoryOffset(out.dataId);
  let start = 0;
  for (let i = 0; i < rank; i++) start += begin[i] * stride(i);
  const runBytes = run * bytesPer;
  const idx = new Array<number>(outerRank).fill(0);
  const numRuns = total / run;
  for (let r = 0; r < numRuns; r++) {
    let off = start;
    for (let i = 0; i < outerRank; i++) off += idx[i] * stride(i);
    const src = xBase + off * bytesPer;
    heap.copyWithin(oBase + r * runBytes, src, src + runBytes);
    for (let i = outerRank - 1; i >= 0; i--) {
      if (++idx[i] < size[i]) break;
      idx[i] = 0;
    }
  }
  return out;
}

/**
 * Rotates a filter [KH, KW, ...] by 180 degrees (reverses the KH*KW taps), copying each tap's
 * contiguous block on the heap; the shipped Reverse kernel moves one element at a time.
 */
export function reverseTaps(backend: BackendWasm, w: TensorInfo): TensorInfo {
  const [kh, kw] = w.shape;
  const taps = kh * kw;
  const block = (tf.util.sizeFromShape(w.shape) / taps) * tf.util.bytesPerElement(w.dtype);
  const out = backend.makeOutput(w.shape.slice(), w.dtype);
  const heap = (backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8;
  const src = backend.getMemoryOffset(w.dataId);
  const dst = backend.getMemoryOffset(out.dataId);
  for (let t = 0; t < taps; t++) {
    const from = src + (taps - 1 - t) * block;
    heap.copyWithin(dst + t * block, from, from + block);
  }
  return out;
}
