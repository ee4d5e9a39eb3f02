import * as tf from '@tensorflow/tfjs-core';
import type { ViewBatch } from '../src/core/interfaces';

/** A batch of views still in host memory: one flat NHWC buffer per view slot. */
export interface HostBatch {
  epoch: number;
  index: number;
  /** Dataset indices actually used (after replacing unreadable items). */
  indices: Int32Array;
  labels: Int32Array;
  globalSize: number;
  localSize: number;
  /** nGlobal buffers of B*GC*GC*3 floats. */
  globals: Float32Array[];
  /** nLocal buffers of B*LC*LC*3 floats. */
  locals: Float32Array[];
  stats: Record<string, number>;
}

/** Wrap host buffers as tensors [B, S, S, 3]; the caller owns (and disposes) them. */
export function toViewBatch(h: HostBatch): ViewBatch {
  const b = h.labels.length;
  return {
    globals: h.globals.map((d) => tf.tensor4d(d, [b, h.globalSize, h.globalSize, 3], 'float32')),
    locals: h.locals.map((d) => tf.tensor4d(d, [b, h.localSize, h.localSize, 3], 'float32')),
    labels: h.labels,
    batchSize: b,
    stats: { ...h.stats },
  };
}
