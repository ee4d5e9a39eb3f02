import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { Callback, JsonState, Optimizer, Stateful, TensorState, TrainBatch, TrainTask } from './interfaces';
import type { Module } from '../nn/module';
import { CheckpointError, NonFiniteValueError, SslightError, WriteError } from './errors';
import { atomicWrite, wfs, writeFileSynced } from './fs';
import { decodeSafetensors, encodeSafetensors, type SafetensorsEntry } from '../nn/safetensors';
import { loadModuleStateDict, moduleStateDict } from '../nn/state_dict';
import { firstNonFinite } from '../nn/finite';

/** Loop position saved with every checkpoint. */
export interface TrainingState {
  step: number;
  epoch: number;
  /** Index of the next batch to run within `epoch`. */
  batchInEpoch: number;
  /** Steps per epoch and batch size the position was counted in (absent in older checkpoints). */
  stepsPerEpoch?: number;
  batchSize?: number;
  /** The trainer's own counters (collapse streak). */
  trainer?: JsonState;
}

const FORMAT = 1;
const LATEST = 'latest';
const STEP_DIR = /^step_\d+$/;

const nonNegInt = z.number().int().nonnegative();
const stateFileSchema = z
  .object({
    format: z.literal(FORMAT),
    savedAt: z.string().optional(),
    step: nonNegInt,
    epoch: nonNegInt,
    batchInEpoch: nonNegInt,
    stepsPerEpoch: z.number().int().positive().optional(),
    batchSize: z.number().int().positive().optional(),
    trainer: z.record(z.unknown()).optional(),
    method: z.record(z.unknown()).default({}),
    optimizer: z.record(z.unknown()).default({}),
    callbacks: z.record(z.record(z.unknown())).default({}),
    config: z.unknown(),
  })
  .passthrough();
export type StateFile = z.output<typeof stateFileSchema>;

/** What a checkpoint needs of a task (SSL method, detector): its networks and its state. */
export type CheckpointedTask = Pick<TrainTask<TrainBatch>, 'name' | 'studentModules' | 'targetModules'> & Stateful;

/** A checkpoint read into memory and checked (complete, well-formed, every tensor finite). */
export interface LoadedCheckpoint {
  dir: string;
  state: StateFile;
  model: Map<string, SafetensorsEntry>;
  optimizer: Map<string, SafetensorsEntry>;
  method: Map<string, SafetensorsEntry>;
  /** `<callback name>.<tensor>`; empty when no callback had tensor state. */
  callbacks: Map<string, SafetensorsEntry>;
}

/** A checkpoint to resume from, and why it is not the one asked for (damaged `latest`), if so. */
export interface ResumePick {
  checkpoint: LoadedCheckpoint;
  warning: string | null;
}

/**
 * A run's checkpoints: `<runDir>/checkpoints/step_00000100/` holding
 * `model.safetensors` (every network, PyTorch names and layout: `student.backbone.*`,
 * `student.head.*`, `teacher.*`, from the task's `studentModules()`/`targetModules()` keys),
 * `optimizer.safetensors`, `method.safetensors` (tfjs layout), `callbacks.safetensors` (only when
 * a callback has tensor state) and `state.json`.
 *
 * A checkpoint is written into a temporary folder and renamed into place, and `checkpoints/latest`
 * is replaced the same way, so a crash never leaves a half checkpoint that `--resume` would pick;
 * re-saving an existing step first points `latest` at the previous complete checkpoint, so it
 * never dangles. Non-finite tensors are refused on save and on load.
 */
export class CheckpointStore {
  readonly dir: string;
  private swept = false;

  constructor(readonly runDir: string) {
    this.dir = path.join(runDir, 'checkpoints');
  }

  async save(
    state: TrainingState,
    method: CheckpointedTask,
    optimizer: Optimizer,
    callbacks: Callback[],
    config: unknown,
  ): Promise<string> {
    const name = `step_${String(state.step).padStart(8, '0')}`;
    const final = path.join(this.dir, name);
    const tmp = path.join(this.dir, `.${name}.tmp-${process.pid}-${Date.now()}`);
    // Collect (and check) everything in memory before the first write.
    const model = new Map<string, SafetensorsEntry>();
    for (const [key, module] of networks(method)) {
      for (const [n, e] of await moduleStateDict(module, `${key}.`)) model.set(n, e);
    }
    const files: [string, Map<string, SafetensorsEntry>][] = [
      ['model.safetensors', model],
      ['optimizer.safetensors', await tensorStateEntries(optimizer.tensorState?.())],
      ['method.safetensors', await tensorStateEntries(method.tensorState?.())],
    ];
    const cbTensors = new Map<string, SafetensorsEntry>();
    const cbState: Record<string, JsonState> = {};
    for (const cb of callbacks) {
      for (const [n, e] of await tensorStateEntries(cb.tensorState?.())) cbTensors.set(`${cb.name}.${n}`, e);
      const s = cb.jsonState?.();
      if (s) cbState[cb.name] = s;
    }
    if (cbTensors.size) files.push(['callbacks.safetensors', cbTensors]);
    for (const [file, entries] of files) {
      const bad = firstNonFinite(entries);
      if (bad) throw new NonFiniteValueError(`checkpoint tensor (${file})`, bad.name, state.step, this.latest());
    }
    const stateFile = {
      format: FORMAT,
      savedAt: new Date().toISOString(),
      ...state,
      method: method.jsonState?.() ?? {},
      optimizer: optimizer.jsonState?.() ?? {},
      callbacks: cbState,
      config,
    };

    const io = wfs();
    let target = this.dir;
    try {
      io.mkdirSync(this.dir, { recursive: true });
      if (!this.swept) this.sweepStale();
      target = tmp;
      io.mkdirSync(tmp);
      for (const [file, entries] of files) {
        target = path.join(tmp, file);
        writeFileSynced(target, encodeSafetensors(entries, file === 'model.safetensors' ? { format: 'pt' } : undefined));
      }
      target = path.join(tmp, 'state.json');
      writeFileSynced(target, Buffer.from(JSON.stringify(stateFile, null, 1)));
      const latestFile = path.join(this.dir, LATEST);
      if (fs.existsSync(final)) {
        // Re-saving a step: never let `latest` point at a folder that is (briefly) missing.
        const prev = completeCheckpoints(this.runDir).find((d) => path.basename(d) !== name);
        target = latestFile;
        if (prev) atomicWrite(latestFile, Buffer.from(path.basename(prev) + '\n'));
        const old = path.join(this.dir, `.${name}.old-${process.pid}-${Date.now()}`);
        target = final;
        io.renameSync(final, old);
        io.renameSync(tmp, final);
        target = latestFile;
        atomicWrite(latestFile, Buffer.from(name + '\n'));
        io.rmSync(old, { recursive: true, force: true });
      } else {
        target = final;
        io.renameSync(tmp, final);
        target = latestFile;
        atomicWrite(latestFile, Buffer.from(name + '\n'));
      }
    } catch (e) {
      try {
        io.rmSync(tmp, { recursive: true, force: true });
      } catch {
        /* report the write error, not the cleanup's */
      }
      if (e instanceof SslightError) throw e;
      if ((e as NodeJS.ErrnoException)?.code) throw new WriteError(target, e);
      throw e;
    }
    return final;
  }

  /** Newest complete checkpoint of this store, or null. */
  latest(): string | null {
    try {
      return CheckpointStore.resolve(this.runDir, false);
    } catch {
      return completeCheckpoints(this.runDir)[0] ?? null;
    }
  }

  /** Remove folders of writes that a crash interrupted (`.step_*.tmp-*`, `.step_*.old-*`, `latest.tmp-*`). */
  sweepStale(): void {
    this.swept = true;
    if (!fs.existsSync(this.dir)) return;
    for (const n of fs.readdirSync(this.dir)) {
      if (/^\.step_\d+\.(tmp|old)-/.test(n) || /^latest\.tmp-/.test(n)) {
        wfs().rmSync(path.join(this.dir, n), { recursive: true, force: true });
      }
    }
  }

  /** A run directory (uses its `checkpoints/latest`) or a checkpoint directory -> checkpoint dir. */
  static resolve(dirOrRun: string, required = true): string | null {
    if (fs.existsSync(path.join(dirOrRun, 'state.json'))) return dirOrRun;
    const latestFile = path.join(dirOrRun, 'checkpoints', LATEST);
    if (fs.existsSync(latestFile)) {
      const p = path.join(dirOrRun, 'checkpoints', fs.readFileSync(latestFile, 'utf8').trim());
      if (fs.existsSync(path.join(p, 'state.json'))) return p;
      const other = completeCheckpoints(dirOrRun)[0];
      throw new CheckpointError(
        `${latestFile} points to ${p}, which holds no state.json` +
          (other ? `; the newest complete checkpoint is ${other}: pass it directly` : ''),
      );
    }
    if (!required) return null;
    throw new CheckpointError(`no checkpoint found at ${dirOrRun} (expected a run directory with checkpoints/latest or a checkpoint directory with state.json)`);
  }

  /**
   * The checkpoint to resume from, read and checked before anything is touched. A checkpoint
   * directory must be sound itself (the error suggests the newest sound one beside it); for a run
   * directory, a damaged `latest` falls back to the newest sound checkpoint, with a warning naming both.
   */
  static pickForResume(dirOrRun: string): ResumePick {
    if (fs.existsSync(path.join(dirOrRun, 'state.json')) || STEP_DIR.test(path.basename(dirOrRun))) {
      try {
        return { checkpoint: readCheckpoint(dirOrRun), warning: null };
      } catch (e) {
        const alt = newestSound(path.dirname(path.dirname(dirOrRun)), dirOrRun);
        throw new CheckpointError((e as Error).message + (alt ? `; the newest sound checkpoint is ${alt}: resume from it with --resume ${alt}` : ''));
      }
    }
    if (!fs.existsSync(path.join(dirOrRun, 'checkpoints'))) {
      throw new CheckpointError(`no checkpoint found at ${dirOrRun} (expected a run directory with checkpoints/ or a checkpoint directory with state.json)`);
    }
    const latestFile = path.join(dirOrRun, 'checkpoints', LATEST);
    let wanted: string | null = null;
    let problem = '';
    if (fs.existsSync(latestFile)) {
      wanted = path.join(dirOrRun, 'checkpoints', fs.readFileSync(latestFile, 'utf8').trim());
      try {
        return { checkpoint: readCheckpoint(wanted), warning: null };
      } catch (e) {
        problem = (e as Error).message;
      }
    } else {
      problem = `${latestFile} is missing`;
    }
    const reasons: string[] = [problem];
    for (const dir of completeCheckpoints(dirOrRun)) {
      if (dir === wanted) continue;
      try {
        const checkpoint = readCheckpoint(dir);
        const warning = wanted
          ? `checkpoints/latest points to ${wanted}, which is damaged (${problem}); resuming from ${dir}, the newest sound checkpoint`
          : `${problem}; resuming from ${dir}, the newest sound checkpoint`;
        return { checkpoint, warning };
      } catch (e) {
        reasons.push((e as Error).message);
      }
    }
    throw new CheckpointError(`no sound checkpoint to resume from in ${dirOrRun}: ${reasons.join('; ')}`);
  }

  /** Restore everything into live objects; returns the loop position. */
  async load(dirOrRun: string, method: CheckpointedTask, optimizer: Optimizer, callbacks: Callback[]): Promise<TrainingState> {
    const ckpt = readCheckpoint(CheckpointStore.resolve(dirOrRun) as string);
    applyCheckpoint(ckpt, method, optimizer, callbacks);
    return positionOf(ckpt.state);
  }
}

/** The loop position (and trainer counters) recorded in a state file. */
export function positionOf(st: StateFile): TrainingState {
  return {
    step: st.step,
    epoch: st.epoch,
    batchInEpoch: st.batchInEpoch,
    stepsPerEpoch: st.stepsPerEpoch,
    batchSize: st.batchSize,
    trainer: st.trainer,
  };
}

/** Read and check a whole checkpoint: state.json against its schema, every file decoded, every tensor finite. */
export function readCheckpoint(dir: string): LoadedCheckpoint {
  const stateFile = path.join(dir, 'state.json');
  const raw = readJson(stateFile);
  const parsed = stateFileSchema.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    const key = i.path.join('.') || '(top level)';
    const got = i.path.reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k as string], raw);
    throw new CheckpointError(`${stateFile} is invalid: '${key}' ${i.message.toLowerCase()} (got ${JSON.stringify(got)})`);
  }
  const read = (name: string, optional = false): Map<string, SafetensorsEntry> => {
    const file = path.join(dir, name);
    if (optional && !fs.existsSync(file)) return new Map();
    const entries = readSafetensorsFile(file);
    assertFiniteTensors(entries, file);
    return entries;
  };
  return {
    dir,
    state: parsed.data,
    model: read('model.safetensors'),
    optimizer: read('optimizer.safetensors'),
    method: read('method.safetensors'),
    callbacks: read('callbacks.safetensors', true),
  };
}

/** Load a checked checkpoint into the live task, optimizer and callbacks. */
export function applyCheckpoint(ckpt: LoadedCheckpoint, method: CheckpointedTask, optimizer: Optimizer, callbacks: Callback[]): void {
  const { dir, state: st } = ckpt;
  for (const [key, module] of networks(method)) {
    const prefix = `${key}.`;
    const sub = new Map<string, SafetensorsEntry>();
    for (const [n, e] of ckpt.model) if (n.startsWith(prefix)) sub.set(n.slice(prefix.length), e);
    try {
      loadModuleStateDict(module, sub, { strict: true });
    } catch (e) {
      throw new CheckpointError(`${dir}/model.safetensors (${prefix}*): ${(e as Error).message}`);
    }
  }
  loadTensorState(optimizer, ckpt.optimizer, `${dir}/optimizer.safetensors`);
  loadTensorState(method, ckpt.method, `${dir}/method.safetensors`);
  method.loadJsonState?.(st.method);
  optimizer.loadJsonState?.(st.optimizer);
  for (const cb of callbacks) {
    const prefix = `${cb.name}.`;
    const sub = new Map<string, SafetensorsEntry>();
    for (const [n, e] of ckpt.callbacks) if (n.startsWith(prefix)) sub.set(n.slice(prefix.length), e);
    if (sub.size) loadTensorState(cb, sub, `${dir}/callbacks.safetensors`);
    const s = st.callbacks[cb.name];
    if (s) cb.loadJsonState?.(s);
  }
}

/** Complete checkpoints (a `step_*` folder with state.json) of a run, newest first. */
export function completeCheckpoints(runDir: string): string[] {
  const dir = path.join(runDir, 'checkpoints');
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((n) => STEP_DIR.test(n) && fs.existsSync(path.join(dir, n, 'state.json')))
    .sort()
    .reverse()
    .map((n) => path.join(dir, n));
}

/** Whether a directory already holds a run's checkpoints (complete or not), without reading them. */
export function holdsCheckpoints(runDir: string): boolean {
  const dir = path.join(runDir, 'checkpoints');
  return fs.existsSync(dir) && fs.readdirSync(dir).some((n) => n === LATEST || STEP_DIR.test(n));
}

function newestSound(runDir: string, except: string): string | null {
  for (const dir of completeCheckpoints(runDir)) {
    if (path.resolve(dir) === path.resolve(except)) continue;
    try {
      readCheckpoint(dir);
      return dir;
    } catch {
      /* try the next older one */
    }
  }
  return null;
}

/**
 * Keep the newest `keep` complete checkpoints of a run. The one `latest` points to always stays
 * (it is the newest that passed the save-time checks), whatever its age.
 */
export function pruneCheckpoints(runDir: string, keep: number): void {
  const dir = path.join(runDir, 'checkpoints');
  if (!fs.existsSync(dir) || keep < 1) return;
  let pinned: string | null = null;
  try {
    pinned = fs.readFileSync(path.join(dir, LATEST), 'utf8').trim();
  } catch {
    pinned = null;
  }
  const all = completeCheckpoints(runDir).map((d) => path.basename(d));
  for (const n of all.slice(keep)) {
    if (n !== pinned) wfs().rmSync(path.join(dir, n), { recursive: true, force: true });
  }
}

/** Throws CheckpointError naming the tensor and the file when any value is NaN or Inf. */
export function assertFiniteTensors(entries: Map<string, SafetensorsEntry>, file: string): void {
  const bad = firstNonFinite(entries);
  if (bad) {
    throw new CheckpointError(
      `${file}: tensor '${bad.name}' holds ${bad.count} non-finite value${bad.count > 1 ? 's' : ''} (first: ${bad.value} at index ${bad.index}); refusing to load it`,
    );
  }
}

/**
 * Every network of a task by its top-level name (DINO: `student`, `teacher`), which becomes the
 * prefix of its keys in model.safetensors, as in PyTorch DINO checkpoints (`student.backbone.*`).
 */
function networks(method: CheckpointedTask): [string, Module][] {
  const out = new Map<string, Module>();
  for (const [k, m] of [...Object.entries(method.studentModules()), ...Object.entries(method.targetModules())]) {
    if (out.has(k)) throw new CheckpointError(`method '${method.name}' names two networks '${k}'`);
    out.set(k, m);
  }
  return [...out];
}

async function tensorStateEntries(state: TensorState | undefined): Promise<Map<string, SafetensorsEntry>> {
  const out = new Map<string, SafetensorsEntry>();
  if (!state) return out;
  for (const [name, t] of state) {
    out.set(name, { dtype: 'F32', shape: t.shape.slice(), data: new Float32Array(await t.data()) });
  }
  return out;
}

function loadTensorState(target: Stateful, entries: Map<string, SafetensorsEntry>, file: string): void {
  if (!target.loadTensorState) return;
  const state: TensorState = new Map();
  for (const [name, e] of entries) state.set(name, tf.tensor(e.data as Float32Array, e.shape, 'float32'));
  try {
    target.loadTensorState(state);
  } catch (e) {
    throw new CheckpointError(`${file}: ${(e as Error).message}`);
  } finally {
    for (const t of state.values()) t.dispose();
  }
}

function readSafetensorsFile(file: string): Map<string, SafetensorsEntry> {
  if (!fs.existsSync(file)) throw new CheckpointError(`missing ${file}`);
  try {
    return decodeSafetensors(fs.readFileSync(file)).tensors;
  } catch (e) {
    throw new CheckpointError(`${file} is corrupt: ${(e as Error).message}`);
  }
}

function readJson(file: string): unknown {
  if (!fs.existsSync(file)) throw new CheckpointError(`missing ${file}`);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CheckpointError(`${file} is corrupt: ${(e as Error).message}`);
  }
}

export { atomicWrite } from './fs';
export { firstNonFinite } from '../nn/finite';
