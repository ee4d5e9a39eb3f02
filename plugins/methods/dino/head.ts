import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../../../src/core/rng';
import { gelu } from '../../../src/nn/activations';
import { kaimingUniform } from '../../../src/nn/init';
import { Linear } from '../../../src/nn/linear';
import { Module } from '../../../src/nn/module';
import { buildMlp, type Layer2D } from '../../../src/nn/sequential';
import { l2Normalize, normAlong } from '../common/normalize';

export interface DinoHeadOptions {
  inDim: number;
  outDim: number;
  /** BatchNorm1d after the hidden Linears (SSLight's CNN recipe; DINO's ViT recipe has none). */
  useBn?: boolean;
  /** Freeze weight_g at 1 (DINO default), so the last layer is a pure cosine classifier. */
  normLastLayer?: boolean;
  nLayers?: number;
  hiddenDim?: number;
  bottleneckDim?: number;
}

/**
 * nn.utils.weight_norm(nn.Linear(in, out, bias=False)): W = g * v / ||v|| per output unit.
 * Ours: v is [in, out] (torch [out, in]) and g is [1, out] (torch [out, 1]); both use the
 * 'linear' layout so the state dict holds torch's shapes.
 */
export class WeightNormLinear extends Module {
  readonly weightG: tf.Variable;
  readonly weightV: tf.Variable;

  constructor(readonly inFeatures: number, readonly outFeatures: number, rng: Rng, trainableG: boolean) {
    super();
    // weight_g = 1 (DINO fills it after weight_norm); weight_v keeps torch's default Linear init.
    this.weightG = this.addParam('weight_g', tf.ones([1, outFeatures]), 'weight', 'linear', trainableG);
    this.weightV = this.addParam('weight_v', kaimingUniform([inFeatures, outFeatures], inFeatures, rng), 'weight', 'linear');
  }

  /** The effective weight g * v / ||v||, [in, out]. */
  effectiveWeight(): tf.Tensor2D {
    return tf.tidy(() => tf.mul(this.weightG, tf.div(this.weightV, normAlong(this.weightV, 0))) as tf.Tensor2D);
  }

  forward(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => tf.matMul(x, this.effectiveWeight()));
  }
}

/**
 * DINOHead: Linear-(BN)-GELU x (nLayers-1), Linear to the bottleneck, L2-normalise, then a
 * weight-normalised Linear without bias to outDim. Torch names: `mlp.<i>.*`,
 * `last_layer.weight_g`, `last_layer.weight_v`.
 */
export class DinoHead extends Module {
  readonly mlp: Layer2D;
  readonly lastLayer: WeightNormLinear;
  readonly outDim: number;

  constructor(opts: DinoHeadOptions, rng: Rng) {
    super();
    const { inDim, outDim, useBn = false, normLastLayer = true, hiddenDim = 2048, bottleneckDim = 256 } = opts;
    const nLayers = Math.max(opts.nLayers ?? 3, 1);
    this.outDim = outDim;
    // DINO's _init_weights: trunc_normal(std .02) weights and zero biases for the MLP Linears.
    const lin = (i: number, o: number) => new Linear(i, o, rng, { init: 'trunc_normal' });
    this.mlp = this.addModule(
      'mlp',
      buildMlp({ inDim, hiddenDim, outDim: bottleneckDim, nLayers, useBn, activation: gelu, linear: lin }),
    );
    this.lastLayer = this.addModule('last_layer', new WeightNormLinear(bottleneckDim, outDim, rng, !normLastLayer));
  }

  /** The MLP output before normalisation, [B, bottleneck]. */
  bottleneck(x: tf.Tensor2D): tf.Tensor2D {
    return this.mlp.forward(x);
  }

  /** [B, inDim] -> [B, outDim] logits; with ignoreLastLayer, the normalised bottleneck. */
  forward(x: tf.Tensor2D, opts: { ignoreLastLayer?: boolean } = {}): tf.Tensor2D {
    return tf.tidy(() => {
      const z = l2Normalize(this.bottleneck(x));
      return opts.ignoreLastLayer ? z : this.lastLayer.forward(z);
    });
  }

  /** Both outputs of one pass: the normalised bottleneck [B, bottleneck] and the logits [B, outDim]. */
  forwardWithEmbedding(x: tf.Tensor2D): { embedding: tf.Tensor2D; logits: tf.Tensor2D } {
    return tf.tidy(() => {
      const embedding = l2Normalize(this.bottleneck(x));
      return { embedding, logits: this.lastLayer.forward(embedding) };
    });
  }
}
