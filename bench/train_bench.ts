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
