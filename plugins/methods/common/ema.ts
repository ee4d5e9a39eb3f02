import * as tf from '@tensorflow/tfjs-core';
import type { Module } from '../../../src/nn/module';

/**
 * The momentum (EMA) update of a target network from an online one, shared by every method
 * with a target network (DINO teacher, MoCo key encoder):
 *   target <- m * target + (1 - m) * online      for every PARAMETER (frozen ones included).
 * Buffers (BN running statistics) are not averaged: as in DINO/MoCo the target's own forward
 * passes update them.
 */
export class EmaUpdater {
  private readonly pairs: Array<[tf.Variable, tf.Variable]> = [];

  constructor(readonly target: Module, readonly online: Module) {
    const onlineParams = new Map(online.namedParameters().map((p) => [p.name, p.variable]));
    const targetParams = target.namedParameters();
    if (targetParams.length !== onlineParams.size) {
      throw new Error(`EMA: target has ${targetParams.length} parameters, online has ${onlineParams.size}`);
    }
    for (const p of targetParams) {
      const o = onlineParams.get(p.name);
      if (!o) throw new Error(`EMA: online network has no parameter '${p.name}'`);
      if (!tf.util.arraysEqual(o.shape, p.variable.shape)) {
        throw new Error(`EMA: '${p.name}' is [${p.variable.shape}] in the target, [${o.shape}] online`);
      }
      this.pairs.push([p.variable, o]);
    }
  }

  /** One update with momentum m in [0, 1]; m = 1 leaves the target untouched. */
  update(m: number): void {
    if (!(m >= 0 && m <= 1)) throw new RangeError(`EMA momentum must be in [0, 1], got ${m}`);
    if (m === 1) return;
    tf.tidy(() => {
      for (const [t, o] of this.pairs) t.assign(tf.add(tf.mul(t, m), tf.mul(o, 1 - m)));
    });
  }
}

/** One-off form of EmaUpdater (pairs parameters by name on every call). */
export function emaUpdate(target: Module, online: Module, m: number): void {
  new EmaUpdater(target, online).update(m);
}
