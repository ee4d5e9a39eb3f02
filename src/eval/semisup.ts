import * as tf from '@tensorflow/tfjs-core';
import type { Backbone, Optimizer } from '../core/interfaces';
import { registry } from '../core/registry';
import { parsePluginOptions } from '../core/config';
import { ConfigError } from '../core/errors';
import { Rng } from '../core/rng';
import { LinearClassifier, crossEntropy } from './linear_probe';

/**
 * The labelled subset of semi-supervised evaluation: `percent`% of every class (at least one
 * image), chosen by a fixed-seed shuffle within the class, so every run and recipe fine-tunes on
 * the same images. Returns sorted dataset indices.
 */
export function labelledSubset(n: number, labelOf: (i: number) => number, percent: number, seed = 0): number[] {
  if (!(percent > 0 && percent <= 100)) throw new RangeError(`labelled subset: percent must be in (0, 100], got ${percent}`);
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const l = labelOf(i);
    const list = byClass.get(l);
    if (list) list.push(i);
    else byClass.set(l, [i]);
  }
  const out: number[] = [];
  for (const [label, list] of [...byClass.entries()].sort((a, b) => a[0] - b[0])) {
    // One stream per class: adding a class never changes the others' picks.
    const perm = new Rng(seed * 1000003 + label).permutation(list.length);
    const take = Math.max(1, Math.round((list.length * percent) / 100));
    for (let j = 0; j < take; j++) out.push(list[perm[j]]);
  }
  return out.sort((a, b) => a - b);
}

export interface FineTuneOptions {
  numClasses: number;
  /** Optimizer plugin and options (a config's `optimizer` section); registered plugins only. */
  optimizer: { name: string } & Record<string, unknown>;
  batchSize: number;
  epochs: number;
  stepsPerEpoch: number;
  rng: Rng;
}

/**
 * Fine-tuning of the whole network (Appendix B): backbone in training mode (BN on batch
 * statistics, running statistics updated) plus a linear classifier on its pooled features,
 * all parameters updated by one optimizer against the cross-entropy.
 */
export class FineTuner {
  readonly classifier: LinearClassifier;
  readonly optimizer: Optimizer;
  private stepCount = 0;

  constructor(readonly backbone: Backbone, readonly opts: FineTuneOptions) {
    if (!(Number.isInteger(opts.numClasses) && opts.numClasses >= 2)) {
      throw new ConfigError('semisup.num_classes', `need an integer >= 2, got ${opts.numClasses}`);
    }
    this.classifier = new LinearClassifier(backbone.featureDim, opts.numClasses, opts.rng);
    const choice = parsePluginOptions(registry, 'optimizer', 'optimizer', opts.optimizer);
    this.optimizer = registry.get('optimizer', choice.name).create(choice.options, {
      params: this.params(),
      batchSize: opts.batchSize,
      epochs: opts.epochs,
      stepsPerEpoch: opts.stepsPerEpoch,
    });
  }

  private params() {
    return [...this.backbone.namedParameters('backbone.'), ...this.classifier.namedParameters('classifier.')].filter((p) => p.trainable);
  }

  get steps(): number {
    return this.stepCount;
  }

  /** One step on a batch; returns the cross-entropy before the update. */
  step(imagesNHWC: tf.Tensor4D, labels: ArrayLike<number>): number {
    const hyper = this.optimizer.hyperAt(this.stepCount);
    this.backbone.train();
    this.classifier.train();
    const params = this.params();
    const loss = tf.tidy(() => {
      const target = tf.cast(tf.oneHot(tf.tensor1d(Array.from(labels), 'int32'), this.opts.numClasses), 'float32') as tf.Tensor2D;
      const { value, grads } = tf.variableGrads(
        () => crossEntropy(this.classifier.forward(this.backbone.forward(imagesNHWC)), target),
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

  /** Logits [B, numClasses] in eval mode, copied to the host. */
  logits(imagesNHWC: tf.Tensor4D): Float32Array {
    const bw = this.backbone.training;
    this.backbone.eval();
    this.classifier.eval();
    try {
      const t = tf.tidy(() => this.classifier.forward(this.backbone.forward(imagesNHWC)));
      const data = t.dataSync() as Float32Array;
      t.dispose();
      return data;
    } finally {
      this.backbone.train(bw);
    }
  }

  dispose(): void {
    this.classifier.dispose();
    (this.optimizer as { dispose?: () => void }).dispose?.();
  }
}

/** Correct top-1 and top-k predictions of row-major logits [n, classes]. */
export function topKCorrect(logits: Float32Array, labels: ArrayLike<number>, numClasses: number, k: number): { top1: number; topk: number } {
  let top1 = 0;
  let topk = 0;
  for (let i = 0; i < labels.length; i++) {
    const row = logits.subarray(i * numClasses, (i + 1) * numClasses);
    const truth = row[labels[i]];
    // Rank of the true class: classes scoring higher (ties broken towards the lower index).
    let above = 0;
    for (let c = 0; c < numClasses; c++) if (row[c] > truth || (row[c] === truth && c < labels[i])) above++;
    if (above === 0) top1++;
    if (above < k) topk++;
  }
  return { top1, topk };
}
