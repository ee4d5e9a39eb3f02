import * as tf from '@tensorflow/tfjs-core';
import { Module } from './module';
import { BatchNorm1d } from './batchnorm';

/** A layer with parameters that maps a [B, C] batch (Linear, BatchNorm1d, ...). */
export interface Layer2D extends Module {
  forward(x: tf.Tensor2D): tf.Tensor2D;
}

/**
 * torch's nn.Sequential for [B, C] MLPs: layers are registered under their torch index, so
 * parameter names match (`mlp.0.weight`, `mlp.3.bias`); a parameter-free activation takes an
 * index too but registers nothing, exactly as in torch's state dicts.
 */
export class Sequential extends Module {
  private readonly layers: Array<(x: tf.Tensor2D) => tf.Tensor2D> = [];

  add(index: number, layer: Layer2D | ((x: tf.Tensor2D) => tf.Tensor2D)): this {
    if (layer instanceof Module) {
      this.addModule(String(index), layer);
      this.layers.push((x) => layer.forward(x));
    } else {
      this.layers.push(layer);
    }
    return this;
  }

  forward(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => this.layers.reduce((h, f) => f(h), x));
  }
}

export interface MlpOptions {
  inDim: number;
  hiddenDim: number;
  outDim: number;
  /** Linear layers in all; 1 is a single Linear (registered directly, torch names `mlp.weight`). */
  nLayers: number;
  /** BatchNorm1d after each hidden Linear. */
  useBn: boolean;
  /**
   * BatchNorm1d without affine parameters after the last Linear (MoCo v3's `last_bn`): every
   * batch of outputs is centred, so no direction is shared by all embeddings.
   */
  lastBn?: boolean;
  /** Makes that last BN (default: BatchNorm1d without affine). */
  makeLastBn?: (dim: number) => Layer2D;
  activation: (x: tf.Tensor2D) => tf.Tensor2D;
  /** Makes each Linear (the methods differ in initialisation), called in layer order. */
  linear: (inDim: number, outDim: number) => Layer2D;
}

/**
 * The projection MLP every SSL head shares: (Linear - [BN] - activation) x (nLayers - 1), then
 * Linear to outDim [- BN without affine], with torch's Sequential indices (DINO, SwAV and MoCo-v2
 * heads; a single Linear registers directly unless `lastBn` wraps it).
 */
export function buildMlp(o: MlpOptions): Layer2D {
  const nLayers = Math.max(o.nLayers, 1);
  if (nLayers === 1 && !o.lastBn) return o.linear(o.inDim, o.outDim);
  const seq = new Sequential();
  let idx = 0;
  let dim = o.inDim;
  for (let l = 0; l < nLayers - 1; l++) {
    seq.add(idx++, o.linear(dim, o.hiddenDim));
    if (o.useBn) seq.add(idx++, new BatchNorm1d(o.hiddenDim));
    seq.add(idx++, o.activation);
    dim = o.hiddenDim;
  }
  seq.add(idx++, o.linear(dim, o.outDim));
  if (o.lastBn) seq.add(idx++, o.makeLastBn ? o.makeLastBn(o.outDim) : new BatchNorm1d(o.outDim, { affine: false }));
  return seq;
}
