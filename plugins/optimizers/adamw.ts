import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { JsonState, OptimizerHyper } from '../../src/core/interfaces';
import { registerPlugin } from '../../src/core/registry';
import { CheckpointError } from '../../src/core/errors';
import type { Parameter } from '../../src/nn/module';
import { type OptimizerDeps, ScheduledOptimizer, isRegularized, scheduleShape } from './common';

export const adamwSchema = z
  .object({
    // Paper, Appendix A (ViTs): AdamW (0.9, 0.999), lr 5e-4 x batch/256, min 1e-5, wd cosine 0.04 -> 0.4, 10 warm-up epochs.
    ...scheduleShape({ lr: 5e-4, min_lr: 1e-5, min_lr_ratio: 0, warmup_epochs: 10, weight_decay: 0.04, weight_decay_end: 0.4 }),
    betas: z.tuple([z.number().min(0).lt(1), z.number().min(0).lt(1)]).default([0.9, 0.999]),
    eps: z.number().positive().default(1e-8),
  })
  .strict();
export type AdamwOptions = z.output<typeof adamwSchema>;

/**
 * torch.optim.AdamW, written out rather than tf.train.adam: tfjs's Adam has no decoupled decay
 * and folds eps as eps*sqrt(bc2), which differs from torch (reference/adamw.json tfjs_warning).
 *   p *= 1 - lr wd;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
 *   p -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps)
 * Biases and norm parameters get no weight decay (DINO's param groups). Step counts are per
 * parameter as in torch, so a parameter skipped during freeze_last_layer starts its bias
 * correction when it first gets a gradient. State: `<param>.exp_avg`, `<param>.exp_avg_sq`,
 * and the counts in jsonState.
 */
export class AdamW extends ScheduledOptimizer {
  readonly name = 'adamw';
  private readonly steps = new Map<string, number>();

  constructor(readonly options: AdamwOptions, deps: OptimizerDeps) {
    super(options, deps);
  }

  protected updateParam(param: Parameter, grad: tf.Tensor, hyper: OptimizerHyper): void {
    const p = param.variable;
    const [b1, b2] = this.options.betas;
    const t = (this.steps.get(param.name) ?? 0) + 1;
    this.steps.set(param.name, t);
    const wd = isRegularized(param) ? hyper.weightDecay : 0;
    const decayed = wd !== 0 ? tf.mul(p, 1 - hyper.lr * wd) : p;
    const m = this.slot(param, 'exp_avg');
    const v = this.slot(param, 'exp_avg_sq');
    m.assign(tf.add(tf.mul(m, b1), tf.mul(grad, 1 - b1)));
    v.assign(tf.add(tf.mul(v, b2), tf.mul(tf.square(grad), 1 - b2)));
    const bc1 = 1 - Math.pow(b1, t);
    const bc2 = 1 - Math.pow(b2, t);
    const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(bc2)), this.options.eps);
    p.assign(tf.sub(decayed, tf.mul(tf.div(m, denom), hyper.lr / bc1)));
  }

  jsonState(): JsonState {
    return { step: Object.fromEntries(this.steps) };
  }

  loadJsonState(state: JsonState): void {
    const steps = state.step;
    if (steps === undefined) return;
    if (typeof steps !== 'object' || steps === null) throw new CheckpointError(`adamw state 'step' must be an object of counts`);
    this.steps.clear();
    for (const [name, n] of Object.entries(steps as Record<string, unknown>)) {
      if (!this.byName.has(name)) throw new CheckpointError(`adamw state 'step' names unknown parameter '${name}'`);
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) throw new CheckpointError(`adamw step count of '${name}' is ${String(n)}`);
      this.steps.set(name, n);
    }
  }
}

registerPlugin({
  kind: 'optimizer',
  name: 'adamw',
  description: 'AdamW with decoupled weight decay, torch semantics (biases/norms not decayed)',
  schema: adamwSchema,
  create: (options, deps) => new AdamW(options, deps),
});
