import * as tf from '@tensorflow/tfjs-core';
import type { Subscription } from 'rxjs';
import type { Parameter } from '../nn/module';
import type {
  BatchSource,
  Callback,
  LossTerms,
  Optimizer,
  RunInfo,
  StepContext,
  TaskLoss,
  TrainBatch,
  TrainTask,
  ViewBatch,
} from './interfaces';
import { watchSubscriberErrors, type EventBus } from './events';
import type { TrainerOptions } from './config';
import { applyCheckpoint, positionOf, readCheckpoint, CheckpointStore, type LoadedCheckpoint, type TrainingState } from './checkpoint';
import {
  ConfigError,
  InterruptedError as SignalInterruptedError,
  NonFiniteLossError,
  NonFiniteValueError,
  SslightError,
} from './errors';
import { checkMemoryBudget } from './memory';
import { stopRequested, type StopSignal } from './signals';
import { ensureGradients } from '../nn/gradients';
import { nextTimerTick } from './event_loop';

/** Thrown out of `run()` after SIGINT / SIGTERM, once the checkpoint is written; the CLI exits 130 / 143. */
export class InterruptedError extends SignalInterruptedError {
  constructor(readonly step: number, readonly checkpoint: string | null, signal: StopSignal = 'SIGINT') {
    super(signal, `interrupted (${signal}) at step ${step}` + (checkpoint ? `; checkpoint saved at ${checkpoint}` : ''));
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
  /** `--max-steps` from the command line (overrides trainer.max_steps); a positive integer. */
  maxSteps?: number | null;
}

export interface RunResult {
  step: number;
  reason: 'completed' | 'max-steps';
  losses: number[];
}

/**
 * The training loop: batches in, one optimizer step per batch, events out. Everything that
 * decides *what* is trained lives in the task (an SSL method, a detector) and its plugins; the
 * loop owns order, step counting, finiteness checks (loss, gradients, weights), interruption
 * (SIGINT / SIGTERM) and resumption.
 *
 * Step numbers: `step:start` and `step:end` of one optimizer step carry the same number, 1-based
 * (the number of optimizer steps done once it ends); every other event's `step` is the number of
 * steps done when it is emitted.
 */
export class Trainer<B extends TrainBatch = ViewBatch> {
  private step = 0;
  private epoch = 0;
  private batchInEpoch = 0;
  private interruptRequested: StopSignal | null = null;
  private lastCheckpoint: string | null = null;
  /** The step `lastCheckpoint` holds: re-saving it would write the same state again. */
  private lastCheckpointStep = -1;
  private readonly params: Parameter[];
  /** Every variable of every network (student and target), for the post-update finiteness check. */
  private readonly weights: { name: string; variable: tf.Variable }[];
  private collapseStreak = 0;
  private collapseWarned = false;
  private resumedFrom: string | null = null;
  private readonly notes: { type: 'warning' | 'log'; message: string }[] = [];

  constructor(private readonly d: TrainerDeps<B>) {
    const maxSteps = d.maxSteps ?? null;
    if (maxSteps !== null && !(Number.isInteger(maxSteps) && maxSteps > 0)) {
      throw new ConfigError('--max-steps', `must be a positive integer, got ${maxSteps}`);
    }
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
    const all = new Set<tf.Variable>();
    this.weights = [];
    for (const [prefix, module] of [...Object.entries(d.method.studentModules()), ...Object.entries(d.method.targetModules())]) {
      for (const [name, { tensor }] of module.stateTensors(`${prefix}.`)) {
        if (!all.has(tensor) && tensor.dtype === 'float32') {
          all.add(tensor);
          this.weights.push({ name, variable: tensor });
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

  /** Ask the loop to stop after the current step, checkpoint and throw InterruptedError. */
  requestInterrupt(signal: StopSignal = 'SIGINT'): void {
    this.interruptRequested ??= signal;
  }

  /** A message for the event stream, emitted right after `run:start` (resume notes). */
  announce(type: 'warning' | 'log', message: string): void {
    this.notes.push({ type, message });
  }

  /** The state a checkpoint stores besides tensors. */
  state(): TrainingState {
    return {
      step: this.step,
      epoch: this.epoch,
      batchInEpoch: this.batchInEpoch,
      stepsPerEpoch: this.d.batches.stepsPerEpoch,
      batchSize: this.d.options.batch_size,
      trainer: { collapseStreak: this.collapseStreak, collapseWarned: this.collapseWarned },
    };
  }

  /**
   * Continue from a checkpoint (a directory, or one already read and checked by
   * `CheckpointStore.pickForResume`): checks that its position fits this run, then restores
   * weights, optimizer, task and callback state.
   */
  async resume(from: string | LoadedCheckpoint): Promise<void> {
    if (!this.d.checkpoints) throw new SslightError('cannot resume: this run has no output directory');
    const ckpt = typeof from === 'string' ? readCheckpoint(CheckpointStore.resolve(from) as string) : from;
    const pos = positionOf(ckpt.state);
    this.checkPosition(pos, ckpt.dir);
    applyCheckpoint(ckpt, this.d.method, this.d.optimizer, this.d.callbacks);
    this.step = pos.step;
    this.epoch = pos.epoch;
    this.batchInEpoch = pos.batchInEpoch;
    const t = pos.trainer ?? {};
    this.collapseStreak = typeof t.collapseStreak === 'number' ? t.collapseStreak : 0;
    this.collapseWarned = t.collapseWarned === true;
    this.lastCheckpoint = ckpt.dir;
    this.lastCheckpointStep = pos.step;
    this.resumedFrom = ckpt.dir;
  }

  /** The saved position must mean the same batches in this run; otherwise say why, plainly. */
  private checkPosition(pos: TrainingState, dir: string): void {
    const spe = this.d.batches.stepsPerEpoch;
    const bs = this.d.options.batch_size;
    const where = `the checkpoint ${dir} stopped at epoch ${pos.epoch}, batch ${pos.batchInEpoch}`;
    if (pos.batchSize !== undefined && pos.batchSize !== bs) {
      throw new ConfigError(
        'trainer.batch_size',
        `cannot resume with ${bs}: ${where} of a run with batch size ${pos.batchSize} (${pos.stepsPerEpoch ?? '?'} steps per epoch); ` +
          `at ${bs} an epoch has ${spe} steps, so the data position and the lr schedule would not line up. ` +
          `Resume with --set trainer.batch_size=${pos.batchSize}, or start a new run`,
      );
    }
    if ((pos.stepsPerEpoch !== undefined && pos.stepsPerEpoch !== spe) || pos.batchInEpoch >= spe) {
      throw new ConfigError(
        'data',
        `cannot resume: ${where} of ${pos.stepsPerEpoch ?? 'more than ' + pos.batchInEpoch} steps per epoch, ` +
          `but this config's data gives ${spe} steps per epoch (batch size ${bs}); the dataset size changed. Start a new run`,
      );
    }
    if (pos.stepsPerEpoch !== undefined && pos.step !== pos.epoch * spe + pos.batchInEpoch) {
      throw new ConfigError('', `cannot resume: ${dir}/state.json is inconsistent (step ${pos.step} is not epoch ${pos.epoch} x ${spe} + batch ${pos.batchInEpoch})`);
    }
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

  /**
   * Write a checkpoint of the current step. A step already saved (or resumed from) is not written
   * again: nothing has changed since, and rewriting it would only open a window for a crash.
   */
  async saveCheckpoint(_reason: string): Promise<string | null> {
    if (!this.d.checkpoints) return null;
    if (this.lastCheckpoint && this.lastCheckpointStep === this.step && CheckpointStore.resolve(this.lastCheckpoint, false)) {
      return this.lastCheckpoint;
    }
    const path = await this.d.checkpoints.save(this.state(), this.d.method, this.d.optimizer, this.d.callbacks, this.d.config);
    this.lastCheckpoint = path;
    this.lastCheckpointStep = this.step;
    this.d.events.emit({ type: 'checkpoint:saved', step: this.step, epoch: this.epoch, path });
    return path;
  }

  private stopSignal(): StopSignal | null {
    return this.interruptRequested ?? stopRequested();
  }

  async run(): Promise<RunResult> {
    const { events, batches, options } = this.d;
    const spe = batches.stepsPerEpoch;
    if (spe < 1) throw new SslightError(`the dataset yields no full batch of trainer.batch_size=${options.batch_size}`);
    if (this.batchInEpoch >= spe) {
      throw new SslightError(`cannot continue at batch ${this.batchInEpoch} of epoch ${this.epoch}: an epoch has ${spe} steps`);
    }
    await ensureGradients();
    const run = this.runInfo();
    const unwatch = watchSubscriberErrors(events);
    const subs: Subscription[] = [];
    const losses: number[] = [];
    const totalSteps = this.totalSteps;
    try {
      for (const cb of this.d.callbacks) {
        const s = cb.attach?.(events.events$, run);
        if (s) subs.push(s);
      }
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
      for (const n of this.notes.splice(0)) {
        if (n.type === 'warning') events.emit({ type: 'warning', step: this.step, message: n.message });
        else events.emit({ type: 'log', step: this.step, message: n.message });
      }
      for (const cb of this.d.callbacks) await cb.beforeTrain?.(run);
      this.throwSubscriberError();
      let reason: RunResult['reason'] = 'completed';
      let loss = NaN;
      outer: while (this.epoch < options.epochs) {
        if (this.step >= totalSteps) break;
        await this.stopIfRequested(loss);
        if (this.batchInEpoch === 0) events.emit({ type: 'epoch:start', epoch: this.epoch, step: this.step });
        const startEpoch = this.epoch;
        const startBatch = this.batchInEpoch;
        let tWait = performance.now();
        for await (const batch of batches.batchesForEpoch(this.epoch, this.batchInEpoch)) {
          loss = this.trainStep(batch, tWait);
          losses.push(loss);
          this.batchInEpoch++;
          const endOfEpoch = this.batchInEpoch >= spe;
          if (endOfEpoch) {
            events.emit({ type: 'epoch:end', epoch: this.epoch, step: this.step, metrics: { loss } });
            this.epoch++;
            this.batchInEpoch = 0;
          }
          try {
            for (const cb of this.d.callbacks) await cb.afterStep?.(run, this.step, this.epoch, endOfEpoch);
          } catch (e) {
            // A callback's own long loop (an evaluation) stopped on a signal: the step is done, keep it.
            if (e instanceof SignalInterruptedError && !(e instanceof InterruptedError)) {
              this.requestInterrupt(e.signal);
              await this.stopIfRequested(loss);
            }
            throw e;
          }
          // Let the event loop run (signals, I/O, subscriber errors): prefetched batches resolve as
          // microtasks only, so without this a signal would not be seen until the run ends. A timer
          // tick, not setImmediate: rxjs reports a subscriber's error on a timer set during this
          // step's events, which fires first, so the error ends the run at the step that raised it.
          await nextTimerTick();
          this.throwSubscriberError();
          await this.stopIfRequested(loss);
          // Stop before the loader hands over (and decodes) another batch.
          if (this.step >= totalSteps) break outer;
          if (endOfEpoch) continue outer;
          tWait = performance.now();
        }
        // The source ended the epoch early: going round again would spin forever on the same position.
        if (this.epoch === startEpoch && this.batchInEpoch < spe) {
          await this.stopIfRequested(loss);
          throw new SslightError(
            `the batch source ended epoch ${startEpoch} after batch ${this.batchInEpoch} (started at ${startBatch}) of ${spe}`,
          );
        }
      }
      if (this.step < options.epochs * spe) reason = 'max-steps';
      for (const cb of this.d.callbacks) await cb.afterTrain?.(run);
      await nextTimerTick(); // rxjs delivers subscriber errors on a timer
      this.throwSubscriberError();
      events.emit({ type: 'run:end', step: this.step, reason, metrics: { loss: losses[losses.length - 1] ?? NaN } });
      return { step: this.step, reason, losses };
    } catch (err) {
      if (!(err instanceof SignalInterruptedError)) {
        events.emit({ type: 'run:error', step: this.step, error: (err as Error).message });
      }
      throw err;
    } finally {
      await batches.close?.();
      for (const s of subs) s.unsubscribe();
      await nextTimerTick();
      unwatch();
    }
  }

  /** An event subscriber threw (rxjs reports it asynchronously): end the run with it. */
  private throwSubscriberError(): void {
    const err = this.d.events.takeSubscriberError();
    if (err === null) return;
    if (err instanceof SslightError) throw err;
    throw new SslightError(`an event subscriber failed: ${(err as Error)?.message ?? String(err)}`);
  }

  /** On SIGINT / SIGTERM: checkpoint the current step, end the run, throw InterruptedError. */
  private async stopIfRequested(loss: number): Promise<void> {
    const signal = this.stopSignal();
    if (!signal) return;
    // Before the first step of a fresh run there is nothing to keep.
    const ckpt = this.step > 0 ? await this.saveCheckpoint('interrupt') : null;
    this.d.events.emit({ type: 'run:end', step: this.step, reason: 'interrupted', metrics: { loss } });
    throw new InterruptedError(this.step, ckpt, signal);
  }

  /**
   * One optimizer step. Returns the loss. A non-finite loss or gradient stops the run before any
   * update; a non-finite weight after the update stops it before anything could save it.
   */
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
    const stepNo = this.step + 1;
    events.emit({ type: 'step:start', epoch: this.epoch, step: stepNo });
    const hyper = optimizer.hyperAt(this.step);
    const byName = new Map(this.params.map((p) => [p.variable.name, p] as const));
    let lossValue = NaN;
    let badGrad: string | null = null;
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
        badGrad = firstNonFiniteTensor([...gradMap].map(([p, g]) => [p.name, g]));
        if (badGrad !== null) return;
        optimizer.apply(gradMap, hyper);
        method.afterStep?.(ctx);
      });
    } finally {
      batch.dispose();
    }
    if (!Number.isFinite(lossValue)) throw new NonFiniteLossError(stepNo, lossValue, this.lastCheckpoint);
    if (badGrad !== null) throw new NonFiniteValueError('gradient of', badGrad, stepNo, this.lastCheckpoint);
    const badWeight = firstNonFiniteTensor(this.weights.map((w) => [w.name, w.variable]));
    if (badWeight !== null) throw new NonFiniteValueError('weight', badWeight, stepNo, this.lastCheckpoint);
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

/**
 * Name of the first tensor holding a NaN or Inf, or null. One sum per tensor and a single read:
 * NaN and Inf survive a sum (Inf - Inf is NaN), so a finite sum means finite values, short of a
 * float32 overflow of the sum itself, which is as alarming.
 */
function firstNonFiniteTensor(named: [string, tf.Tensor][]): string | null {
  if (named.length === 0) return null;
  const sums = tf.tidy(() => tf.stack(named.map(([, t]) => tf.sum(t))).dataSync());
  for (let i = 0; i < sums.length; i++) if (!Number.isFinite(sums[i])) return named[i][0];
  return null;
}
