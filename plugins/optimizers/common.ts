import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { Optimizer, OptimizerHyper, TensorState } from '../../src/core/interfaces';
import type { PluginKinds } from '../../src/core/registry';
import { CheckpointError, ConfigError } from '../../src/core/errors';
import { CosineSchedule } from '../../src/core/schedules';
import type { Parameter } from '../../src/nn/module';

/** Per-optimizer defaults of the shared schedule keys. */
export interface ScheduleDefaults {
  lr: number;
  min_lr: number | null;
  min_lr_ratio: number;
  warmup_epochs: number;
  weight_decay: number;
  weight_decay_end: number | null;
}

/**
 * The schedule keys every optimizer shares (DINO/SSLight semantics):
 * - lr: base lr; the peak lr is lr * batch / 256 when scale_lr_by_batch.
 * - min_lr: absolute final lr of the cosine decay (DINO's --min_lr); when null the final lr is
 *   min_lr_ratio * peak lr (the paper's "min lr = lr x 1e-3").
 * - warmup_epochs / start_warmup_lr: linear warm-up from start_warmup_lr to the peak lr.
 * - weight_decay, weight_decay_end: cosine wd -> wd_end without warm-up; null end = constant.
 */
export function scheduleShape(d: ScheduleDefaults) {
  return {
    lr: z.number().positive().default(d.lr),
    scale_lr_by_batch: z.boolean().default(true),
    min_lr: z.number().nonnegative().nullable().default(d.min_lr),
    min_lr_ratio: z.number().min(0).max(1).default(d.min_lr_ratio),
    warmup_epochs: z.number().nonnegative().default(d.warmup_epochs),
    start_warmup_lr: z.number().nonnegative().default(0),
    weight_decay: z.number().nonnegative().default(d.weight_decay),
    weight_decay_end: z.number().nonnegative().nullable().default(d.weight_decay_end),
  };
}

export interface ScheduleOptions {
  lr: number;
  scale_lr_by_batch: boolean;
  min_lr: number | null;
  min_lr_ratio: number;
  warmup_epochs: number;
  start_warmup_lr: number;
  weight_decay: number;
  weight_decay_end: number | null;
}

export type OptimizerDeps = PluginKinds['optimizer']['deps'];

/** The peak learning rate after the linear batch-size scaling rule. */
export function peakLr(opts: ScheduleOptions, batchSize: number): number {
  return opts.scale_lr_by_batch ? (opts.lr * batchSize) / 256 : opts.lr;
}

/**
 * Shared machinery: lr / wd schedules, parameter lookup, named state slots (momentum buffers,
 * Adam moments) that round-trip through tensorState, and one tidy per `apply`.
 * Subclasses implement `updateParam` for a single parameter.
 */
export abstract class ScheduledOptimizer implements Optimizer {
  abstract readonly name: string;
  protected readonly lrSchedule: CosineSchedule;
  protected readonly wdSchedule: CosineSchedule;
  /** Parameters by variable identity: grads maps may hold other Parameter objects for the same variable. */
  protected readonly byVariable = new Map<tf.Variable, Parameter>();
  protected readonly byName = new Map<string, Parameter>();
  /** State slots by `<param name>.<slot>` (torch-like state naming for checkpoints). */
  protected readonly slots = new Map<string, tf.Variable>();

  constructor(opts: ScheduleOptions, deps: OptimizerDeps) {
    const steps = deps.stepsPerEpoch;
    if (opts.warmup_epochs > deps.epochs) {
      throw new ConfigError('optimizer.warmup_epochs', `${opts.warmup_epochs} warm-up epochs exceed the run's ${deps.epochs} epochs`);
    }
    const peak = peakLr(opts, deps.batchSize);
    const minLr = opts.min_lr ?? peak * opts.min_lr_ratio;
    this.lrSchedule = new CosineSchedule(peak, minLr, deps.epochs, steps, opts.warmup_epochs, opts.start_warmup_lr);
    this.wdSchedule = new CosineSchedule(opts.weight_decay, opts.weight_decay_end ?? opts.weight_decay, deps.epochs, steps);
    for (const p of deps.params) {
      if (this.byName.has(p.name)) throw new ConfigError('optimizer', `two parameters share the name '${p.name}'`);
      this.byVariable.set(p.variable, p);
      this.byName.set(p.name, p);
    }
  }

  hyperAt(step: number): OptimizerHyper {
    return { lr: this.lrSchedule.at(step), weightDecay: this.wdSchedule.at(step) };
  }

  apply(grads: Map<Parameter, tf.Tensor>, hyper: OptimizerHyper): void {
    tf.tidy(() => {
      for (const [key, grad] of grads) {
        const param = this.byVariable.get(key.variable);
        if (!param) {
          throw new Error(`${this.name}: got a gradient for '${key.name}', which is not among the optimizer's parameters`);
        }
        if (!param.trainable) continue;
        this.updateParam(param, grad, hyper);
      }
    });
  }

  /** Update one parameter in place (called inside apply's tidy). */
  protected abstract updateParam(param: Parameter, grad: tf.Tensor, hyper: OptimizerHyper): void;

  /** The slot `<param>.<slot>`, created as zeros on first use (torch creates state lazily). */
  protected slot(param: Parameter, slot: string): tf.Variable {
    const key = `${param.name}.${slot}`;
    let v = this.slots.get(key);
    if (!v) {
      v = tf.variable(tf.zerosLike(param.variable), false);
      this.slots.set(key, v);
    }
    return v;
  }

  /** True when a slot exists (first-step logic of optimizers that need it). */
  protected hasSlot(param: Parameter, slot: string): boolean {
    return this.slots.has(`${param.name}.${slot}`);
  }

  tensorState(): TensorState {
    return new Map(this.slots);
  }

  loadTensorState(state: TensorState): void {
    for (const [key, tensor] of state) {
      const dot = key.lastIndexOf('.');
      const pname = dot > 0 ? key.slice(0, dot) : '';
      const param = this.byName.get(pname);
      if (!param) {
        throw new CheckpointError(`${this.name} state '${key}' names no parameter of this run (known e.g. '${[...this.byName.keys()][0] ?? ''}')`);
      }
      if (!tf.util.arraysEqual(tensor.shape, param.variable.shape)) {
        throw new CheckpointError(`${this.name} state '${key}' has shape [${tensor.shape}], parameter has [${param.variable.shape}]`);
      }
      const existing = this.slots.get(key);
      if (existing) existing.assign(tensor);
      else this.slots.set(key, tf.variable(tensor, false));
    }
  }

  /** Drop all state tensors (the optimizer can be used again; state restarts from zero). */
  dispose(): void {
    for (const v of this.slots.values()) v.dispose();
    this.slots.clear();
  }
}

/** Weight decay applies to conv/linear weights; biases and norm affine parameters are exempt (DINO's param groups). */
export function isRegularized(param: Pick<Parameter, 'kind'>): boolean {
  return param.kind !== 'bias' && param.kind !== 'norm';
}
