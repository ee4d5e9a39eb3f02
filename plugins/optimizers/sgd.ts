import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { OptimizerHyper } from '../../src/core/interfaces';
import { registerPlugin } from '../../src/core/registry';
import type { Parameter } from '../../src/nn/module';
import { type OptimizerDeps, ScheduledOptimizer, isRegularized, scheduleShape } from './common';

export const sgdSchema = z
  .object({
    // Paper, Appendix B (semi-supervised): SGD Nesterov momentum 0.9, lr 0.03 x batch/256, cosine to 1e-6, no warm-up.
    ...scheduleShape({ lr: 0.03, min_lr: 1e-6, min_lr_ratio: 0, warmup_epochs: 0, weight_decay: 0, weight_decay_end: null }),
    momentum: z.number().min(0).max(1).default(0.9),
    nesterov: z.boolean().default(false),
    /** DINO/SSLight param groups exempt biases and norm parameters from weight decay. */
    decay_bias_and_norm: z.boolean().default(false),
  })
  .strict()
  .refine((o) => !o.nesterov || o.momentum > 0, { message: 'nesterov needs momentum > 0', path: ['nesterov'] });
export type SgdOptions = z.output<typeof sgdSchema>;

/**
 * torch.optim.SGD (dampening 0): d = g + wd p; buf = momentum buf + d (buf starts at d);
 * step = nesterov ? d + momentum buf : buf; p -= lr step. State: `<param>.momentum_buffer`.
 */
export class Sgd extends ScheduledOptimizer {
  readonly name = 'sgd';

  constructor(readonly options: SgdOptions, deps: OptimizerDeps) {
    super(options, deps);
  }

  protected updateParam(param: Parameter, grad: tf.Tensor, hyper: OptimizerHyper): void {
    const p = param.variable;
    const { momentum, nesterov, decay_bias_and_norm } = this.options;
    let d: tf.Tensor = grad;
    if (hyper.weightDecay !== 0 && (decay_bias_and_norm || isRegularized(param))) d = tf.add(d, tf.mul(p, hyper.weightDecay));
    if (momentum !== 0) {
      const buf = this.slot(param, 'momentum_buffer');
      buf.assign(tf.add(tf.mul(buf, momentum), d));
      d = nesterov ? tf.add(d, tf.mul(buf, momentum)) : buf;
    }
    p.assign(tf.sub(p, tf.mul(d, hyper.lr)));
  }
}

registerPlugin({
  kind: 'optimizer',
  name: 'sgd',
  description: 'SGD with momentum (optionally Nesterov) and weight decay, torch semantics',
  schema: sgdSchema,
  create: (options, deps) => new Sgd(options, deps),
});
