import * as tf from '@tensorflow/tfjs-core';
import type { Subscription } from 'rxjs';
import type { Parameter } from '../nn/module';
import type { BatchSource, Callback, Optimizer, RunInfo, LossTerms, StepContext, TaskLoss, TrainBatch, TrainTask, ViewBatch } from './interfaces';
import type { EventBus } from './events';
import type { TrainerOptions } from './config';
import type { CheckpointStore, TrainingState } from './checkpoint';
import { NonFiniteLossError, SslightError } from './errors';
import { checkMemoryBudget } from './memory';
import { ensureGradients } from '../nn/gradients';

/** Thrown out of `run()` after Ctrl-C, once the checkpoint is written; the CLI exits 130. */
export class InterruptedError extends SslightError {
  constructor(readonly step: number, readonly checkpoint: string | null) {
    super(`interrupted at step ${step}` + (checkpoint ? `; checkpoint saved at ${checkpoint}` : ''));
  }
}

export interface TrainerDeps<B extends TrainBatch = ViewBatch> {
  options: TrainerOptions;
  events: EventBus;
  batches: BatchSource<B>;
  /** What is trained: an SSL method (batches of views) or any other task over its own batches. */
  method: TrainTask<B>;
  optimizer: Optimizer;
  callbacks: Callback[];
  checkpoints: CheckpointStore | null;
  backendName: string;
  runDir: string | null;
  /** The resolved config, saved in run:start and in checkpoints. */
  config: unknown;
  /** `--max-steps` from the command line (overrides trainer.max_steps). */
  maxSteps?: number | null;
}

export interface RunResult {
  step: number;
  reason: 'completed' | 'max-steps';
  losses: number[];
}

/**
 * The training loop: batches in, one optimizer step per batch, events out. Everything that
 * decides *what* is trained lives in plugins (method, optimizer, views); the loop owns order,
 * step counting, finiteness checks, interruption and resumption.
 */
export class Trainer<B extends TrainBatch = ViewBatch> {
  private step = 0;
  private epoch = 0;
  private batchInEpoch = 0;
  private interruptRequested = false;
  private lastCheckpoint: string | null = null;
  private readonly params: Parameter[];
  private collapseStreak = 0;
  private collapseWarned = false;
  private resumedFrom: string | null = null;

  constructor(private readonly d: TrainerDeps<B>) {
    const seen = new Set<tf.Variable>();
    this.params = [];
    for (const [prefix, module] of Object.entries(d.method.studentModules())) {
      for (const p of module.namedParameters(`${prefix}.`)) {
        if (p.trainable && !seen.has(p.variable)) {
          seen.add(p.variable);
          this.params.push(p);
        }
      }
    }
  }

  get totalSteps(): number {
    const full = this.d.options.epochs * this.d.batches.stepsPerEpoch;
    const cap = this.d.maxSteps ?? this.d.options.max_steps;
    return cap ? Math.min(cap, full) : full;
  }

  get currentStep(): number {
    return this.step;
  }

  trainableParameters(): Parameter[] {
    return this.params;
  }

  /** Ask the loop to stop after the current step (Ctrl-C). */
  requestInterrupt(): void {
    this.interruptRequested = true;
  }

  /** The state a checkpoint stores besides tensors. */
  state(): TrainingState {
    return { step: this.step, epoch: this.epoch, batchInEpoch: this.batchInEpoch };
  }

  /** Continue from a checkpoint: restores weights, optimizer, method and callback state. */
  async resume(dir: string): Promise<void> {
    if (!this.d.checkpoints) throw new SslightError('cannot resume: this run has no output directory');
    const st = await this.d.checkpoints.load(dir, this.d.method, this.d.optimizer, this.d.callbacks);
    this.step = st.step;
    this.epoch = st.epoch;
    this.batchInEpoch = st.batchInEpoch;
    this.lastCheckpoint = dir;
    this.resumedFrom = dir;
  }

  private runInfo(): RunInfo {
    return {
      runDir: this.d.runDir,
      events: this.d.events,
      config: this.d.config,
      step: () => this.step,
      saveCheckpoint: (reason) => this.saveCheckpoint(reason),
    };
  }

  async saveCheckpoint(_reason: string): Promise<string | null> {
    if (!this.d.checkpoints) return null;
    const path = await this.d.checkpoints.save(this.state(), this.d.method, this.d.optimizer, this.d.callbacks, this.d.config);
    this.lastCheckpoint = path;
    this.d.events.emit({ type: 'checkpoint:saved', step: this.step, epoch: this.epoch, path });
    return path;
  }

  async run(): Promise<RunResult> {
    const { events, batches, options } = this.d;
    const spe = batches.stepsPerEpoch;
    if (spe < 1) throw new SslightError(`the dataset yields no full batch of trainer.batch_size=${options.batch_size}`);
    await ensureGradients();
    const run = this.runInfo();
    const subs: Subscription[] = [];
    for (const cb of this.d.callbacks) {
      const s = cb.attach?.(events.events$, run);
      if (s) subs.push(s);
    }
    const losses: number[] = [];
    const totalSteps = this.totalSteps;
    events.emit({
      type: 'run:start',
      runDir: this.d.runDir,
      backend: this.d.backendName,
      seed: options.seed,
      config: this.d.config,
      startStep: this.step,
      totalSteps,
      stepsPerEpoch: spe,
      resumedFrom: this.resumedFrom,
    });
    try {
      for (const cb of this.d.callbacks) await cb.beforeTrain?.(run);
      let reason: RunResult['reason'] = 'completed';
      outer: while (this.epoch < options.epochs) {
        if (this.step >= totalSteps) break;
        if (this.batchInEpoch === 0) events.emit({ type: 'epoch:start', epoch: this.epoch, step: this.step });
        let tWait = performance.now();
        for await (const batch of batches.batchesForEpoch(this.epoch, this.batchInEpoch)) {
          const loss = this.trainStep(batch, tWait);
          losses.push(loss);
          this.batchInEpoch++;
          const endOfEpoch = this.batchInEpoch >= spe;
          if (endOfEpoch) {
            events.emit({ type: 'epoch:end', epoch: this.epoch, step: this.step, metrics: { loss } });
            this.epoch++;
            this.batchInEpoch = 0;
          }
          for (const cb of this.d.callbacks) await cb.afterStep?.(run, this.step, this.epoch, endOfEpoch);
          // Let the event loop run (signals, I/O): prefetched batches resolve as microtasks only,
          // so without this a Ctrl-C would not be seen until the run ends.
          await new Promise((resolve) => setImmediate(resolve));
          if (this.interruptRequested) {
            const ckpt = await this.saveCheckpoint('interrupt');
            events.emit({ type: 'run:end', step: this.step, reason: 'interrupted', metrics: { loss } });
            throw new InterruptedError(this.step, ckpt);
          }
          // Stop before the loader hands over (and decodes) another batch.
          if (this.step >= totalSteps) break outer;
          if (endOfEpoch) continue outer;
          tWait = performance.now();
        }
      }
      if (this.step < options.epochs * spe) reason = 'max-steps';
      for (const cb of this.d.callbacks) await cb.afterTrain?.(run);
      events.emit({ type: 'run:end', step: this.step, reason, metrics: { loss: losses[losses.length - 1] ?? NaN } });
      return { step: this.step, reason, losses };
    } catch (err) {
      if (!(err instanceof InterruptedError)) {
        events.emit({ type: 'run:error', step: this.step, error: (err as Error).message });
      }
      throw err;
    } finally {
      await batches.close?.();
      for (const s of subs) s.unsubscribe();
    }
  }

  /** One optimizer step. Returns the loss; throws before updating anything if it is not finite. */
  private trainStep(batch: B, tWait: number): number {
    const { method, optimizer, events } = this.d;
    const metrics: Record<string, number> = { ...batch.stats };
    const ctx: StepContext = {
      step: this.step,
      epoch: this.epoch,
      stepsPerEpoch: this.d.batches.stepsPerEpoch,
      totalSteps: this.totalSteps,
      epochs: this.d.options.epochs,
      metric: (name, value) => {
        metrics[name] = value;
      },
    };
    events.emit({ type: 'step:start', epoch: this.epoch, step: this.step });
    const hyper = optimizer.hyperAt(this.step);
    const byName = new Map(this.params.map((p) => [p.variable.name, p] as const));
    let lossValue = NaN;
    const termValues: Record<string, number> = {};
    try {
      tf.tidy(() => {
        const vars = this.params.map((p) => p.variable);
        // Terms are made inside variableGrads' own scope: keep them past it to read their values.
        let terms: Record<string, tf.Scalar> = {};
        let value: tf.Scalar;
        let grads: tf.NamedTensorMap;
        try {
          ({ value, grads } = tf.variableGrads(() => {
            const out = splitLoss(method.loss(batch, ctx));
            terms = out.terms;
            for (const t of Object.values(terms)) if (t !== out.total) tf.keep(t);
            return out.total;
          }, vars));
          lossValue = value.dataSync()[0];
          for (const [name, t] of Object.entries(terms)) termValues[name] = t === value ? lossValue : t.dataSync()[0];
        } finally {
          for (const t of Object.values(terms)) if (!t.isDisposed && t !== value!) t.dispose();
        }
        // Check before any update, so the weights (and the last checkpoint) stay good.
        if (!Number.isFinite(lossValue)) return;
        let gradMap = new Map<Parameter, tf.Tensor>();
        for (const [name, g] of Object.entries(grads)) {
          const p = byName.get(name);
          if (p) gradMap.set(p, g);
        }
        if (method.processGradients) gradMap = method.processGradients(gradMap, ctx);
        optimizer.apply(gradMap, hyper);
        method.afterStep?.(ctx);
      });
    } finally {
      batch.dispose();
    }
    if (!Number.isFinite(lossValue)) throw new NonFiniteLossError(this.step + 1, lossValue, this.lastCheckpoint);
    this.step++;
    const elapsed = performance.now() - tWait;
    this.checkCollapse(lossValue);
    const mem = checkMemoryBudget(`step ${this.step}`, { budgetBytes: this.d.options.memory_budget_gb * 2 ** 30 });
    // Memory in every step event, so leaks and heap growth are visible in events.jsonl.
    metrics.num_tensors = mem.numTensors;
    if (mem.heapBytes !== null) metrics.wasm_heap_mb = mem.heapBytes / 2 ** 20;
    events.emit({
      type: 'step:end',
      epoch: this.epoch,
      step: this.step,
      totalSteps: this.totalSteps,
      losses: { ...termValues, loss: lossValue },
      lr: hyper.lr,
      wd: hyper.weightDecay,
      images_per_s: (batch.batchSize * 1000) / elapsed,
      step_ms: elapsed,
      metrics,
    });
    return lossValue;
  }

  /** Warn once when the loss sits at the method's collapse value (DINO: ln(out_dim)). */
  private checkCollapse(loss: number): void {
    const target = this.d.method.collapseLoss?.() ?? null;
    if (target === null) return;
    const tol = this.d.options.collapse_tolerance * Math.max(1, Math.abs(target));
    this.collapseStreak = Math.abs(loss - target) <= tol ? this.collapseStreak + 1 : 0;
    if (this.collapseStreak >= this.d.options.collapse_window && !this.collapseWarned) {
      this.collapseWarned = true;
      this.d.events.emit({
        type: 'warning',
        step: this.step,
        message:
          `loss has stayed at ${loss.toFixed(4)} ≈ the collapse value ${target.toFixed(4)} for ` +
          `${this.collapseStreak} steps: the representation may have collapsed (check teacher temperature, centering, lr)`,
      });
    }
  }
}

/** A task's loss as its total and named terms (none for a bare scalar). */
function splitLoss(l: TaskLoss): LossTerms {
  return 'terms' in l && 'total' in l ? l : { total: l as tf.Scalar, terms: {} };
}
