import * as tf from '@tensorflow/tfjs-core';
import type { Backbone, Optimizer } from '../core/interfaces';
import { registry } from '../core/registry';
import { parsePluginOptions } from '../core/config';
import { ConfigError } from '../core/errors';
import { throwIfStopRequested } from '../core/signals';
import type { Rng } from '../core/rng';
import { Module } from '../nn/module';
import { Linear } from '../nn/linear';
import { BatchNorm1d } from '../nn/batchnorm';
import { normal } from '../nn/init';

/**
 * DINO's eval_linear LinearClassifier: one Linear (weight N(0, 0.01), bias 0), names
 * `linear.weight` / `linear.bias`, optionally preceded by BatchNorm1d without affine parameters
 * (`bn.*`; MAE's linear probe does this, eps 1e-6), which rescales the frozen features.
 */
export class LinearClassifier extends Module {
  readonly linear: Linear;
  readonly bn: BatchNorm1d | null;

  constructor(readonly inFeatures: number, readonly numClasses: number, rng: Rng, opts: { bn?: boolean } = {}) {
    super();
    this.bn = opts.bn ? this.addModule('bn', new BatchNorm1d(inFeatures, { affine: false, eps: 1e-6 })) : null;
    this.linear = this.addModule('linear', new Linear(inFeatures, numClasses, rng, { init: 'trunc_normal' }));
    const w = normal([inFeatures, numClasses], 0.01, rng);
    this.linear.weight.assign(w);
    w.dispose();
  }

  /** Logits [B, numClasses]. */
  forward(features: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => this.linear.forward(this.bn ? this.bn.forward(features) : features));
  }
}

export interface LinearProbeOptions {
  numClasses: number;
  /** Optimizer plugin name and options (as a config's `optimizer` section); default `{name: 'lars'}`. */
  optimizer?: { name: string } & Record<string, unknown>;
  /** Schedule inputs of the optimizer (lr scaling by batch, warm-up and cosine length). */
  batchSize: number;
  epochs: number;
  stepsPerEpoch: number;
  /** BatchNorm1d (affine=False) before the Linear. Default false. */
  bn?: boolean;
  /**
   * Images per backbone forward (default 64). A forward keeps every layer's output until it
   * returns, so a large probe batch (DINO uses 1024) would otherwise need ~10 MiB per 64x64 image
   * on the wasm heap, whose 4 GiB ceiling fails silently; the features are concatenated.
   */
  featureChunk?: number;
  rng: Rng;
}

/**
 * The linear-evaluation protocol's training step: the backbone is frozen in eval mode (BN uses
 * its running statistics and does not update them), its pooled features are computed outside the
 * gradient scope (so no tape, no gradient through it), and only the classifier is trained with
 * cross-entropy by an optimizer plugin from the registry (LARS for CNNs in the paper). The
 * optimizer plugins must be registered first (import `plugins/optimizers` or `src/run/builtins`;
 * src/ does not import plugins/).
 */
export class LinearProbe {
  readonly classifier: LinearClassifier;
  readonly optimizer: Optimizer;
  private stepCount = 0;

  constructor(readonly backbone: Backbone, readonly opts: LinearProbeOptions) {
    if (opts.featureChunk !== undefined && !(Number.isInteger(opts.featureChunk) && opts.featureChunk > 0)) {
      throw new ConfigError('linear_probe.feature_chunk', `need a positive integer, got ${opts.featureChunk}`);
    }
    if (!(Number.isInteger(opts.numClasses) && opts.numClasses >= 2)) {
      throw new ConfigError('linear_probe.num_classes', `need an integer >= 2, got ${opts.numClasses}`);
    }
    backbone.eval();
    this.classifier = new LinearClassifier(backbone.featureDim, opts.numClasses, opts.rng, { bn: opts.bn ?? false });
    const choice = parsePluginOptions(registry, 'optimizer', 'optimizer', opts.optimizer ?? { name: 'lars' });
    this.optimizer = registry.get('optimizer', choice.name).create(choice.options, {
      params: this.classifier.namedParameters(),
      batchSize: opts.batchSize,
      epochs: opts.epochs,
      stepsPerEpoch: opts.stepsPerEpoch,
    });
  }

  /** Optimizer steps taken. */
  get steps(): number {
    return this.stepCount;
  }

  /**
   * Frozen pooled features [B, featureDim]; the backbone stays in eval mode. step() calls this
   * before tf.variableGrads, so the backbone's ops are not on the tape at all (tfjs has no
   * stop_gradient; the gradient is taken w.r.t. the classifier's variables only).
   */
  features(imagesNHWC: tf.Tensor4D): tf.Tensor2D {
    this.backbone.eval();
    const n = imagesNHWC.shape[0];
    const chunk = this.opts.featureChunk ?? 64;
    if (n <= chunk) return tf.tidy(() => this.backbone.forward(imagesNHWC));
    const parts: tf.Tensor2D[] = [];
    for (let i = 0; i < n; i += chunk) {
      const rows = Math.min(chunk, n - i);
      // One tidy per chunk, so each chunk's activations are freed before the next forward.
      parts.push(tf.tidy(() => this.backbone.forward(tf.slice(imagesNHWC, [i, 0, 0, 0], [rows, -1, -1, -1]))));
    }
    const out = tf.concat(parts, 0);
    tf.dispose(parts);
    return out;
  }

  /** One optimizer step on a batch; returns the cross-entropy before the update. */
  step(imagesNHWC: tf.Tensor4D, labels: ArrayLike<number> | tf.Tensor1D): number {
    throwIfStopRequested('linear probe');
    const hyper = this.optimizer.hyperAt(this.stepCount);
    this.classifier.train();
    const loss = tf.tidy(() => {
      const feats = this.features(imagesNHWC);
      const target = this.oneHot(labels, feats.shape[0]);
      const params = this.classifier.namedParameters().filter((p) => p.trainable);
      const { value, grads } = tf.variableGrads(
        () => crossEntropy(this.classifier.forward(feats), target),
        params.map((p) => p.variable),
      );
      this.optimizer.apply(new Map(params.map((p) => [p, grads[p.variable.name]])), hyper);
      return value;
    });
    const v = loss.dataSync()[0];
    loss.dispose();
    this.stepCount++;
    return v;
  }

  /** Top-1 accuracy in [0, 1] (classifier in eval mode: BN uses running statistics). */
  accuracy(imagesNHWC: tf.Tensor4D, labels: ArrayLike<number> | tf.Tensor1D): number {
    const wasTraining = this.classifier.training;
    this.classifier.eval();
    try {
      const correct = tf.tidy(() => {
        const pred = tf.argMax(this.classifier.forward(this.features(imagesNHWC)), 1);
        const truth = labels instanceof tf.Tensor ? tf.cast(labels, 'int32') : tf.tensor1d(Array.from(labels), 'int32');
        return tf.sum(tf.cast(tf.equal(pred, truth), 'float32'));
      });
      const n = imagesNHWC.shape[0];
      const c = correct.dataSync()[0];
      correct.dispose();
      return c / n;
    } finally {
      this.classifier.train(wasTraining);
    }
  }

  private oneHot(labels: ArrayLike<number> | tf.Tensor1D, batch: number): tf.Tensor2D {
    if (!(labels instanceof tf.Tensor)) {
      // tf.oneHot gives an all-zero row (loss 0) for an out-of-range label: refuse it instead.
      const bad = Array.from(labels).find((l) => !(Number.isInteger(l) && l >= 0 && l < this.opts.numClasses));
      if (bad !== undefined) throw new Error(`LinearProbe: label ${bad} is not in [0, ${this.opts.numClasses})`);
    }
    const t = labels instanceof tf.Tensor ? tf.cast(labels, 'int32') : tf.tensor1d(Array.from(labels), 'int32');
    if (t.shape[0] !== batch) throw new Error(`LinearProbe: ${t.shape[0]} labels for a batch of ${batch}`);
    return tf.cast(tf.oneHot(t as tf.Tensor1D, this.opts.numClasses), 'float32') as tf.Tensor2D;
  }

  dispose(): void {
    this.classifier.dispose();
    (this.optimizer as { dispose?: () => void }).dispose?.();
  }
}

/**
 * Mean cross-entropy of logits against one-hot targets, as -sum(onehot * logSoftmax): the
 * gather-based form needs UnsortedSegmentSum in its gradient, which wasm lacks.
 */
export function crossEntropy(logits: tf.Tensor2D, oneHot: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits, -1)), -1))) as tf.Scalar);
}
