import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { OptimizerHyper } from '../../src/core/interfaces';
import { registerPlugin } from '../../src/core/registry';
import type { Parameter } from '../../src/nn/module';
// src/kernels is the layer below src/nn (no imports upwards): its fused ops are used here for speed.
import { larsStep } from '../../src/kernels/lars_update';
import { type OptimizerDeps, ScheduledOptimizer, isRegularized, scheduleShape } from './common';

/**
 * How depth-wise conv weights are treated (see reference/lars.json):
 * - 'paper': no weight decay and no layer-wise adaptation (the paper's text; SSLight with
 *   WD_FACTOR_FOR_DW=0, LARS_EXCLUDE_DW=True).
 * - 'official': no weight decay but still adapted (SSLight's shipped defaults,
 *   WD_FACTOR_FOR_DW=0, LARS_EXCLUDE_DW=False).
 * - 'dino': like any other weight, decay and adaptation (facebookresearch/dino utils.LARS).
 */
export const DEPTHWISE_RULES = ['paper', 'official', 'dino'] as const;
export type DepthwiseRule = (typeof DEPTHWISE_RULES)[number];

export const larsSchema = z
  .object({
    // Paper, Appendix A (CNNs): base lr 0.48 (DINO, MoCo-v2; SwAV 0.3) x batch/256, min lr = lr x 1e-3,
    // weight decay 1e-6 constant, 10 warm-up epochs, momentum 0.9.
    ...scheduleShape({ lr: 0.48, min_lr: null, min_lr_ratio: 1e-3, warmup_epochs: 10, weight_decay: 1e-6, weight_decay_end: null }),
    momentum: z.number().min(0).max(1).default(0.9),
    eta: z.number().positive().default(0.001),
    depthwise_rule: z.enum(DEPTHWISE_RULES).default('paper'),
  })
  .strict();
export type LarsOptions = z.output<typeof larsSchema>;

/** What LARS does to one parameter: its weight-decay factor and whether it is adapted. */
export interface LarsParamRule {
  decay: boolean;
  adapt: boolean;
}

export function larsRule(kind: Parameter['kind'], depthwiseRule: DepthwiseRule): LarsParamRule {
  if (!isRegularized({ kind })) return { decay: false, adapt: false };
  if (kind === 'depthwise') {
    if (depthwiseRule === 'paper') return { decay: false, adapt: false };
    if (depthwiseRule === 'official') return { decay: false, adapt: true };
  }
  return { decay: true, adapt: true };
}

/**
 * LARS as in DINO's utils.LARS (momentum 0.9, eta 0.001, trust ratio eta*||p||/||g + wd p||,
 * q = 1 when either norm is 0), with per-kind rules for biases, norm parameters and depth-wise
 * weights. State: `<param>.momentum_buffer`.
 */
export class Lars extends ScheduledOptimizer {
  readonly name = 'lars';

  constructor(readonly options: LarsOptions, deps: OptimizerDeps) {
    super(options, deps);
  }

  ruleFor(param: Parameter): LarsParamRule {
    return larsRule(param.kind, this.options.depthwise_rule);
  }

  protected updateParam(param: Parameter, grad: tf.Tensor, hyper: OptimizerHyper): void {
    const rule = this.ruleFor(param);
    const mu = this.slot(param, 'momentum_buffer');
    // One fused kernel on wasm with the native addon (norms, trust ratio, momentum, update in two
    // passes); plain ops elsewhere (src/kernels/lars_update.ts).
    const [p, m] = larsStep(param.variable, grad, mu, {
      lr: hyper.lr,
      weightDecay: rule.decay ? hyper.weightDecay : 0,
      momentum: this.options.momentum,
      eta: this.options.eta,
      adapt: rule.adapt,
    });
    mu.assign(m);
    param.variable.assign(p);
  }
}

registerPlugin({
  kind: 'optimizer',
  name: 'lars',
  description: 'LARS with DINO/SSLight parameter rules (biases/norms exempt, depth-wise rule selectable)',
  schema: larsSchema,
  create: (options, deps) => new Lars(options, deps),
});
