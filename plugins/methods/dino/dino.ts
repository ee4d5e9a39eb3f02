import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { StepContext, ViewBatch } from '../../../src/core/interfaces';
import { registerPlugin, type PluginKinds } from '../../../src/core/registry';
import { ConfigError } from '../../../src/core/errors';
import { CosineSchedule, teacherTempAt } from '../../../src/core/schedules';
import type { Parameter } from '../../../src/nn/module';
import { noGrad } from '../../../src/kernels/no_grad';
import { viewsKoleoLoss } from '../common/koleo';
import { MethodBase, type MethodLoss } from '../common/method_base';
import { MultiCropNetwork, networkMaker } from '../common/multicrop';
import { DinoHead } from './head';
import { dinoLoss, teacherEntropies, updateCenter } from './loss';

/**
 * Options. Defaults follow SSLight's DINO CNN recipe (dino_cnn_sslight.yaml over defaults.py),
 * which is what our MobileNetV2 focus needs, not DINO's ViT recipe (out_dim 65536, no BN):
 * out_dim 4096 with BN in the head, teacher momentum 0.996, freeze the last layer 1 epoch,
 * no gradient clipping. alpha null is eq. 2 (the baseline); the SSLight recipe sets 0.4.
 */
export const dinoSchema = z
  .object({
    out_dim: z.number().int().positive().default(4096),
    hidden_dim: z.number().int().positive().default(2048),
    bottleneck_dim: z.number().int().positive().default(256),
    n_layers: z.number().int().min(1).default(3),
    use_bn_in_head: z.boolean().default(true),
    norm_last_layer: z.boolean().default(true),
    warmup_teacher_temp: z.number().positive().default(0.04),
    teacher_temp: z.number().positive().default(0.07),
    /** null: a quarter of the run (the recipe's 50 of 200 epochs), so short runs warm up too. */
    warmup_teacher_temp_epochs: z.number().int().nonnegative().nullable().default(null),
    student_temp: z.number().positive().default(0.1),
    center_momentum: z.number().min(0).max(1).default(0.9),
    momentum_teacher: z.number().min(0).max(1).default(0.996),
    momentum_teacher_end: z.number().min(0).max(1).default(1.0),
    /** Epochs during which the last layer gets no update (DINO's cancel_gradients_last_layer). */
    freeze_last_layer: z.number().int().nonnegative().default(1),
    /** Per-parameter gradient-norm clip (DINO's clip_gradients); 0 = off. */
    clip_grad: z.number().nonnegative().default(0),
    /** null: eq. 2 (uniform over pairs); a number: eq. 3 weighting of global-global pairs. */
    alpha: z.number().min(0).max(1).nullable().default(null),
    /**
     * Weight of the KoLeo regulariser (common/koleo.ts) on the student's normalised bottleneck of
     * each global view, summed over those views as DINOv2 does (which weights it 0.1); 0 = off
     * (DINO). A departure from DINO against features that gather in one direction.
     */
    koleo_weight: z.number().nonnegative().default(0),
  })
  .strict();
export type DinoOptions = z.output<typeof dinoSchema>;
export type DinoDeps = PluginKinds['method']['deps'];

/** DINO's student and teacher: backbone + DinoHead over all views (common/multicrop.ts). */
export class DinoNetwork extends MultiCropNetwork<tf.Tensor2D, DinoHead> {}

/**
 * DINO on the method base: student and EMA teacher (cosine momentum), the center, the teacher
 * temperature schedule, gradient clipping and the frozen last layer.
 */
export class Dino extends MethodBase<{ batchCenter: tf.Tensor2D }> {
  readonly name = 'dino';
  readonly student: DinoNetwork;
  readonly teacher: DinoNetwork;
  /** [1, out_dim], the EMA of the teacher's batch means (DINO's `center` buffer). */
  readonly center: tf.Variable;
  private readonly momentumSchedule: CosineSchedule;
  private readonly warmupTeacherTempEpochs: number;
  private readonly lastLayerVariables: Set<tf.Variable>;

  constructor(readonly options: DinoOptions, deps: DinoDeps) {
    super();
    const o = options;
    if (deps.nGlobal < 1) throw new ConfigError('views', `DINO needs at least one global view, got ${deps.nGlobal}`);
    if (deps.nGlobal < 2 && deps.nLocal < 1) throw new ConfigError('views', 'DINO needs a second view: 2 global views or some local ones');
    const warmup = o.warmup_teacher_temp_epochs ?? Math.floor(deps.epochs / 4);
    if (warmup > deps.epochs) {
      throw new ConfigError(
        'method.warmup_teacher_temp_epochs',
        `${warmup} warm-up epochs exceed the run's ${deps.epochs} epochs (DINO would fail too); use at most ${deps.epochs}`,
      );
    }
    this.warmupTeacherTempEpochs = warmup;
    const network = networkMaker(
      deps,
      (inDim, rng) =>
        new DinoHead(
          {
            inDim,
            outDim: o.out_dim,
            useBn: o.use_bn_in_head,
            normLastLayer: o.norm_last_layer,
            nLayers: o.n_layers,
            hiddenDim: o.hidden_dim,
            bottleneckDim: o.bottleneck_dim,
          },
          rng,
        ),
      (backbone, head) => new DinoNetwork(backbone, head),
    );
    this.momentumSchedule = new CosineSchedule(o.momentum_teacher, o.momentum_teacher_end, deps.epochs, deps.stepsPerEpoch);
    this.student = this.addStudent('student', network());
    this.teacher = this.addTarget('teacher', network(), this.student, (step) => this.momentumAt(step));
    // tidy frees the zeros the variable is made from (variables outlive tidy).
    this.center = this.addStateTensor('center', tf.tidy(() => tf.variable(tf.zeros([1, o.out_dim]), false)), '[1, out_dim]');
    this.lastLayerVariables = new Set(this.student.head.lastLayer.namedParameters().map((p) => p.variable));
  }

  teacherTempAt(epoch: number): number {
    return teacherTempAt(epoch, this.options.warmup_teacher_temp, this.options.teacher_temp, this.warmupTeacherTempEpochs);
  }

  /** Teacher EMA momentum used after global step `step` (DINO's momentum_schedule[it]). */
  override momentumAt(step: number): number {
    return this.momentumSchedule.at(step);
  }

  protected computeLoss(batch: ViewBatch, ctx: StepContext): MethodLoss<{ batchCenter: tf.Tensor2D }> {
    const nGlobal = batch.globals.length;
    const teacherTemp = this.teacherTempAt(ctx.epoch);
    ctx.metric('teacher_temp', teacherTemp);
    // The teacher takes no gradient: run it off the tape (torch.no_grad), so its activations
    // are freed after its forward instead of being held through the student's backward pass.
    const teacherOut = noGrad(() => this.teacher.forward(batch.globals));
    const views = [...batch.globals, ...batch.locals];
    const koleoWeight = this.options.koleo_weight;
    const student = koleoWeight > 0 ? this.student.head.forwardWithEmbedding(this.student.features(views)) : null;
    const studentOut = student ? student.logits : this.student.forward(views);
    const r = dinoLoss(studentOut, teacherOut, this.center, {
      nGlobal,
      nLocal: batch.locals.length,
      teacherTemp,
      studentTemp: this.options.student_temp,
      alpha: this.options.alpha,
    });
    const [entropy, batchEntropy] = tf.unstack(teacherEntropies(r.teacherProbs));
    const metrics: Record<string, tf.Tensor> = { teacher_entropy: entropy, teacher_batch_entropy: batchEntropy };
    let loss = r.loss;
    if (student) {
      const koleo = viewsKoleoLoss(student.embedding, nGlobal, batch.globals[0].shape[0]);
      loss = tf.add(r.loss, tf.mul(koleo, koleoWeight)) as tf.Scalar;
      metrics.koleo = koleo;
    }
    return { loss, pairLoss: { matrix: r.pairLoss, nGlobal }, keep: { batchCenter: r.batchCenter }, metrics };
  }

  processGradients(grads: Map<Parameter, tf.Tensor>, ctx: StepContext): Map<Parameter, tf.Tensor> {
    const out = new Map<Parameter, tf.Tensor>();
    const clip = this.options.clip_grad;
    const frozen = ctx.epoch < this.options.freeze_last_layer;
    for (const [p, g] of grads) {
      // DINO sets these grads to None: the optimizer then skips the parameter entirely
      // (no momentum, no weight decay), which dropping it from the map reproduces.
      if (frozen && this.lastLayerVariables.has(p.variable)) continue;
      // DINO's clip_gradients: per parameter, g *= clip / (||g|| + 1e-6) when that is < 1.
      // ||g|| as sqrt(sum(g^2)): tf.norm goes through Pow(Abs), a scalar loop on wasm.
      out.set(p, clip > 0 ? tf.tidy(() => tf.mul(g, tf.minimum(tf.div(clip, tf.add(tf.sqrt(tf.sum(tf.square(g))), 1e-6)), 1))) : g);
    }
    return out;
  }

  protected override afterUpdate(kept: { batchCenter: tf.Tensor2D }): void {
    tf.tidy(() => {
      this.center.assign(updateCenter(this.center, kept.batchCenter, this.options.center_momentum));
    });
  }

  /** ln(out_dim): the cross-entropy between two uniform distributions, where a collapsed DINO sits. */
  collapseLoss(): number {
    return Math.log(this.options.out_dim);
  }
}

registerPlugin({
  kind: 'method',
  name: 'dino',
  description: 'DINO self-distillation with multi-crop, eq. 2 / eq. 3 (alpha) pair weighting',
  schema: dinoSchema,
  create: (options, deps) => new Dino(options, deps),
});
