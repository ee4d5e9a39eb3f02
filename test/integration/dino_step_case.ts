/**
 * The fixed SSLight-DINO training run that `dino_step_parity.test.ts` compares against PyTorch
 * (`test/fixtures/dino_step/make_reference.py`). Everything is a function of the constants
 * below: the model's initialisation comes from the seeded Rng, the batch too, so nothing but the
 * small PyTorch summary (`reference.json`) is stored. `dump_inputs.ts` writes the initial
 * checkpoint and the batch for the Python side.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import '../../plugins/backbones';
import '../../plugins/methods';
import '../../plugins/optimizers';
import type { Dino } from '../../plugins/methods/dino/dino';
import type { BatchSource, Callback, Optimizer, ViewBatch } from '../../src/core/interfaces';
import { registry } from '../../src/core/registry';
import { Rng } from '../../src/core/rng';
import { trainerSchema } from '../../src/core/config';
import { EventBus, ofType } from '../../src/core/events';
import { CheckpointStore } from '../../src/core/checkpoint';
import { Trainer } from '../../src/core/trainer';
import { parseSafetensors, type SafeTensor } from '../../src/nn/safetensors';
import { makeViewBatch } from '../../data/host_batch';

export const SEED = 20240611;
export const BATCH = 4;
export const N_GLOBAL = 2;
export const N_LOCAL = 2;
export const GLOBAL_SIZE = 24;
export const LOCAL_SIZE = 12;
/** One batch per epoch, so the per-epoch schedules (teacher temperature, frozen last layer) move every step. */
export const EPOCHS = 4;
export const STEPS_PER_EPOCH = 1;
export const STEPS = 3;
/**
 * small_input (stride 8): on small crops the standard stride-32 network ends in 1x1 maps,
 * where train-mode BN over 8 values makes the randomly initialised net so chaotic that PyTorch's
 * own float32 and float64 runs disagree by 2-50% in the loss by step 3 (measured); with 3x3 / 2x2 (24x24 / 12x12 crops)
 * final maps they agree to ~1e-5.
 */
export const BACKBONE = { width: 0.25, small_input: true };

const HEAD = { out_dim: 32, hidden_dim: 16, bottleneck_dim: 8, n_layers: 3, use_bn_in_head: true, norm_last_layer: true };
const TEMPS = { warmup_teacher_temp: 0.04, teacher_temp: 0.07, warmup_teacher_temp_epochs: 2, student_temp: 0.1, center_momentum: 0.9 };

export interface StepCase {
  name: string;
  /** Options of the `dino` method plugin (schema defaults fill the rest). */
  method: Record<string, unknown>;
  optimizer: { name: 'lars' | 'adamw'; options: Record<string, unknown> };
}

/**
 * Two cases. Both use a low teacher momentum (0.9 -> 1 cosine) so the EMA moves the teacher by
 * more than float32 rounding, and a weight decay large enough for the exclusions to matter.
 * Step sizes are ~1e-4 per element: the net at initialisation has gradients of ~100 on early BN
 * parameters, so at the paper's learning rates 3 steps are chaotic (float32 noise grows to O(1)
 * in the loss, in PyTorch too); LARS therefore runs at lr 1e-6 with eta 100 (adapted weights move
 * by lr * eta ~ 1e-4 of their norm per step, as eta 0.001 at lr 0.1 would).
 * - lars: SSLight's eq. 3 (alpha 0.4), LARS with the paper's depth-wise rule, last layer trained
 *   from the first step (gradients through weight norm and the L2 normalisation).
 * - adamw: eq. 2 (alpha null), AdamW, last layer frozen in epoch 0 (its Adam step count starts
 *   at step 1), per-parameter gradient clipping.
 */
export const CASES: StepCase[] = [
  {
    name: 'lars',
    method: { ...HEAD, ...TEMPS, alpha: 0.4, momentum_teacher: 0.9, freeze_last_layer: 0, clip_grad: 0 },
    optimizer: {
      name: 'lars',
      options: {
        lr: 1e-6,
        eta: 100,
        scale_lr_by_batch: false,
        warmup_epochs: 0,
        weight_decay: 0.5,
        weight_decay_end: 1.0,
        depthwise_rule: 'paper',
      },
    },
  },
  {
    name: 'adamw',
    method: { ...HEAD, ...TEMPS, alpha: null, momentum_teacher: 0.9, freeze_last_layer: 1, clip_grad: 0.5 },
    optimizer: {
      name: 'adamw',
      // eps 1e-4 rather than 1e-8: gradients that are zero in exact arithmetic (BN shifts followed
      // by another BN) are float32 noise, which Adam would turn into full-size steps of random sign.
      options: { lr: 3e-5, eps: 1e-4, scale_lr_by_batch: false, warmup_epochs: 0, min_lr: 3e-6, weight_decay: 0.04, weight_decay_end: 0.4 },
    },
  },
];

/** The batch, view-major: N_GLOBAL views [B, 32, 32, 3] then N_LOCAL views [B, 16, 16, 3], N(0, 1). */
export function batchData(): { globals: Float32Array[]; locals: Float32Array[] } {
  const rng = new Rng(SEED + 7);
  const view = (s: number) => Float32Array.from({ length: BATCH * s * s * 3 }, () => rng.normal());
  const globals = Array.from({ length: N_GLOBAL }, () => view(GLOBAL_SIZE));
  const locals = Array.from({ length: N_LOCAL }, () => view(LOCAL_SIZE));
  return { globals, locals };
}

/** Yields the same batch (fresh tensors: the trainer disposes them) in every epoch. */
class FixedBatches implements BatchSource {
  readonly stepsPerEpoch = STEPS_PER_EPOCH;
  private readonly data = batchData();
  async *batchesForEpoch(_epoch: number, startBatch = 0): AsyncIterable<ViewBatch> {
    for (let k = startBatch; k < this.stepsPerEpoch; k++) {
      yield makeViewBatch({
        globals: this.data.globals.map((d) => tf.tensor4d(d, [BATCH, GLOBAL_SIZE, GLOBAL_SIZE, 3])),
        locals: this.data.locals.map((d) => tf.tensor4d(d, [BATCH, LOCAL_SIZE, LOCAL_SIZE, 3])),
        labels: new Int32Array(BATCH),
      });
    }
  }
}

export interface Built {
  method: Dino;
  optimizer: Optimizer;
  trainer: Trainer;
  store: CheckpointStore;
  runDir: string;
  /** Per step: DINO's center after the step, and the step:end metrics. */
  centers: number[][];
  stepMetrics: Array<{ lr: number; wd: number; momentum: number; teacher_temp: number }>;
  dispose(): void;
}

/** The method, optimizer and the real Trainer of one case, with a checkpoint store in a temp dir. */
export function buildCase(c: StepCase): Built {
  const backboneDef = registry.get('backbone', 'mobilenetv2');
  const methodDef = registry.get('method', 'dino');
  const method = methodDef.create(methodDef.schema.parse(c.method), {
    buildBackbone: (rng) => backboneDef.create(backboneDef.schema.parse(BACKBONE), { rng }),
    rng: new Rng(SEED + 1),
    nGlobal: N_GLOBAL,
    nLocal: N_LOCAL,
    batchSize: BATCH,
    epochs: EPOCHS,
    stepsPerEpoch: STEPS_PER_EPOCH,
  }) as Dino;
  const params = Object.entries(method.studentModules()).flatMap(([k, m]) => m.namedParameters(`${k}.`).filter((p) => p.trainable));
  const optDef = registry.get('optimizer', c.optimizer.name);
  const optimizer = optDef.create(optDef.schema.parse(c.optimizer.options), {
    params,
    batchSize: BATCH,
    epochs: EPOCHS,
    stepsPerEpoch: STEPS_PER_EPOCH,
  });
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), `sslight-dino-step-${c.name}-`));
  const store = new CheckpointStore(runDir);
  const events = new EventBus();
  const centers: number[][] = [];
  const stepMetrics: Built['stepMetrics'] = [];
  const recorder: Callback = {
    name: 'parity-recorder',
    attach: (events$) =>
      events$.pipe(ofType('step:end')).subscribe((e) => {
        const m = e.metrics as Record<string, number>;
        stepMetrics.push({ lr: e.lr, wd: e.wd, momentum: m.momentum, teacher_temp: m.teacher_temp });
      }),
    afterStep: () => {
      centers.push(Array.from(method.center.dataSync()));
    },
  };
  const trainer = new Trainer({
    options: trainerSchema.parse({ epochs: EPOCHS, batch_size: BATCH, seed: SEED, max_steps: STEPS }),
    events,
    batches: new FixedBatches(),
    method,
    optimizer,
    callbacks: [recorder],
    checkpoints: store,
    backendName: tf.getBackend(),
    runDir,
    config: { case: c.name },
  });
  return {
    method,
    optimizer,
    trainer,
    store,
    runDir,
    centers,
    stepMetrics,
    dispose() {
      method.dispose();
      (optimizer as Optimizer & { dispose?: () => void }).dispose?.();
      fs.rmSync(runDir, { recursive: true, force: true });
    },
  };
}

/** `model.safetensors` of a checkpoint directory (PyTorch names and layouts). */
export function readModel(checkpointDir: string): Map<string, SafeTensor> {
  return parseSafetensors(fs.readFileSync(path.join(checkpointDir, 'model.safetensors'))).tensors;
}

/** The probe vector of the summaries: cos(i) over the flat PyTorch-layout index. */
const probe = (i: number) => Math.cos(i);

/**
 * Per tensor, in float64 over the PyTorch layout: [sum, norm, dot with cos(i)] of its change since
 * the initial state. The change is what the steps computed (weights move by ~1e-4 relative in 3
 * steps, invisible in the sums of the values themselves); the probe catches permutations and sign
 * errors that sums miss.
 */
export function summarize(init: Map<string, SafeTensor>, final: Map<string, SafeTensor>): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const name of [...final.keys()].sort()) {
    const f = final.get(name)!;
    const i0 = init.get(name);
    if (!i0) throw new Error(`summarize: '${name}' is not in the initial state`);
    const fv = Array.from(f.data as ArrayLike<number | bigint>, Number);
    const iv = Array.from(i0.data as ArrayLike<number | bigint>, Number);
    let dsum = 0;
    let dsumsq = 0;
    let dprobe = 0;
    for (let k = 0; k < fv.length; k++) {
      const d = fv[k] - iv[k];
      dsum += d;
      dsumsq += d * d;
      dprobe += d * probe(k);
    }
    out[name] = [dsum, Math.sqrt(dsumsq), dprobe];
  }
  return out;
}
