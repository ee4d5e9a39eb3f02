import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { StepContext, ViewBatch } from '../../../src/core/interfaces';
import { registerPlugin, type PluginKinds } from '../../../src/core/registry';
import { ConfigError } from '../../../src/core/errors';
import { CosineSchedule } from '../../../src/core/schedules';
import { noGrad } from '../../../src/kernels/no_grad';
import { MethodBase, type MethodLoss } from '../common/method_base';
import { networkMaker } from '../common/multicrop';
import { MocoEncoder } from './encoder';
import { MocoHead } from './head';
import { mocoLoss } from './loss';
import { KeyQueue } from './queue';

/**
 * Options. Defaults follow SSLight's MoCo recipe (moco_cnn_{baseline,sslight}.yaml over
 * defaults.py, = MoCo-v2): 2-layer MLP head 2048 -> 128 without BN, queue of 65536 keys,
 * temperature 0.2, key-encoder momentum 0.999 (constant). alpha null weights every query alike
 * (SSLight's baseline LAMBDAS 1/7, 6/7 for 6 local views); the SSLight recipe sets 0.4.
 */
export const mocov2Schema = z
  .object({
    /** Embedding dimension (MoCo's `dim`). */
    out_dim: z.number().int().positive().default(128),
    hidden_dim: z.number().int().positive().default(2048),
    n_layers: z.number().int().min(1).default(2),
    use_bn_in_head: z.boolean().default(false),
    /**
     * MoCo v3's `last_bn`: BN without affine on the head's output, so each batch of embeddings is
     * centred. Off in MoCo-v2; the CIFAR-10 batch-32 recipes need it (configs/cifar10/README.md).
     */
    last_bn: z.boolean().default(false),
    /** K, the number of negative keys (MoCo's `moco-k`). */
    queue_length: z.number().int().positive().default(65536),
    temperature: z.number().positive().default(0.2),
    /** Key-encoder EMA momentum (MoCo's `moco-m`). */
    momentum: z.number().min(0).max(1).default(0.999),
    /** null: constant momentum (MoCo, SSLight). A number: cosine from `momentum` to it over the run (DINO's rule). */
    momentum_end: z.number().min(0).max(1).nullable().default(null),
    /** Use only global view 1 as the query (SSLight's MOCO.GLOBAL_ONLY, two-view MoCo-v2) even when local views are sampled. */
    global_only: z.boolean().default(false),
    /** null: eq. 2 analogue (uniform over query rows); a number: eq. 3 weight of the global query. */
    alpha: z.number().min(0).max(1).nullable().default(null),
  })
  .strict();
export type Mocov2Options = z.output<typeof mocov2Schema>;
export type Mocov2Deps = PluginKinds['method']['deps'];

/**
 * MoCo-v2 in SSLight's multi-crop form. Global view 0 goes through the key encoder (an EMA copy
 * of the query encoder, no gradient); global views 1.. and the local views go through the query
 * encoder and are matched to view 0's key against a queue of past keys (loss.ts). SSLight's MoCo
 * is asymmetric (no symmetrised loss), as is MoCo-v2's own.
 *
 * Order of updates: MoCo updates the key encoder at the start of each forward, from the query
 * encoder as the previous optimizer step left it; we update it in `afterStep`, right after that
 * optimizer step. Both give the keys of step t+1 the same key encoder (at step 0 MoCo's update
 * is a no-op because the two start equal). The keys of step t enter the queue after step t's
 * loss, as in MoCo's _dequeue_and_enqueue.
 *
 * Shuffle-BN: MoCo shuffles the key batch across GPUs so that the key encoder's BN statistics
 * come from other images than the query's (it needs DistributedDataParallel). On one device the
 * key batch is one BN batch, and a permutation within it changes neither its statistics nor the
 * keys (SSLight's shuffle with world size 1 is such a permutation), so there is nothing to do
 * here; it matters only for multi-device training, which sslight does not do.
 */
export class Mocov2 extends MethodBase<{ keys: tf.Tensor2D }> {
  readonly name = 'mocov2';
  readonly encoderQ: MocoEncoder;
  readonly encoderK: MocoEncoder;
  readonly queue: KeyQueue;
  private readonly momentumSchedule: CosineSchedule | null;

  constructor(
    readonly options: Mocov2Options,
    deps: Mocov2Deps,
  ) {
    super();
    const o = options;
    if (deps.nGlobal < 2) {
      throw new ConfigError('views.n_global', `MoCo needs 2 global views (view 0 -> key, view 1 -> query), got ${deps.nGlobal}`);
    }
    if (deps.batchSize > o.queue_length) {
      throw new ConfigError('method.queue_length', `the queue (${o.queue_length}) must hold at least one batch of keys (${deps.batchSize})`);
    }
    const encoder = networkMaker(
      deps,
      (inDim, rng) =>
        new MocoHead({ inDim, outDim: o.out_dim, hiddenDim: o.hidden_dim, nLayers: o.n_layers, useBn: o.use_bn_in_head, lastBn: o.last_bn }, rng),
      (backbone, head) => new MocoEncoder(backbone, head),
    );
    this.momentumSchedule = o.momentum_end === null ? null : new CosineSchedule(o.momentum, o.momentum_end, deps.epochs, deps.stepsPerEpoch);
    this.encoderQ = this.addStudent('encoder_q', encoder());
    this.encoderK = this.addTarget('encoder_k', encoder(), this.encoderQ, (step) => this.momentumAt(step));
    this.queue = this.addStatePart(KeyQueue.random(o.out_dim, o.queue_length, deps.rng.fork()));
  }

  /** Key-encoder EMA momentum used after global step `step`. */
  override momentumAt(step: number): number {
    return this.momentumSchedule ? this.momentumSchedule.at(step) : this.options.momentum;
  }

  /** Query views of a batch: global views 1.., then the local views (none with global_only). */
  private queryViews(batch: ViewBatch): { views: tf.Tensor4D[]; nGlobalQueries: number; nLocal: number } {
    if (batch.globals.length < 2) throw new Error(`mocov2: a batch needs 2 global views, got ${batch.globals.length}`);
    const locals = this.options.global_only ? [] : batch.locals;
    return { views: [...batch.globals.slice(1), ...locals], nGlobalQueries: batch.globals.length - 1, nLocal: locals.length };
  }

  protected computeLoss(batch: ViewBatch): MethodLoss<{ keys: tf.Tensor2D }> {
    const { views, nGlobalQueries, nLocal } = this.queryViews(batch);
    // Keys take no gradient: the key encoder runs off the tape (torch.no_grad), so its
    // activations are freed after its forward instead of living through the backward pass.
    const keysRaw = noGrad(() => this.encoderK.forward([batch.globals[0]]));
    const queriesRaw = this.encoderQ.forward(views);
    const r = mocoLoss(queriesRaw, keysRaw, this.queue.queue as tf.Tensor2D, {
      temperature: this.options.temperature,
      nGlobalQueries,
      nLocal,
      alpha: this.options.alpha,
    });
    // The key view 0 is the one target view: its pairs are the query chunks (entry (0, 0) unused).
    const pairLoss = tf.reshape(tf.concat([tf.zeros([1]), r.chunkLoss]), [1, 1 + nGlobalQueries + nLocal]) as tf.Tensor2D;
    return {
      loss: r.loss,
      pairLoss: { matrix: pairLoss, nGlobal: 1 + nGlobalQueries, targets: [0] },
      keep: { keys: r.keys },
      // Alignment (mean cosine to the positive key) and uniformity (mean cosine to the queued
      // negatives): a loss drifting up towards ln(K + 1) is one of the two failing.
      metrics: {
        acc1: tf.mean(r.correct),
        pos_cos: tf.mul(tf.mean(r.posLogits), this.options.temperature),
        neg_cos: tf.mul(tf.mean(r.negLogits), this.options.temperature),
      },
    };
  }

  protected override afterUpdate(kept: { keys: tf.Tensor2D }): void {
    this.queue.enqueue(kept.keys);
  }

  /**
   * ln(K + 1): with collapsed embeddings every key in the queue equals every query, all K + 1
   * logits are equal and each query's CE is ln(K + 1).
   */
  collapseLoss(): number {
    return Math.log(this.options.queue_length + 1);
  }
}

registerPlugin({
  kind: 'method',
  name: 'mocov2',
  description: 'MoCo-v2 (InfoNCE against a key queue, momentum key encoder), SSLight multi-crop, eq. 2 / eq. 3 (alpha) weighting',
  schema: mocov2Schema,
  create: (options, deps) => new Mocov2(options, deps),
});
