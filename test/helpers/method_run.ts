import * as tf from '@tensorflow/tfjs-core';
import { CheckpointStore } from '../../src/core/checkpoint';
import { trainerSchema } from '../../src/core/config';
import { EventBus } from '../../src/core/events';
import type { BatchSource, Callback, RunInfo, SSLMethod } from '../../src/core/interfaces';
import type { Parameter } from '../../src/nn/module';
import { registry } from '../../src/core/registry';
import { Rng } from '../../src/core/rng';
import { Trainer } from '../../src/core/trainer';
import { ToyBackbone } from './toy_backbone';

// An SSL method plugin on toy backbones through the real Trainer (2 global + 2 local views,
// AdamW), for the methods' resume tests. Method plugins must be registered by the caller.

export interface MethodRunOptions<M> {
  method: string;
  options: Record<string, unknown>;
  /** The parameters the optimizer updates. */
  params: (m: M) => Parameter[];
  batches: BatchSource;
  batchSize: number;
  epochs: number;
  lr: number;
  runDir: string | null;
  maxSteps: number | null;
  callbacks?: Callback[];
}

export function methodRun<M extends SSLMethod>(o: MethodRunOptions<M>): { trainer: Trainer; method: M } {
  const stepsPerEpoch = o.batches.stepsPerEpoch;
  const mdef = registry.get('method', o.method);
  const method = mdef.create(mdef.schema.parse(o.options), {
    buildBackbone: (rng) => new ToyBackbone(rng),
    rng: new Rng(5),
    nGlobal: 2,
    nLocal: 2,
    batchSize: o.batchSize,
    epochs: o.epochs,
    stepsPerEpoch,
  }) as M;
  const odef = registry.get('optimizer', 'adamw');
  const optimizer = odef.create(odef.schema.parse({ lr: o.lr, scale_lr_by_batch: false, warmup_epochs: 0 }), {
    params: o.params(method).filter((p) => p.trainable),
    batchSize: o.batchSize,
    epochs: o.epochs,
    stepsPerEpoch,
  });
  const trainer = new Trainer({
    options: trainerSchema.parse({ epochs: o.epochs, batch_size: o.batchSize }),
    events: new EventBus(),
    batches: o.batches,
    method,
    optimizer,
    callbacks: o.callbacks ?? [],
    checkpoints: o.runDir ? new CheckpointStore(o.runDir) : null,
    backendName: tf.getBackend(),
    runDir: o.runDir,
    config: { test: true },
    maxSteps: o.maxSteps,
  });
  return { trainer, method };
}

/** A callback that saves a checkpoint after the given step. */
export function saveAfterStep(step: number): Callback {
  return {
    name: 'save-at',
    async afterStep(run: RunInfo, s: number) {
      if (s === step) await run.saveCheckpoint('test');
    },
  };
}
