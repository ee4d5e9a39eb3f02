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

/** Wrap host buffers as tensors [B, S, S, 3]; the caller owns the batch (and calls dispose()). */
export function toViewBatch(h: HostBatch): ViewBatch {
  const b = h.labels.length;
  return makeViewBatch({
    globals: h.globals.map((d) => tf.tensor4d(d, [b, h.globalSize, h.globalSize, 3], 'float32')),
    locals: h.locals.map((d) => tf.tensor4d(d, [b, h.localSize, h.localSize, 3], 'float32')),
    labels: h.labels,
    stats: { ...h.stats },
  });
}

/** A ViewBatch over existing view tensors; its dispose() releases them. batchSize = labels.length. */
export function makeViewBatch(parts: Pick<ViewBatch, 'globals' | 'locals' | 'labels'> & { stats?: Record<string, number> }): ViewBatch {
  const { globals, locals, labels } = parts;
  return {
    globals,
    locals,
    labels,
    batchSize: labels.length,
    stats: parts.stats ?? {},
    dispose() {
      for (const t of globals) t.dispose();
      for (const t of locals) t.dispose();
    },
  };
}
