import * as tf from '@tensorflow/tfjs-core';
import type {
  EvaluableBackbone,
  JsonState,
  SSLMethod,
  Stateful,
  StepContext,
  TensorState,
  ViewBatch,
} from '../../../src/core/interfaces';
import { CheckpointError } from '../../../src/core/errors';
import type { Module } from '../../../src/nn/module';
import { noGrad } from '../../../src/kernels/no_grad';
import { EmaUpdater, emaTarget } from './ema';
import { MultiCropNetwork } from './multicrop';
import { pairBlockMeans } from './pairs';

/** What a method's `computeLoss` returns; it runs inside the base's tidy scope. */
export interface MethodLoss<K extends tf.NamedTensorMap = tf.NamedTensorMap> {
  loss: tf.Scalar;
  /**
   * The [targets, nViews] pair-loss matrix (rows in `targets` order, default every global view),
   * from which the base reports `loss_gg` and `loss_gl` (means over each block of pairs).
   */
  pairLoss?: { matrix: tf.Tensor2D; nGlobal: number; targets?: number[] };
  /** Tensors `afterUpdate` needs (kept past the step's tidy scope, released right after it). */
  keep?: K;
  /** Scalar metrics of this step (0-d or [1] tensors), read after the update in one download. */
  metrics?: Record<string, tf.Tensor>;
}

interface Pending<K> {
  keep: K;
  names: string[];
  stats: tf.Tensor1D | null;
}

interface EmaTarget {
  updater: EmaUpdater;
  momentumAt: (step: number) => number;
}

/**
 * What every SSL method shares, so a method is only what is new about it:
 * - its networks: `addStudent` (trained) and `addTarget` (an EMA copy of an online network, off
 *   the optimizer, updated after every step with the method's momentum, reported as `momentum`);
 * - the hand-over of tensors from `loss` (inside tf.variableGrads) to `afterStep` (after the
 *   optimizer): `computeLoss` returns them as `keep`, `afterUpdate` receives them, the base keeps
 *   and releases them (also when a loss runs without its afterStep);
 * - the metrics: `loss_gg` / `loss_gl` from the pair-loss matrix, named alike in every method,
 *   plus the method's own scalars, all downloaded once per step;
 * - checkpoint state: `addStateTensor` (a variable saved in method.safetensors, shape-checked on
 *   load) and `addStatePart` (a component with its own tensor/JSON state, e.g. a queue);
 * - the evaluable backbone: by default the backbone of the first student that is a
 *   MultiCropNetwork, saved under `<student name>.backbone.`.
 * Subclasses implement `computeLoss` and, when they have per-step state, `afterUpdate`.
 */
export abstract class MethodBase<K extends tf.NamedTensorMap = tf.NamedTensorMap> implements SSLMethod {
  abstract readonly name: string;
  private readonly students = new Map<string, Module>();
  private readonly targets = new Map<string, Module>();
  private readonly emaTargets: EmaTarget[] = [];
  private readonly stateTensors = new Map<string, { variable: tf.Variable; shapeHint: string }>();
  private readonly stateParts: Stateful[] = [];
  private pending: Pending<K> | null = null;

  /** The loss of one batch, a pure tensor function of the students' variables. */
  protected abstract computeLoss(batch: ViewBatch, ctx: StepContext): MethodLoss<K>;

  /** After the optimizer step and the EMA of the targets: centering, queues, re-normalisation. */
  protected afterUpdate(_kept: K, _ctx: StepContext): void {}

  /** A network the optimizer trains, saved under `<name>.*`; put in train mode. */
  protected addStudent<M extends Module>(name: string, module: M): M {
    this.checkName(name);
    this.students.set(name, module);
    module.train();
    return module;
  }

  /**
   * A target network saved under `<name>.*`: starts as a copy of `online`, takes no gradient and
   * follows it by EMA with momentum `momentumAt(step)` after each optimizer step.
   */
  protected addTarget<M extends Module>(name: string, target: M, online: Module, momentumAt: (step: number) => number): M {
    this.checkName(name);
    this.emaTargets.push({ updater: emaTarget(target, online), momentumAt });
    this.targets.set(name, target);
    return target;
  }

  /** A variable saved in the checkpoint under `name`; `shapeHint` names its shape for errors ("[1, out_dim]"). */
  protected addStateTensor(name: string, variable: tf.Variable, shapeHint = ''): tf.Variable {
    if (this.stateTensors.has(name)) throw new Error(`${this.name}: state tensor '${name}' registered twice`);
    this.stateTensors.set(name, { variable, shapeHint });
    return variable;
  }

  /** A component with its own checkpoint state (its tensor and JSON names must not clash). */
  protected addStatePart<S extends Stateful>(part: S): S {
    this.stateParts.push(part);
    return part;
  }

  studentModules(): Record<string, Module> {
    return Object.fromEntries(this.students);
  }

  targetModules(): Record<string, Module> {
    return Object.fromEntries(this.targets);
  }

  evaluableBackbone(): EvaluableBackbone {
    for (const [name, m] of this.students) {
      if (m instanceof MultiCropNetwork) return { module: m.backbone, prefix: `${name}.backbone.` };
    }
    throw new Error(`${this.name}: no student is a MultiCropNetwork; override evaluableBackbone() to name the backbone to evaluate`);
  }

  /** Momentum of the first target network's EMA after global step `step` (null without targets). */
  momentumAt(step: number): number | null {
    return this.emaTargets.length > 0 ? this.emaTargets[0].momentumAt(step) : null;
  }

  loss(batch: ViewBatch, ctx: StepContext): tf.Scalar {
    // A loss without its afterStep (e.g. an evaluation pass) must not leak the previous one.
    this.releasePending();
    return tf.tidy(() => {
      const r = this.computeLoss(batch, ctx);
      const names: string[] = [];
      const values: tf.Tensor[] = [];
      // Metrics are read, never differentiated: computed off the tape.
      noGrad(() => {
        if (r.pairLoss) {
          names.push('loss_gg', 'loss_gl');
          values.push(pairBlockMeans(r.pairLoss.matrix, r.pairLoss.nGlobal, r.pairLoss.targets));
        }
        for (const [n, t] of Object.entries(r.metrics ?? {})) {
          if (t.size !== 1) throw new Error(`${this.name}: metric '${n}' is [${t.shape}], not a scalar`);
          names.push(n);
          values.push(t);
        }
      });
      const stats = values.length > 0 ? tf.keep(noGrad(() => tf.concat(values.map((v) => tf.reshape(v, [-1]))) as tf.Tensor1D)) : null;
      const keep = (r.keep ?? {}) as K;
      for (const t of Object.values(keep)) tf.keep(t);
      this.pending = { keep, names, stats };
      return r.loss;
    });
  }

  afterStep(ctx: StepContext): void {
    const p = this.pending;
    if (!p) throw new Error(`${this.name}.afterStep: no loss was computed in this step`);
    try {
      for (const t of this.emaTargets) t.updater.update(t.momentumAt(ctx.step));
      const m = this.momentumAt(ctx.step);
      if (m !== null) ctx.metric('momentum', m);
      this.afterUpdate(p.keep, ctx);
      if (p.stats) {
        const v = p.stats.dataSync();
        p.names.forEach((n, i) => ctx.metric(n, v[i]));
      }
    } finally {
      this.releasePending();
    }
  }

  tensorState(): TensorState {
    const out: TensorState = new Map();
    for (const [n, { variable }] of this.stateTensors) out.set(n, variable);
    for (const part of this.stateParts) for (const [n, t] of part.tensorState?.() ?? []) out.set(n, t);
    return out;
  }

  loadTensorState(state: TensorState): void {
    for (const [n, { variable, shapeHint }] of this.stateTensors) {
      const t = state.get(n);
      if (!t) throw new CheckpointError(`${this.name}: checkpoint has no '${n}'`);
      if (!tf.util.arraysEqual(t.shape, variable.shape)) {
        throw new CheckpointError(
          `${this.name}: checkpoint ${n} is [${t.shape}], this run needs [${variable.shape}]${shapeHint ? ` (${shapeHint})` : ''}`,
        );
      }
      variable.assign(t);
    }
    for (const part of this.stateParts) part.loadTensorState?.(state);
  }

  jsonState(): JsonState {
    return Object.assign({}, ...this.stateParts.map((p) => p.jsonState?.() ?? {}));
  }

  loadJsonState(state: JsonState): void {
    for (const part of this.stateParts) part.loadJsonState?.(state);
  }

  dispose(): void {
    this.releasePending();
    for (const m of [...this.students.values(), ...this.targets.values()]) m.dispose();
    for (const { variable } of this.stateTensors.values()) variable.dispose();
    for (const part of this.stateParts) (part as { dispose?: () => void }).dispose?.();
  }

  private releasePending(): void {
    if (this.pending) {
      tf.dispose([...Object.values(this.pending.keep), ...(this.pending.stats ? [this.pending.stats] : [])]);
      this.pending = null;
    }
  }

  private checkName(name: string): void {
    if (this.students.has(name) || this.targets.has(name)) throw new Error(`${this.name}: network '${name}' registered twice`);
  }
}
