import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { SSLMethod, StepContext, TensorState, ViewBatch } from '../../../src/core/interfaces';
import { registerPlugin, type PluginKinds } from '../../../src/core/registry';
import { CheckpointError, ConfigError } from '../../../src/core/errors';
import { Module, type Parameter } from '../../../src/nn/module';
import { noGrad } from '../../../src/kernels/no_grad';
import { SwavHead, type SwavHeadOutput } from './head';
import { swavLoss, swavPairWeights } from './loss';
import { MultiCropNetwork } from '../common/multicrop';

/**
 * Options. Defaults are SwAV's (facebookresearch/swav main_swav.py) where SSLight's SwAV configs
 * (swav_cnn_*.yaml) agree: feat_dim 128, 3000 prototypes, temperature 0.1, epsilon 0.05,
 * 3 Sinkhorn iterations, codes from the two global views, BN in the head. Projection hidden width
 * 2048 (SwAV's hidden_mlp; SSLight's configs use 4096, see configs/*swav*.yaml). Prototypes frozen
 * for one epoch when freeze_prototypes_niters is null (SSLight's FREEZE_PROTOTYPES_EPOCHS 1; SwAV's
 * own default is 313 iterations). Queue off (SSLight's default; its recipe sets 3840 from epoch 15).
 * alpha null is eq. 2 (SwAV's uniform average); the SSLight recipe sets 0.4 (eq. 3).
 */
export const swavSchema = z
  .object({
    feat_dim: z.number().int().positive().default(128),
    hidden_dim: z.number().int().positive().default(2048),
    n_layers: z.number().int().min(1).default(2),
    use_bn_in_head: z.boolean().default(true),
    nmb_prototypes: z.number().int().positive().default(3000),
    temperature: z.number().positive().default(0.1),
    epsilon: z.number().positive().default(0.05),
    sinkhorn_iterations: z.number().int().nonnegative().default(3),
    /** Views whose Sinkhorn codes are the targets; global views only. */
    crops_for_assign: z.array(z.number().int().nonnegative()).min(1).default([0, 1]),
    /** Iterations (global steps) whose prototype gradients are dropped; null = one epoch. */
    freeze_prototypes_niters: z.number().int().nonnegative().nullable().default(null),
    /** Queued embeddings per assigned crop, prepended to the batch before Sinkhorn; 0 = no queue. */
    queue_length: z.number().int().nonnegative().default(0),
    /** First epoch that fills the queue; it is used once full. */
    epoch_queue_starts: z.number().int().nonnegative().default(15),
    /** null: eq. 2 (uniform over pairs); a number: eq. 3 weighting of global-global pairs. */
    alpha: z.number().min(0).max(1).nullable().default(null),
  })
  .strict();
export type SwavOptions = z.output<typeof swavSchema>;
export type SwavDeps = PluginKinds['method']['deps'];

/** SwAV's one network: backbone + SwavHead over all views (common/multicrop.ts). */
export class SwavNetwork extends MultiCropNetwork<SwavHeadOutput, SwavHead> {}

/** What `loss` keeps for `afterStep` (released there). */
interface PendingStep {
  /** [nAssign, B, featDim] embeddings of the assigned crops, to enqueue (no gradient); null without a queue. */
  toEnqueue: tf.Tensor3D | null;
  /** [L_gg mean, L_gl mean, mean code entropy]. */
  stats: tf.Tensor1D;
  queueUsed: boolean;
}

export class Swav implements SSLMethod {
  readonly name = 'swav';
  readonly student: SwavNetwork;
  /** [nAssign, queue_length, feat_dim] once the queue has started (SwAV's `queue`), else null. */
  queue: tf.Variable | null = null;
  /** Rows of the queue filled so far (from the front); it is used once this reaches queue_length. */
  private queueFilled = 0;
  private readonly freezeNiters: number;
  private readonly prototypeVariable: tf.Variable;
  private readonly nGlobal: number;
  private readonly nLocal: number;
  private pending: PendingStep | null = null;

  constructor(readonly options: SwavOptions, deps: SwavDeps) {
    const o = options;
    if (deps.nGlobal < 1) throw new ConfigError('views', `SwAV needs at least one global view, got ${deps.nGlobal}`);
    try {
      swavPairWeights(deps.nGlobal, deps.nLocal, o.crops_for_assign, o.alpha);
    } catch (e) {
      const msg = (e as Error).message;
      throw new ConfigError(/crops_for_assign|crop \d/.test(msg) ? 'method.crops_for_assign' : 'views', msg);
    }
    this.nGlobal = deps.nGlobal;
    this.nLocal = deps.nLocal;
    this.freezeNiters = o.freeze_prototypes_niters ?? deps.stepsPerEpoch;
    const backbone = deps.buildBackbone(deps.rng.fork());
    const head = new SwavHead(
      {
        inDim: backbone.featureDim,
        featDim: o.feat_dim,
        hiddenDim: o.hidden_dim,
        nLayers: o.n_layers,
        useBn: o.use_bn_in_head,
        nPrototypes: o.nmb_prototypes,
      },
      deps.rng.fork(),
    );
    this.student = new SwavNetwork(backbone, head);
    this.student.train();
    this.prototypeVariable = head.prototypes.weight;
  }

  studentModules(): Record<string, Module> {
    return { student: this.student };
  }

  /** SwAV has no target network. */
  targetModules(): Record<string, Module> {
    return {};
  }

  /** Whether the prototypes get no update at global step `step`. */
  prototypesFrozenAt(step: number): boolean {
    return step < this.freezeNiters;
  }

  /** Whether the queue is filled in a step of `epoch` (it is created at the first such step). */
  queueActiveAt(epoch: number): boolean {
    return this.options.queue_length > 0 && epoch >= this.options.epoch_queue_starts;
  }

  /** Rows of the queue filled so far. */
  get queueRows(): number {
    return this.queueFilled;
  }

  loss(batch: ViewBatch, ctx: StepContext): tf.Scalar {
    const nGlobal = batch.globals.length;
    const nLocal = batch.locals.length;
    if (nGlobal !== this.nGlobal || nLocal !== this.nLocal) {
      throw new Error(`swav: built for ${this.nGlobal} + ${this.nLocal} views, the batch has ${nGlobal} + ${nLocal}`);
    }
    const o = this.options;
    const cfa = o.crops_for_assign;
    // A loss without its afterStep (e.g. an evaluation pass) must not leak the previous one.
    this.releasePending();
    const queue = this.queue;
    const useQueue = queue !== null && this.queueFilled >= o.queue_length;
    return tf.tidy(() => {
      const { embedding, scores } = this.student.forward([...batch.globals, ...batch.locals]);
      const b = batch.batchSize;
      // Queue scores with the current prototypes, off the tape (SwAV: .detach() under no_grad).
      const queueScores = useQueue
        ? noGrad(() =>
            cfa.map((_, i) =>
              tf.matMul(tf.reshape(tf.slice(queue!, [i, 0, 0], [1, o.queue_length, o.feat_dim]), [o.queue_length, o.feat_dim]), this.prototypeVariable) as tf.Tensor2D,
            ),
          )
        : null;
      const r = swavLoss(scores, {
        nGlobal,
        nLocal,
        cropsForAssign: cfa,
        temperature: o.temperature,
        epsilon: o.epsilon,
        sinkhornIterations: o.sinkhorn_iterations,
        alpha: o.alpha,
        queueScores,
      });
      const toEnqueue = this.queueActiveAt(ctx.epoch)
        ? noGrad(() => tf.stack(cfa.map((c) => tf.slice(embedding, [c * b, 0], [b, o.feat_dim]))) as tf.Tensor3D)
        : null;
      const stats = noGrad(() => {
        const nViews = nGlobal + nLocal;
        const pl = tf.reshape(r.pairLoss, [cfa.length * nViews]);
        const block = (gg: boolean) => {
          const m = new Float32Array(cfa.length * nViews);
          cfa.forEach((c, i) => {
            for (let v = 0; v < nViews; v++) if (v !== c && v < nGlobal === gg) m[i * nViews + v] = 1;
          });
          const n = m.reduce((a, x) => a + x, 0);
          return n > 0 ? tf.div(tf.sum(tf.mul(pl, tf.tensor1d(m))), n) : tf.scalar(0);
        };
        const q = r.codes;
        const entropy = tf.mean(tf.neg(tf.sum(tf.mul(q, tf.log(tf.maximum(q, 1e-30))), -1)));
        return tf.stack([block(true), block(false), entropy]) as tf.Tensor1D;
      });
      this.pending = { toEnqueue: toEnqueue ? tf.keep(toEnqueue) : null, stats: tf.keep(stats), queueUsed: useQueue };
      return r.loss;
    });
  }

  /** Drops the prototypes' gradient while they are frozen (SwAV sets it to None: no update at all). */
  processGradients(grads: Map<Parameter, tf.Tensor>, ctx: StepContext): Map<Parameter, tf.Tensor> {
    if (!this.prototypesFrozenAt(ctx.step)) return grads;
    const out = new Map<Parameter, tf.Tensor>();
    for (const [p, g] of grads) if (p.variable !== this.prototypeVariable) out.set(p, g);
    return out;
  }

  afterStep(ctx: StepContext): void {
    const pending = this.pending;
    if (!pending) throw new Error('swav.afterStep: no loss was computed in this step');
    // SwAV normalises the prototypes before every forward; doing it after every update (and at
    // construction) is the same thing.
    this.student.head.normalizePrototypes();
    if (pending.toEnqueue) this.enqueue(pending.toEnqueue);
    const [lgg, lgl, entropy] = Array.from(pending.stats.dataSync());
    const queueUsed = pending.queueUsed;
    this.releasePending();
    ctx.metric('loss_gg', lgg);
    ctx.metric('loss_gl', lgl);
    ctx.metric('code_entropy', entropy);
    ctx.metric('prototypes_frozen', this.prototypesFrozenAt(ctx.step) ? 1 : 0);
    if (this.options.queue_length > 0) ctx.metric('queue_used', queueUsed ? 1 : 0);
  }

  /** SwAV's fill: shift the queue back by B rows and put the newest embeddings first. */
  private enqueue(emb: tf.Tensor3D): void {
    const { queue_length: len, feat_dim: d } = this.options;
    const nA = this.options.crops_for_assign.length;
    if (!this.queue) this.queue = tf.variable(tf.zeros([nA, len, d]), false);
    const queue = this.queue;
    tf.tidy(() => {
      queue.assign(tf.slice(tf.concat([emb, queue], 1), [0, 0, 0], [nA, len, d]));
    });
    this.queueFilled = Math.min(len, this.queueFilled + emb.shape[1]);
  }

  /** ln(nmb_prototypes): uniform codes predicted by a uniform softmax, where a collapsed SwAV sits. */
  collapseLoss(): number {
    return Math.log(this.options.nmb_prototypes);
  }

  /** The queue once it has started (nothing before: a resumed run then starts it afresh). */
  tensorState(): TensorState {
    return new Map<string, tf.Tensor>(this.queue ? [['queue', this.queue]] : []);
  }

  loadTensorState(state: TensorState): void {
    const q = state.get('queue');
    if (!q) {
      this.queue?.dispose();
      this.queue = null;
      this.queueFilled = 0;
      return;
    }
    const want = [this.options.crops_for_assign.length, this.options.queue_length, this.options.feat_dim];
    if (!tf.util.arraysEqual(q.shape, want)) {
      throw new CheckpointError(
        `swav: checkpoint queue is [${q.shape}], this run (crops_for_assign, queue_length, feat_dim) needs [${want}]`,
      );
    }
    if (this.queue) this.queue.assign(q);
    else this.queue = tf.variable(q, false);
    // Filled rows are the leading ones (embeddings are unit vectors, empty rows are zero).
    const rowNorms = tf.tidy(() => tf.sum(tf.abs(tf.slice(q, [0, 0, 0], [1, want[1], want[2]])), -1).dataSync());
    let filled = 0;
    while (filled < want[1] && rowNorms[filled] > 0) filled++;
    this.queueFilled = filled;
  }

  private releasePending(): void {
    if (this.pending) {
      tf.dispose([this.pending.stats, ...(this.pending.toEnqueue ? [this.pending.toEnqueue] : [])]);
      this.pending = null;
    }
  }

  dispose(): void {
    this.releasePending();
    this.student.dispose();
    this.queue?.dispose();
    this.queue = null;
  }
}

registerPlugin({
  kind: 'method',
  name: 'swav',
  description: 'SwAV swapped prediction of Sinkhorn codes with multi-crop, eq. 2 / eq. 3 (alpha) pair weighting, optional queue',
  schema: swavSchema,
  create: (options, deps) => new Swav(options, deps),
});
