import * as tf from '@tensorflow/tfjs-core';
import type { Module } from '../../../src/nn/module';
// src/kernels is the layer below src/nn: its fused EMA is one native pass per parameter on wasm.
import { emaAssign } from '../../../src/kernels/ema_update';

/**
 * The momentum (EMA) update of a target network from an online one, shared by every method
 * with a target network (DINO teacher, MoCo key encoder, BYOL target):
 *   target <- m * target + (1 - m) * online      for every PARAMETER (frozen ones included).
 * Buffers (BN running statistics) are not averaged: as in DINO/MoCo the target's own forward
 * passes update them. Parameters are paired by name once, shapes checked.
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
    emaAssign(this.pairs, m);
  }
}

/** One-off form of EmaUpdater (pairs parameters by name on every call). */
export function emaUpdate(target: Module, online: Module, m: number): void {
  new EmaUpdater(target, online).update(m);
}

/**
 * Makes `target` (a fresh network of the online one's architecture) the online network's EMA
 * copy: it starts equal (parameters and buffers, torch's load_state_dict), never gets gradients
 * (its variables leave tf.variableGrads' default list) and stays in train mode, as DINO, MoCo
 * and BYOL run their target networks (BN on batch statistics).
 */
export function emaTarget(target: Module, online: Module): EmaUpdater {
  const updater = new EmaUpdater(target, online);
  target.copyFrom(online);
  for (const p of target.namedParameters()) p.variable.trainable = false;
  target.train();
  return updater;
}
