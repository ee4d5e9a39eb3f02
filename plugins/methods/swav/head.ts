import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../../../src/core/rng';
import { relu } from '../../../src/nn/activations';
import { normal, zeros } from '../../../src/nn/init';
import { Linear } from '../../../src/nn/linear';
import { Module } from '../../../src/nn/module';
import { RowGroupBatchNorm1d } from '../../../src/nn/batchnorm';
import { buildMlp, type Layer2D } from '../../../src/nn/sequential';

export interface SwavHeadOptions {
  inDim: number;
  /** Projection output (SwAV feat_dim / SSLight OUTPUT_DIM), 128. */
  featDim?: number;
  /** Hidden width of the projection MLP (SwAV hidden_mlp 2048; SSLight's configs 4096). */
  hiddenDim?: number;
  /** Linear layers in the projection (2: Linear-BN-ReLU-Linear). */
  nLayers?: number;
  useBn?: boolean;
  /** Number of prototypes K (3000). */
  nPrototypes?: number;
  /** BatchNorm1d without affine after the projection's last Linear, before the L2 norm (off in SwAV). */
  lastBn?: boolean;
  /** That BN's statistics per resolution group (globals apart from locals) instead of over all views. */
  lastBnPerResolution?: boolean;
}

/**
 * F.normalize(x, dim=-1): x / max(||x||, eps), rows of a [N, D] matrix, computed as
 * x / sqrt(max(sum(x^2), eps^2)) (the same value): written with sqrt outside the max, a zero row
 * (all ReLUs off before the last Linear with zero bias) gets sqrt's infinite slope at 0 times a
 * zero gradient = NaN, where torch's normalize gives dy / eps.
 */
export function normalizeRows(x: tf.Tensor2D, eps = 1e-12): tf.Tensor2D {
  return tf.tidy(() => tf.div(x, tf.sqrt(tf.maximum(tf.sum(tf.square(x), -1, true), eps * eps))) as tf.Tensor2D);
}

/** SSLight's MLP wrapper (`projection.mlp.<i>`), so checkpoint names match theirs. */
class Projection extends Module {
  readonly mlp: Layer2D;

  constructor(mlp: Layer2D) {
    super();
    this.mlp = this.addModule('mlp', mlp);
  }

  forward(x: tf.Tensor2D): tf.Tensor2D {
    return this.mlp.forward(x);
  }
}

export type SwavHeadOutput = {
  /** L2-normalised projections z, [N, featDim]. */
  embedding: tf.Tensor2D;
  /** z @ C^T: cosine scores against the (normalised) prototypes, [N, K]. */
  scores: tf.Tensor2D;
};

/**
 * SwAV's head as SSLight builds it (SWAVHead): projection MLP Linear-(BN)-ReLU x (nLayers-1) then
 * Linear to featDim, L2 normalisation, and the prototypes, a Linear without bias whose weight rows
 * (torch [K, featDim]; ours [featDim, K], so its columns) are L2-normalised by `normalizePrototypes`
 * before every forward (the method calls it at construction and after every optimizer step).
 * Init as SSLight's SWAV model: every Linear N(0, 0.01), zero biases. Torch names:
 * `projection.mlp.<i>.*`, `prototypes.weight`.
 */
export class SwavHead extends Module {
  readonly projection: Projection;
  readonly prototypes: Linear;
  readonly featDim: number;
  readonly nPrototypes: number;
  private groupedBn: RowGroupBatchNorm1d | null = null;

  constructor(opts: SwavHeadOptions, rng: Rng) {
    super();
    const { inDim, featDim = 128, hiddenDim = 2048, useBn = true, nPrototypes = 3000, lastBn = false } = opts;
    const nLayers = Math.max(opts.nLayers ?? 2, 1);
    this.featDim = featDim;
    this.nPrototypes = nPrototypes;
    const lin = (i: number, o: number, bias = true) => {
      const l = new Linear(i, o, rng, { bias });
      l.weight.assign(tf.tidy(() => normal([i, o], 0.01, rng)));
      if (l.bias) l.bias.assign(tf.tidy(() => zeros([o])));
      return l;
    };
    const makeLastBn = opts.lastBnPerResolution
      ? (dim: number) => (this.groupedBn = new RowGroupBatchNorm1d(dim, { affine: false }))
      : undefined;
    const mlp = buildMlp({ inDim, hiddenDim, outDim: featDim, nLayers, useBn, lastBn, makeLastBn, activation: relu, linear: lin });
    this.projection = this.addModule('projection', new Projection(mlp));
    this.prototypes = this.addModule('prototypes', lin(featDim, nPrototypes, false));
    this.normalizePrototypes();
  }

  /** SwAV's `w = normalize(prototypes.weight, dim=1); prototypes.weight.copy_(w)`, in place. */
  normalizePrototypes(): void {
    const w = this.prototypes.weight;
    tf.tidy(() => {
      w.assign(tf.div(w, tf.maximum(tf.sqrt(tf.sum(tf.square(w), 0, true)), 1e-12)));
    });
  }

  /**
   * Features [N, inDim] -> L2-normalised embedding and prototype scores. `rowGroups` (the resolution
   * groups' row counts) matter only with lastBnPerResolution.
   */
  forward(x: tf.Tensor2D, rowGroups?: number[]): SwavHeadOutput {
    if (this.groupedBn) this.groupedBn.rowGroups = rowGroups ?? null;
    try {
      return tf.tidy(() => {
        const embedding = normalizeRows(this.projection.forward(x));
        return { embedding, scores: this.prototypes.forward(embedding) };
      });
    } finally {
      if (this.groupedBn) this.groupedBn.rowGroups = null;
    }
  }
}
