/**
 * Detectron2's solver on the registered `sgd` optimizer plugin: SGD with momentum and weight
 * decay whose lr follows WarmupMultiStepLR (linear warm-up, step decay) per iteration.
 */
import type { Optimizer, OptimizerHyper, JsonState, TensorState } from '../../src/core/interfaces';
import type { Parameter } from '../../src/nn/module';
import type * as tf from '@tensorflow/tfjs-core';
import { registry } from '../../src/core/registry';
import { WarmupMultiStepSchedule } from '../../src/core/schedules';
import type { ScaledSolver, SolverOptions } from './config';

/** An optimizer whose update is another's and whose lr / wd come from a step schedule. */
export class StepScheduledOptimizer implements Optimizer {
  readonly name: string;
  constructor(
    private readonly inner: Optimizer,
    readonly schedule: WarmupMultiStepSchedule,
    readonly weightDecay: number,
  ) {
    this.name = inner.name;
  }

  hyperAt(step: number): OptimizerHyper {
    return { lr: this.schedule.at(step), weightDecay: this.weightDecay };
  }

  apply(grads: Map<Parameter, tf.Tensor>, hyper: OptimizerHyper): void {
    this.inner.apply(grads, hyper);
  }

  tensorState(): TensorState {
    return this.inner.tensorState?.() ?? new Map();
  }

  loadTensorState(state: TensorState): void {
    this.inner.loadTensorState?.(state);
  }

  jsonState(): JsonState {
    return this.inner.jsonState?.() ?? {};
  }

  loadJsonState(state: JsonState): void {
    this.inner.loadJsonState?.(state);
  }

  dispose(): void {
    (this.inner as { dispose?: () => void }).dispose?.();
  }
}

/**
 * SGD (torch semantics, momentum buffers saved as `<param>.momentum_buffer`) with the scaled
 * solver's schedule. Weight decay skips biases and norm parameters (the sgd plugin's parameter
 * groups); Detectron2 decays biases too and skips only norms (WEIGHT_DECAY_NORM = 0).
 */
export function buildDetectionOptimizer(params: Parameter[], solver: SolverOptions, scaled: ScaledSolver, batchSize: number): StepScheduledOptimizer {
  const def = registry.get('optimizer', 'sgd');
  const options = def.schema.parse({
    lr: scaled.lr,
    scale_lr_by_batch: false,
    momentum: solver.momentum,
    nesterov: solver.nesterov,
    weight_decay: solver.weight_decay,
  });
  const inner = def.create(options, { params, batchSize, epochs: 1, stepsPerEpoch: 1 });
  const schedule = new WarmupMultiStepSchedule(scaled.lr, scaled.steps, solver.gamma, scaled.warmupIters, solver.warmup_factor);
  return new StepScheduledOptimizer(inner, schedule, solver.weight_decay);
}
