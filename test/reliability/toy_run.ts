import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { EventBus, type TrainerEvent } from '../../src/core/events';
import { Trainer } from '../../src/core/trainer';
import { trainerSchema } from '../../src/core/config';
import { CheckpointStore } from '../../src/core/checkpoint';
import { Rng } from '../../src/core/rng';
import type { Callback } from '../../src/core/interfaces';
import { CheckpointCallback } from '../../plugins/callbacks/checkpoint';
import { JsonlCallback } from '../../plugins/callbacks/jsonl';
import { ToyBatches, ToyMethod, ToySgd } from '../helpers/toy';

/** A toy run (linear "network", 4 steps per epoch) with the real checkpoint and events.jsonl callbacks. */
export interface ToyRun {
  trainer: Trainer;
  method: ToyMethod;
  optimizer: ToySgd;
  events: TrainerEvent[];
  bus: EventBus;
}

export interface ToyRunOptions {
  epochs?: number;
  batchSize?: number;
  maxSteps?: number | null;
  everySteps?: number | null;
  keep?: number | null;
  jsonl?: boolean;
  callbacks?: Callback[];
  lr?: number;
}

export const STEPS_PER_EPOCH = 4;

export function toyRun(runDir: string | null, o: ToyRunOptions = {}): ToyRun {
  const method = new ToyMethod(4 * 4 * 3, new Rng(7));
  const optimizer = new ToySgd(method.student.namedParameters('student.'), o.lr ?? 0.01);
  const bus = new EventBus();
  const events: TrainerEvent[] = [];
  bus.events$.subscribe((e) => events.push(e));
  const bs = o.batchSize ?? 3;
  const callbacks: Callback[] = [
    ...(o.jsonl === false ? [] : [new JsonlCallback({ file: 'events.jsonl', exclude: ['step:start'] })]),
    new CheckpointCallback({ every_steps: o.everySteps === undefined ? 2 : o.everySteps, every_epochs: null, keep: o.keep ?? null, save_last: true }),
    ...(o.callbacks ?? []),
  ];
  const trainer = new Trainer({
    options: trainerSchema.parse({ epochs: o.epochs ?? 2, batch_size: bs }),
    events: bus,
    // 12 images / batch size: the steps per epoch follow the batch size, as with a real loader.
    batches: new ToyBatches(Math.floor((STEPS_PER_EPOCH * 3) / bs), bs, 4, 11),
    method,
    optimizer,
    callbacks,
    checkpoints: runDir ? new CheckpointStore(runDir) : null,
    backendName: tf.getBackend(),
    runDir,
    config: { trainer: { batch_size: bs } },
    maxSteps: o.maxSteps ?? null,
  });
  return { trainer, method, optimizer, events, bus };
}

export function tmpDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `sslight-rel-${tag}-`));
}

export async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected the promise to reject');
}

export function jsonLines(file: string): Record<string, unknown>[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

export function ckptName(step: number): string {
  return `step_${String(step).padStart(8, '0')}`;
}

/** The smallest real pre-training: DINO on a 0.25-width MobileNetV2, 16 px crops, 6 steps per epoch, wasm backend. */
export const TINY_PRETRAIN = `
data: {name: generated, num_images: 48, image_size: 32}
views: {name: sslight, global_crop_size: 16, local_crop_size: 8, n_local: 2}
method: {name: dino, out_dim: 32, hidden_dim: 16, bottleneck_dim: 8, warmup_teacher_temp_epochs: 1}
backbone: {name: mobilenetv2, width: 0.25}
optimizer: {name: lars, lr: 0.3, warmup_epochs: 1}
trainer: {epochs: 1, batch_size: 8, seed: 3, prefetch: 0}
callbacks:
  jsonl: {}
  checkpoint: {every_steps: 2, keep: 3}
`;
