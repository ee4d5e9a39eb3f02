import type * as tf from '@tensorflow/tfjs-core';
import type { ResolvedConfig } from '../core/config';
import type { EvaluableBackbone, SSLMethod } from '../core/interfaces';
import type { Module } from '../nn/module';
import { registry } from '../core/registry';
import { Rng } from '../core/rng';

/**
 * The backbone a run's method evaluates, and the prefix of its weights in model.safetensors,
 * found by building the config's method through the registry (built-in or `--plugin`) and asking
 * it (`SSLMethod.evaluableBackbone`). Used by the evaluation commands, so any method's checkpoints
 * can be evaluated. The method is built as the run built it (same seed stream as compose.ts), so
 * the returned backbone, before loading weights, is the run's initial one (the random-init
 * baseline). Only the networks matter here, so the schedule inputs are nominal.
 */
export function buildEvaluableBackbone(config: ResolvedConfig): EvaluableBackbone {
  const views = registry.get('views', config.views.name).create(config.views.options, {});
  const backboneDef = registry.get('backbone', config.backbone.name);
  const method = registry.get('method', config.method.name).create(config.method.options, {
    buildBackbone: (rng) => backboneDef.create(config.backbone.options, { rng }),
    rng: new Rng(config.trainer.seed + 1),
    nGlobal: views.nGlobal,
    nLocal: views.nLocal,
    batchSize: config.trainer.batch_size,
    epochs: config.trainer.epochs,
    stepsPerEpoch: 1,
  });
  const evaluable = method.evaluableBackbone();
  if (!evaluable || typeof evaluable.prefix !== 'string' || !evaluable.module) {
    throw new Error(`method '${config.method.name}': evaluableBackbone() must return { module, prefix }`);
  }
  releaseAllBut(method, evaluable.module);
  return evaluable;
}

/** Frees the method's networks and state tensors, except the variables of `keep`. */
function releaseAllBut(method: SSLMethod, keep: Module): void {
  const kept = new Set<tf.Tensor>([...keep.stateTensors().values()].map((e) => e.tensor));
  const modules = [...Object.values(method.studentModules()), ...Object.values(method.targetModules())];
  const owned = [...modules.flatMap((m) => [...m.stateTensors().values()].map((e) => e.tensor)), ...(method.tensorState?.().values() ?? [])];
  for (const t of new Set(owned)) if (!kept.has(t)) t.dispose();
}
