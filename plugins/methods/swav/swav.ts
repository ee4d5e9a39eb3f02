import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { StepContext, ViewBatch } from '../../../src/core/interfaces';
import { registerPlugin, type PluginKinds } from '../../../src/core/registry';
import { ConfigError } from '../../../src/core/errors';
import type { Parameter } from '../../../src/nn/module';
import { noGrad } from '../../../src/kernels/no_grad';
import { CosineSchedule } from '../../../src/core/schedules';
import { MethodBase, type MethodLoss } from '../common/method_base';
import { MultiCropNetwork, networkMaker, resolutionRowGroups } from '../common/multicrop';
import { pairWeights } from '../common/pairs';
import { viewsKoleoLoss } from '../common/koleo';
import { SwavHead, type SwavHeadOutput } from './head';
import { swavLoss } from './loss';
import { SwavQueue } from './queue';

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
    /**
     * BN without affine on the projection's output, before the L2 norm (as MoCo v3's `last_bn`):
     * each batch of embeddings is centred, so they cannot all share one direction, where every
     * image scores alike against the prototypes and Sinkhorn's codes carry no information.
     */
    last_bn: z.boolean().default(false),
    /**
     * `last_bn` statistics per resolution group (the global views apart from the local ones), as
     * when each crop goes through the network alone (MoCo v3). Over all views together, the
     * globals can share a direction that the locals balance, and the codes come from the globals.
     * Needs `last_bn`. Measured on CIFAR-10 at batch 32, it did not stop SwAV's drift
     * (configs/cifar10/README.md, trial S9b).
     */
    last_bn_per_resolution: z.boolean().default(false),
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
    /**
     * null: SwAV (the codes come from the network being trained). A number: the codes come from
     * an EMA copy of it (the `target`), whose momentum follows a cosine from this value to
     * `target_momentum_end`, as DINO's teacher; the queue then holds the target's embeddings.
     * A departure from SwAV (DINOv2's teacher with Sinkhorn-Knopp centring is the same thing):
     * at batch 32 SwAV's self-made targets drift (configs/cifar10/README.md, SwAV trials).
     */
    target_momentum: z.number().min(0).max(1).nullable().default(null),
    target_momentum_end: z.number().min(0).max(1).default(1.0),
    /**
     * Weight of the KoLeo regulariser (common/koleo.ts) on the student's embeddings of each global
     * view, summed over those views as DINOv2 does (which weights it 0.1); 0 = off (SwAV). A
     * departure from SwAV against the embeddings' drift into one shared direction.
     */
    koleo_weight: z.number().nonnegative().default(0),
  })
  .strict();
export type SwavOptions = z.output<typeof swavSchema>;
export type SwavDeps = PluginKinds['method']['deps'];

/** SwAV's one network: backbone + SwavHead over all views (common/multicrop.ts). */
export class SwavNetwork extends MultiCropNetwork<SwavHeadOutput, SwavHead> {
  /** As MultiCropNetwork's, telling the head the resolution groups (for `last_bn_per_resolution`). */
  override forward(viewsNHWC: tf.Tensor4D[]): SwavHeadOutput {
    return tf.tidy(() => this.head.forward(this.features(viewsNHWC), resolutionRowGroups(viewsNHWC)));
  }
}

/** Embeddings [nAssign, B, featDim] of the assigned crops to enqueue after the step (no gradient). */
type Kept = { toEnqueue: tf.Tensor3D } | Record<string, never>;

/**
 * SwAV on the method base: one network, no target; prototypes frozen for the first iterations
 * and re-normalised after every update; the optional queue (queue.ts).
 */
export class Swav extends MethodBase<Kept> {
  readonly name = 'swav';
  readonly student: SwavNetwork;
  private readonly queueStore: SwavQueue;
  private readonly freezeNiters: number;
  private readonly prototypeVariable: tf.Variable;
  private readonly nGlobal: number;
  private readonly nLocal: number;
  /** The EMA copy whose codes are the targets (`target_momentum`), else null. */
  readonly target: SwavNetwork | null = null;

  constructor(readonly options: SwavOptions, deps: SwavDeps) {
    super();
    const o = options;
    if (deps.nGlobal < 1) throw new ConfigError('views', `SwAV needs at least one global view, got ${deps.nGlobal}`);
    try {
      pairWeights(deps.nGlobal, deps.nLocal, o.alpha, o.crops_for_assign);
    } catch (e) {
      const msg = (e as Error).message;
      throw new ConfigError(/target view/.test(msg) ? 'method.crops_for_assign' : 'views', msg);
    }
    if (o.last_bn_per_resolution && !o.last_bn) {
      throw new ConfigError('method.last_bn_per_resolution', 'needs method.last_bn: true (it sets where that BN takes its statistics)');
    }
    this.nGlobal = deps.nGlobal;
    this.nLocal = deps.nLocal;
    this.freezeNiters = o.freeze_prototypes_niters ?? deps.stepsPerEpoch;
    const network = networkMaker(
      deps,
      (inDim, rng) =>
        new SwavHead(
          {
            inDim,
            featDim: o.feat_dim,
            hiddenDim: o.hidden_dim,
            nLayers: o.n_layers,
            useBn: o.use_bn_in_head,
            nPrototypes: o.nmb_prototypes,
            lastBn: o.last_bn,
            lastBnPerResolution: o.last_bn_per_resolution,
          },
          rng,
        ),
      (backbone, head) => new SwavNetwork(backbone, head),
    );
    this.student = this.addStudent('student', network());
    if (o.target_momentum !== null) {
      const schedule = new CosineSchedule(o.target_momentum, o.target_momentum_end, deps.epochs, deps.stepsPerEpoch);
      this.target = this.addTarget('target', network(), this.student, (step) => schedule.at(step));
    }
    this.prototypeVariable = this.student.head.prototypes.weight;
    this.queueStore = this.addStatePart(new SwavQueue(o.crops_for_assign.length, o.queue_length, o.feat_dim));
  }

  /** [nAssign, queue_length, feat_dim] once the queue has started (SwAV's `queue`), else null. */
  get queue(): tf.Variable | null {
    return this.queueStore.tensor;
  }

  /** Rows of the queue filled so far. */
  get queueRows(): number {
    return this.queueStore.rows;
  }

  /** Whether the prototypes get no update at global step `step`. */
  prototypesFrozenAt(step: number): boolean {
    return step < this.freezeNiters;
  }

  /** Whether the queue is filled in a step of `epoch` (it is created at the first such step). */
  queueActiveAt(epoch: number): boolean {
    return this.options.queue_length > 0 && epoch >= this.options.epoch_queue_starts;
  }

  protected computeLoss(batch: ViewBatch, ctx: StepContext): MethodLoss<Kept> {
    const nGlobal = batch.globals.length;
    const nLocal = batch.locals.length;
    if (nGlobal !== this.nGlobal || nLocal !== this.nLocal) {
      throw new Error(`swav: built for ${this.nGlobal} + ${this.nLocal} views, the batch has ${nGlobal} + ${nLocal}`);
    }
    const o = this.options;
    const cfa = o.crops_for_assign;
    const useQueue = this.queueStore.full;
    const { embedding, scores } = this.student.forward([...batch.globals, ...batch.locals]);
    const b = batch.batchSize;
    // With a target network the codes, and the embeddings queued, are its own (off the tape).
    const targetOut = this.target ? noGrad(() => this.target!.forward(cfa.map((c) => batch.globals[c]))) : null;
    const codePrototypes = this.target ? this.target.head.prototypes.weight : this.prototypeVariable;
    // Queue scores with the current prototypes, off the tape (SwAV: .detach() under no_grad).
    const queueScores = useQueue
      ? noGrad(() => cfa.map((_, i) => tf.matMul(this.queueStore.rowsOf(i), codePrototypes) as tf.Tensor2D))
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
      codeScores: targetOut?.scores ?? null,
    });
    const keep: Kept = this.queueActiveAt(ctx.epoch)
      ? {
          toEnqueue: noGrad(() =>
            targetOut
              ? (tf.reshape(targetOut.embedding, [cfa.length, b, o.feat_dim]) as tf.Tensor3D)
              : (tf.stack(cfa.map((c) => tf.slice(embedding, [c * b, 0], [b, o.feat_dim]))) as tf.Tensor3D),
          ),
        }
      : {};
    if (targetOut) tf.dispose(targetOut);
    const codeEntropy = noGrad(() => tf.mean(tf.neg(tf.sum(tf.mul(r.codes, tf.log(tf.maximum(r.codes, 1e-30))), -1))));
    const metrics: Record<string, tf.Tensor> = { code_entropy: codeEntropy, ...viewDirectionMetrics(embedding, b, nGlobal) };
    if (o.queue_length > 0) metrics.queue_used = tf.scalar(useQueue ? 1 : 0);
    let loss = r.loss;
    if (o.koleo_weight > 0) {
      const koleo = viewsKoleoLoss(embedding, nGlobal, b);
      loss = tf.add(r.loss, tf.mul(koleo, o.koleo_weight)) as tf.Scalar;
      metrics.koleo = koleo;
    }
    return { loss, pairLoss: { matrix: r.pairLoss, nGlobal, targets: cfa }, keep, metrics };
  }

  /** Drops the prototypes' gradient while they are frozen (SwAV sets it to None: no update at all). */
  processGradients(grads: Map<Parameter, tf.Tensor>, ctx: StepContext): Map<Parameter, tf.Tensor> {
    if (!this.prototypesFrozenAt(ctx.step)) return grads;
    const out = new Map<Parameter, tf.Tensor>();
    for (const [p, g] of grads) if (p.variable !== this.prototypeVariable) out.set(p, g);
    return out;
  }

  protected override afterUpdate(kept: Kept, ctx: StepContext): void {
    // SwAV normalises the prototypes before every forward; doing it after every update (and at
    // construction) is the same thing.
    this.student.head.normalizePrototypes();
    // The EMA of unit columns is shorter than unit: the target's are re-normalised too.
    this.target?.head.normalizePrototypes();
    if ('toEnqueue' in kept) this.queueStore.enqueue(kept.toEnqueue);
    ctx.metric('prototypes_frozen', this.prototypesFrozenAt(ctx.step) ? 1 : 0);
  }

  /** ln(nmb_prototypes): uniform codes predicted by a uniform softmax, where a collapsed SwAV sits. */
  collapseLoss(): number {
    return Math.log(this.options.nmb_prototypes);
  }
}

/**
 * Where a shared direction lives (no gradient): `emb_cos`, the mean pair cosine within view 0;
 * `view_cos`, the cosine between view 0's mean embedding and view 1's (near -1 when the two
 * global views sit on opposite sides, which a BN over all views cannot see); `local_cos`, view 0's
 * mean against the local views' mean.
 */
function viewDirectionMetrics(embedding: tf.Tensor2D, b: number, nGlobal: number): Record<string, tf.Tensor> {
  return noGrad(() => {
    const [rows, d] = embedding.shape;
    const mean = (start: number, n: number) => tf.mean(tf.slice(embedding, [start, 0], [n, d]), 0);
    const cos = (u: tf.Tensor, v: tf.Tensor) =>
      tf.div(tf.sum(tf.mul(u, v)), tf.maximum(tf.mul(tf.norm(u), tf.norm(v)), 1e-12));
    const out: Record<string, tf.Tensor> = { emb_cos: meanPairCosine(tf.slice(embedding, [0, 0], [b, d])) };
    const m0 = mean(0, b);
    if (nGlobal > 1) out.view_cos = cos(m0, mean(b, b));
    if (rows > nGlobal * b) out.local_cos = cos(m0, mean(nGlobal * b, rows - nGlobal * b));
    return out;
  });
}

/**
 * Mean cosine between the unit rows of `z` [B, D] over pairs i != j: (||sum z||^2 - B) / (B (B - 1)).
 * Near 1 when every embedding points one way (the codes then carry no information), near 0 when
 * they are spread.
 */
export function meanPairCosine(z: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const b = z.shape[0];
    if (b < 2) return tf.scalar(0);
    const s = tf.sum(tf.square(tf.sum(z, 0)));
    return tf.div(tf.sub(s, b), b * (b - 1)) as tf.Scalar;
  });
}

registerPlugin({
  kind: 'method',
  name: 'swav',
  description: 'SwAV swapped prediction of Sinkhorn codes with multi-crop, eq. 2 / eq. 3 (alpha) pair weighting, optional queue',
  schema: swavSchema,
  create: (options, deps) => new Swav(options, deps),
});
