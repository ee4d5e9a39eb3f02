import * as tf from '@tensorflow/tfjs-core';
import type { Backbone } from '../core/interfaces';
import { throwIfStopRequested } from '../core/signals';

/**
 * One batch of single views (what `data/ImageLoader` yields in 'eval' mode: resize / centre crop,
 * normalised). Declared here structurally so src/eval does not import data/.
 */
export interface LabelledImageBatch {
  /** [B, size, size, 3]; extractFeatures disposes it. */
  images: tf.Tensor4D;
  labels: Int32Array;
}

export interface ExtractOptions {
  /** Images per backbone forward (default 64): each forward's activations are freed before the next. */
  chunk?: number;
  /** Called after every batch with the images done so far. */
  onProgress?: (done: number) => void;
}

export interface ExtractedFeatures {
  /** [N, featureDim], owned by the caller. */
  features: tf.Tensor2D;
  labels: Int32Array;
}

/**
 * Pooled backbone features of every image of a split: the backbone in eval mode (BN on running
 * statistics), forwards in chunks each inside its own tf.tidy, results copied to host memory
 * batch by batch, so the tensor count is the same after the call as before plus the one result.
 * The backbone's previous training mode is restored.
 */
export async function extractFeatures(
  backbone: Backbone,
  batches: AsyncIterable<LabelledImageBatch>,
  opts: ExtractOptions = {},
): Promise<ExtractedFeatures> {
  const chunk = opts.chunk ?? 64;
  if (!(Number.isInteger(chunk) && chunk > 0)) throw new RangeError(`feature chunk must be a positive integer, got ${chunk}`);
  const wasTraining = backbone.training;
  backbone.eval();
  const dim = backbone.featureDim;
  const parts: Float32Array[] = [];
  const labelParts: Int32Array[] = [];
  let n = 0;
  try {
    for await (const batch of batches) {
      try {
        throwIfStopRequested('feature extraction');
        const b = batch.images.shape[0];
        if (batch.labels.length !== b) throw new Error(`extractFeatures: ${batch.labels.length} labels for ${b} images`);
        for (let i = 0; i < b; i += chunk) {
          const rows = Math.min(chunk, b - i);
          const f = tf.tidy(() => backbone.forward(tf.slice(batch.images, [i, 0, 0, 0], [rows, -1, -1, -1])));
          try {
            if (f.shape.length !== 2 || f.shape[1] !== dim) {
              throw new Error(`extractFeatures: backbone returned shape [${f.shape}], expected [${rows}, ${dim}]`);
            }
            parts.push((await f.data()) as Float32Array);
          } finally {
            f.dispose();
          }
        }
        labelParts.push(Int32Array.from(batch.labels));
        n += b;
      } finally {
        batch.images.dispose();
      }
      opts.onProgress?.(n);
    }
  } finally {
    backbone.train(wasTraining);
  }
  const data = new Float32Array(n * dim);
  let off = 0;
  for (const p of parts) {
    data.set(p, off);
    off += p.length;
  }
  const labels = new Int32Array(n);
  off = 0;
  for (const l of labelParts) {
    labels.set(l, off);
    off += l.length;
  }
  return { features: tf.tensor2d(data, [n, dim], 'float32'), labels };
}

/**
 * At most `max` indices of [0, n), class-balanced and deterministic: classes take turns (in class
 * order), each giving its next index in dataset order, until `max` are taken; returned sorted.
 * A prefix or a stride would skew the classes of a dataset stored class by class (image folders)
 * or with cycling labels (the generated dataset). All indices when max is undefined or >= n.
 */
export function balancedSubset(n: number, labelOf: (index: number) => number, max: number | undefined): number[] {
  if (max === undefined || max >= n) return Array.from({ length: n }, (_, i) => i);
  if (!(Number.isInteger(max) && max > 0)) throw new RangeError(`subset size must be a positive integer, got ${max}`);
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const l = labelOf(i);
    const list = byClass.get(l);
    if (list) list.push(i);
    else byClass.set(l, [i]);
  }
  const lists = [...byClass.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => v);
  const out: number[] = [];
  for (let r = 0; out.length < max; r++) {
    for (const list of lists) {
      if (r < list.length && out.length < max) out.push(list[r]);
    }
  }
  return out.sort((a, b) => a - b);
}
