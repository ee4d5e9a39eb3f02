import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { SSLMethod, StepContext, TensorState, ViewBatch } from '../../../src/core/interfaces';
import { registerPlugin, type PluginKinds } from '../../../src/core/registry';
import { CheckpointError, ConfigError } from '../../../src/core/errors';
import { CosineSchedule, teacherTempAt } from '../../../src/core/schedules';
import { Module, type Parameter } from '../../../src/nn/module';
// src/kernels is the layer below src/nn (no imports upwards): its fused ops are used here for speed.
import { noGrad } from '../../../src/kernels/no_grad';
import { emaAssign } from '../../../src/kernels/ema_update';
import { EmaUpdater } from '../common/ema';
import { DinoHead } from './head';
import { dinoLoss, teacherEntropies, updateCenter } from './loss';
import { MultiCropNetwork } from '../common/multicrop';

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
  })
  .strict();
export type DinoOptions = z.output<typeof dinoSchema>;
export type DinoDeps = PluginKinds['method']['deps'];

/** DINO's student and teacher: backbone + DinoHead over all views (common/multicrop.ts). */
export class DinoNetwork extends MultiCropNetwork<tf.Tensor2D, DinoHead> {}

/** What `loss` keeps for `afterStep` (released there). */
interface PendingStep {
  batchCenter: tf.Tensor2D;
  /** [teacher entropy, entropy of the batch-mean teacher distribution, L_gg mean, L_gl mean]. */
  stats: tf.Tensor1D;
}

export class Dino implements SSLMethod {
  readonly name = 'dino';
  readonly student: DinoNetwork;
  readonly teacher: DinoNetwork;
  /** [1, out_dim], the EMA of the teacher's batch means (DINO's `center` buffer). */
  readonly center: tf.Variable;
  /** (teacher, student) parameter pairs by name, shapes checked by EmaUpdater. */
  private readonly emaPairs: Array<[tf.Variable, tf.Variable]>;
  private readonly momentumSchedule: CosineSchedule;
  private readonly warmupTeacherTempEpochs: number;
  private readonly lastLayerVariables: Set<tf.Variable>;
  private pending: PendingStep | null = null;

  constructor(readonly options: DinoOptions, deps: DinoDeps) {
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
    const headOpts = (inDim: number) => ({
      inDim,
      outDim: o.out_dim,
      useBn: o.use_bn_in_head,
      normLastLayer: o.norm_last_layer,
      nLayers: o.n_layers,
      hiddenDim: o.hidden_dim,
      bottleneckDim: o.bottleneck_dim,
    });
    const sBackbone = deps.buildBackbone(deps.rng.fork());
    this.student = new DinoNetwork(sBackbone, new DinoHead(headOpts(sBackbone.featureDim), deps.rng.fork()));
    const tBackbone = deps.buildBackbone(deps.rng.fork());
    this.teacher = new DinoNetwork(tBackbone, new DinoHead(headOpts(tBackbone.featureDim), deps.rng.fork()));
    // The teacher starts as the student (load_state_dict: parameters and buffers), never gets
    // gradients (its variables leave tf.variableGrads' default list) and stays in train mode:
    // DINO/SSLight call model.train() on both, so its BN uses batch statistics.
    this.teacher.copyFrom(this.student);
    for (const p of this.teacher.namedParameters()) p.variable.trainable = false;
    this.student.train();
    this.teacher.train();
    this.center = tf.variable(tf.zeros([1, o.out_dim]), false);
    // EmaUpdater's rule (every parameter, buffers not averaged) run as one fused update
    // (emaAssign: a single native pass per parameter on wasm when the addon is built).
    new EmaUpdater(this.teacher, this.student); // validates the pairing (names, shapes)
    const studentByName = new Map(this.student.namedParameters().map((p) => [p.name, p.variable]));
    this.emaPairs = this.teacher.namedParameters().map((p) => [p.variable, studentByName.get(p.name)!]);
    this.momentumSchedule = new CosineSchedule(o.momentum_teacher, o.momentum_teacher_end, deps.epochs, deps.stepsPerEpoch);
    this.lastLayerVariables = new Set(this.student.head.lastLayer.namedParameters().map((p) => p.variable));
  }

  studentModules(): Record<string, Module> {
    return { student: this.student };
  }

  targetModules(): Record<string, Module> {
    return { teacher: this.teacher };
  }

  teacherTempAt(epoch: number): number {
    return teacherTempAt(epoch, this.options.warmup_teacher_temp, this.options.teacher_temp, this.warmupTeacherTempEpochs);
  }

  /** Teacher EMA momentum used after global step `step` (DINO's momentum_schedule[it]). */
  momentumAt(step: number): number {
    return this.momentumSchedule.at(step);
  }

  loss(batch: ViewBatch, ctx: StepContext): tf.Scalar {
    const nGlobal = batch.globals.length;
    const nLocal = batch.locals.length;
    const teacherTemp = this.teacherTempAt(ctx.epoch);
    ctx.metric('teacher_temp', teacherTemp);
    // A loss without its afterStep (e.g. an evaluation pass) must not leak the previous one.
    this.releasePending();
    return tf.tidy(() => {
      // The teacher takes no gradient: run it off the tape (torch.no_grad), so its activations
      // are freed after its forward instead of being held through the student's backward pass.
      const teacherOut = noGrad(() => this.teacher.forward(batch.globals));
      const studentOut = this.student.forward([...batch.globals, ...batch.locals]);
      const r = dinoLoss(studentOut, teacherOut, this.center, {
        nGlobal,
        nLocal,
        teacherTemp,
        studentTemp: this.options.student_temp,
        alpha: this.options.alpha,
      });
      const nViews = nGlobal + nLocal;
      const pl = tf.reshape(r.pairLoss, [nGlobal * nViews]);
      const mask = (want: 'gg' | 'gl') => {
        const m = new Float32Array(nGlobal * nViews);
        for (let i = 0; i < nGlobal; i++) {
          for (let v = 0; v < nViews; v++) if (v !== i && (v < nGlobal) === (want === 'gg')) m[i * nViews + v] = 1;
        }
        const n = m.reduce((a, b) => a + b, 0);
        return n > 0 ? tf.div(tf.sum(tf.mul(pl, tf.tensor1d(m))), n) : tf.scalar(0);
      };
      const ent = teacherEntropies(r.teacherProbs);
      const stats = tf.concat([ent, tf.stack([mask('gg'), mask('gl')])]) as tf.Tensor1D;
      this.pending = { batchCenter: tf.keep(r.batchCenter), stats: tf.keep(stats) };
      return r.loss;
    });
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

  afterStep(ctx: StepContext): void {
    const pending = this.pending;
    if (!pending) throw new Error('dino.afterStep: no loss was computed in this step');
    const m = this.momentumAt(ctx.step);
    tf.tidy(() => {
      this.center.assign(updateCenter(this.center, pending.batchCenter, this.options.center_momentum));
    });
    emaAssign(this.emaPairs, m);
    const [entropy, batchEntropy, lgg, lgl] = Array.from(pending.stats.dataSync());
    this.releasePending();
    ctx.metric('momentum', m);
    ctx.metric('teacher_entropy', entropy);
    ctx.metric('teacher_batch_entropy', batchEntropy);
    ctx.metric('loss_gg', lgg);
    ctx.metric('loss_gl', lgl);
  }

  /** ln(out_dim): the cross-entropy between two uniform distributions, where a collapsed DINO sits. */
  collapseLoss(): number {
    return Math.log(this.options.out_dim);
  }

  tensorState(): TensorState {
    return new Map<string, tf.Tensor>([['center', this.center]]);
  }

  loadTensorState(state: TensorState): void {
    const c = state.get('center');
    if (!c) throw new CheckpointError("dino: checkpoint has no 'center'");
    if (!tf.util.arraysEqual(c.shape, this.center.shape)) {
      throw new CheckpointError(`dino: checkpoint center is [${c.shape}], this run's out_dim needs [${this.center.shape}]`);
    }
    this.center.assign(c);
  }

  private releasePending(): void {
    if (this.pending) {
      tf.dispose([this.pending.batchCenter, this.pending.stats]);
      this.pending = null;
    }
  }

  dispose(): void {
    this.releasePending();
    this.student.dispose();
    this.teacher.dispose();
    this.center.dispose();
  }
}

registerPlugin({
  kind: 'method',
  name: 'dino',
  description: 'DINO self-distillation with multi-crop, eq. 2 / eq. 3 (alpha) pair weighting',
  schema: dinoSchema,
  create: (options, deps) => new Dino(options, deps),
});
