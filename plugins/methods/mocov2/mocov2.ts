import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { JsonState, SSLMethod, StepContext, TensorState, ViewBatch } from '../../../src/core/interfaces';
import { registerPlugin, type PluginKinds } from '../../../src/core/registry';
import { ConfigError } from '../../../src/core/errors';
import { CosineSchedule } from '../../../src/core/schedules';
import type { Module } from '../../../src/nn/module';
import { noGrad } from '../../../src/kernels/no_grad';
import { emaAssign } from '../../../src/kernels/ema_update';
import { EmaUpdater } from '../common/ema';
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

/** What `loss` keeps for `afterStep` (released there). */
interface PendingStep {
  /** [B, dim] normalised keys of this batch, enqueued after the step. */
  keys: tf.Tensor2D;
  /** [mean CE of the global queries, of the local queries (0 if none), acc@1]. */
  stats: tf.Tensor1D;
}

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
export class Mocov2 implements SSLMethod {
  readonly name = 'mocov2';
  readonly encoderQ: MocoEncoder;
  readonly encoderK: MocoEncoder;
  readonly queue: KeyQueue;
  private readonly emaPairs: Array<[tf.Variable, tf.Variable]>;
  private readonly momentumSchedule: CosineSchedule | null;
  private pending: PendingStep | null = null;

  constructor(
    readonly options: Mocov2Options,
    deps: Mocov2Deps,
  ) {
    const o = options;
    if (deps.nGlobal < 2) {
      throw new ConfigError('views.n_global', `MoCo needs 2 global views (view 0 -> key, view 1 -> query), got ${deps.nGlobal}`);
    }
    if (deps.batchSize > o.queue_length) {
      throw new ConfigError('method.queue_length', `the queue (${o.queue_length}) must hold at least one batch of keys (${deps.batchSize})`);
    }
    const headOpts = (inDim: number) => ({ inDim, outDim: o.out_dim, hiddenDim: o.hidden_dim, nLayers: o.n_layers, useBn: o.use_bn_in_head });
    const qBackbone = deps.buildBackbone(deps.rng.fork());
    this.encoderQ = new MocoEncoder(qBackbone, new MocoHead(headOpts(qBackbone.featureDim), deps.rng.fork()));
    const kBackbone = deps.buildBackbone(deps.rng.fork());
    this.encoderK = new MocoEncoder(kBackbone, new MocoHead(headOpts(kBackbone.featureDim), deps.rng.fork()));
    // The key encoder starts as the query encoder (parameters and buffers), never gets gradients
    // (its variables leave tf.variableGrads' default list) and stays in train mode: SSLight calls
    // model.train() on the whole model, so its BN uses batch statistics.
    this.encoderK.copyFrom(this.encoderQ);
    for (const p of this.encoderK.namedParameters()) p.variable.trainable = false;
    this.encoderQ.train();
    this.encoderK.train();
    this.queue = KeyQueue.random(o.out_dim, o.queue_length, deps.rng.fork());
    // EmaUpdater's rule (every parameter, buffers not averaged), validated by it, run as one
    // fused update (emaAssign) as DINO does.
    new EmaUpdater(this.encoderK, this.encoderQ);
    const qByName = new Map(this.encoderQ.namedParameters().map((p) => [p.name, p.variable]));
    this.emaPairs = this.encoderK.namedParameters().map((p) => [p.variable, qByName.get(p.name)!]);
    this.momentumSchedule = o.momentum_end === null ? null : new CosineSchedule(o.momentum, o.momentum_end, deps.epochs, deps.stepsPerEpoch);
  }

  studentModules(): Record<string, Module> {
    return { encoder_q: this.encoderQ };
  }

  targetModules(): Record<string, Module> {
    return { encoder_k: this.encoderK };
  }

  /** Key-encoder EMA momentum used after global step `step`. */
  momentumAt(step: number): number {
    return this.momentumSchedule ? this.momentumSchedule.at(step) : this.options.momentum;
  }

  /** Query views of a batch: global views 1.., then the local views (none with global_only). */
  private queryViews(batch: ViewBatch): { views: tf.Tensor4D[]; nGlobalQueries: number; nLocal: number } {
    if (batch.globals.length < 2) throw new Error(`mocov2: a batch needs 2 global views, got ${batch.globals.length}`);
    const locals = this.options.global_only ? [] : batch.locals;
    return { views: [...batch.globals.slice(1), ...locals], nGlobalQueries: batch.globals.length - 1, nLocal: locals.length };
  }

  loss(batch: ViewBatch): tf.Scalar {
    const { views, nGlobalQueries, nLocal } = this.queryViews(batch);
    // A loss without its afterStep (e.g. an evaluation pass) must not leak the previous one.
    this.releasePending();
    return tf.tidy(() => {
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
      const lossG = tf.mean(tf.slice(r.chunkLoss, [0], [nGlobalQueries]));
      const lossL = nLocal > 0 ? tf.mean(tf.slice(r.chunkLoss, [nGlobalQueries], [nLocal])) : tf.scalar(0);
      const stats = tf.stack([lossG, lossL, tf.mean(r.correct)]) as tf.Tensor1D;
      this.pending = { keys: tf.keep(r.keys), stats: tf.keep(stats) };
      return r.loss;
    });
  }

  afterStep(ctx: StepContext): void {
    const pending = this.pending;
    if (!pending) throw new Error('mocov2.afterStep: no loss was computed in this step');
    const m = this.momentumAt(ctx.step);
    emaAssign(this.emaPairs, m);
    this.queue.enqueue(pending.keys);
    const [lossG, lossL, acc1] = Array.from(pending.stats.dataSync());
    this.releasePending();
    ctx.metric('momentum', m);
    ctx.metric('loss_g', lossG);
    ctx.metric('loss_l', lossL);
    ctx.metric('acc1', acc1);
  }

  /**
   * ln(K + 1): with collapsed embeddings every key in the queue equals every query, all K + 1
   * logits are equal and each query's CE is ln(K + 1).
   */
  collapseLoss(): number {
    return Math.log(this.options.queue_length + 1);
  }

  tensorState(): TensorState {
    return this.queue.tensorState();
  }

  loadTensorState(state: TensorState): void {
    this.queue.loadTensorState(state);
  }

  jsonState(): JsonState {
    return this.queue.jsonState();
  }

  loadJsonState(state: JsonState): void {
    this.queue.loadJsonState(state);
  }

  private releasePending(): void {
    if (this.pending) {
      tf.dispose([this.pending.keys, this.pending.stats]);
      this.pending = null;
    }
  }

  dispose(): void {
    this.releasePending();
    this.encoderQ.dispose();
    this.encoderK.dispose();
    this.queue.dispose();
  }
}

registerPlugin({
  kind: 'method',
  name: 'mocov2',
  description: 'MoCo-v2 (InfoNCE against a key queue, momentum key encoder), SSLight multi-crop, eq. 2 / eq. 3 (alpha) weighting',
  schema: mocov2Schema,
  create: (options, deps) => new Mocov2(options, deps),
});
