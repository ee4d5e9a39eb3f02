import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { loadConfig } from '../src/core/config';
import { ofType } from '../src/core/events';
import { Tokens } from '../src/core/tokens';
import type { EventBus } from '../src/core/events';
import { buildRunContainer, createTrainer } from '../src/run/compose';
import '../src/run/builtins';

export interface StepBenchResult {
  name: string;
  backend: string;
  batch_size: number;
  images_per_s: number | null;
  step_ms: number[];
  peak_wasm_heap_mb: number | null;
  peak_rss_mb: number;
  num_tensors_flat: boolean;
  error?: string;
}

/** Wasm heap size in bytes when the active backend is wasm (it grows, never shrinks: = peak). */
export function wasmHeapBytes(): number | null {
  const b = tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } };
  return b.wasm?.HEAPU8 ? b.wasm.HEAPU8.length : null;
}

/**
 * Images/s of a pre-training step from a config, measured through the real trainer: `warmup`
 * steps are run first and dropped (kernel set-up, heap growth), then the median of `steps`.
 */
export async function benchPretrainStep(
  name: string,
  configFile: string,
  sets: string[],
  opts: { warmup: number; steps: number },
): Promise<StepBenchResult> {
  const config = loadConfig(path.resolve(configFile), [
    ...sets,
    'callbacks.progress=false',
    'callbacks.jsonl=false',
    'callbacks.checkpoint=false',
  ]);
  const c = buildRunContainer(config, { runDir: null, backendName: tf.getBackend(), maxSteps: opts.warmup + opts.steps });
  const trainer = createTrainer(c);
  const stepMs: number[] = [];
  const tensors: number[] = [];
  let peakRss = 0;
  const events = c.resolve<EventBus>(Tokens.Events);
  events.events$.pipe(ofType('step:end')).subscribe((e) => {
    stepMs.push(e.step_ms);
    tensors.push(tf.memory().numTensors);
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  });
  try {
    await trainer.run();
  } catch (e) {
    return {
      name,
      backend: tf.getBackend(),
      batch_size: config.trainer.batch_size,
      images_per_s: null,
      step_ms: stepMs,
      peak_wasm_heap_mb: mb(wasmHeapBytes()),
      peak_rss_mb: mb(peakRss) ?? 0,
      num_tensors_flat: false,
      error: (e as Error).message,
    };
  }
  const measured = stepMs.slice(opts.warmup).sort((a, b) => a - b);
  const median = measured[Math.floor(measured.length / 2)];
  return {
    name,
    backend: tf.getBackend(),
    batch_size: config.trainer.batch_size,
    images_per_s: (config.trainer.batch_size * 1000) / median,
    step_ms: stepMs,
    peak_wasm_heap_mb: mb(wasmHeapBytes()),
    peak_rss_mb: mb(peakRss) ?? 0,
    num_tensors_flat: new Set(tensors.slice(1)).size <= 1,
  };
}

function mb(bytes: number | null): number | null {
  return bytes === null ? null : Math.round((bytes / 2 ** 20) * 10) / 10;
}

/**
 * The ViT-Ti/16 DINO step (issue 4, the paper's ViT backbone), as overrides of the benchmark
 * config: 2 global 32x32 crops (a 2x2 patch grid + cls, pos_embed interpolated from 14x14) and
 * 6 local 16x16 crops (one patch + cls), DINO's ViT recipe (head without BN, AdamW lr 5e-4,
 * wd 0.04 -> 0.4, gradient clipping 3.0), out_dim and batch as in the CNN cases.
 * Whole sections are replaced (`backbone={...}`) because --set cannot delete the CNN options.
 */
export const VIT_STEP_SETS: string[] = [
  'backbone={name: vit_tiny, patch_size: 16}',
  'views.global_crop_size=32',
  'views.local_crop_size=16',
  'method.use_bn_in_head=false',
  'method.clip_grad=3.0',
  'optimizer={name: adamw, lr: 0.0005, warmup_epochs: 0, weight_decay: 0.04, weight_decay_end: 0.4}',
];

export function benchVitStep(configFile: string, opts: { warmup: number; steps: number }): Promise<StepBenchResult> {
  return benchPretrainStep('dino_vit_tiny16_32', configFile, VIT_STEP_SETS, opts);
}

/**
 * Images/s of one linear-probe training step (src/eval/linear_probe.ts): frozen backbone in eval
 * mode -> pooled features -> Linear(featureDim, 1000) -> cross-entropy -> LARS (the paper's
 * optimizer for CNN linear evaluation). Random 64x64 images and labels, fixed seed. The backbone
 * runs in chunks of 64 images (the probe's default), so batch 256 fits the wasm heap; the
 * numbers are per image, so a batch of 32 measures nearly the same rate.
 */
export async function benchLinearProbeStep(
  backbone: string,
  batch: number,
  opts: { warmup: number; steps: number; size?: number; numClasses?: number },
): Promise<StepBenchResult> {
  const { size = 64, numClasses = 1000 } = opts;
  const name = `linear_probe_${backbone}_${size}_b${batch}`;
  const { registry } = await import('../src/core/registry');
  const { Rng } = await import('../src/core/rng');
  const { LinearProbe } = await import('../src/eval/linear_probe');
  const def = registry.get('backbone', backbone);
  const net = def.create(def.schema.parse({}), { rng: new Rng(0) });
  const probe = new LinearProbe(net, {
    numClasses,
    optimizer: { name: 'lars', lr: 0.1, warmup_epochs: 0, weight_decay: 0 },
    batchSize: batch,
    epochs: 100,
    stepsPerEpoch: 100,
    rng: new Rng(1),
  });
  const x = tf.randomNormal([batch, size, size, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
  const labels = Int32Array.from({ length: batch }, (_, i) => (i * 7919) % numClasses);
  const stepMs: number[] = [];
  const tensors: number[] = [];
  let peakRss = 0;
  let error: string | undefined;
  try {
    for (let i = 0; i < opts.warmup + opts.steps; i++) {
      const t0 = performance.now();
      probe.step(x, labels);
      stepMs.push(performance.now() - t0);
      tensors.push(tf.memory().numTensors);
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }
  } catch (e) {
    error = (e as Error).message;
  } finally {
    probe.dispose();
    net.dispose();
    x.dispose();
  }
  const measured = stepMs.slice(opts.warmup).sort((a, b) => a - b);
  const median = measured[Math.floor(measured.length / 2)];
  return {
    name,
    backend: tf.getBackend(),
    batch_size: batch,
    images_per_s: error || median === undefined ? null : (batch * 1000) / median,
    step_ms: stepMs,
    peak_wasm_heap_mb: mb(wasmHeapBytes()),
    peak_rss_mb: mb(peakRss) ?? 0,
    num_tensors_flat: !error && new Set(tensors.slice(1)).size <= 1,
    ...(error ? { error } : {}),
  };
}
