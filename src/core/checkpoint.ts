import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import type { Callback, JsonState, Optimizer, Stateful, TensorState, TrainBatch, TrainTask } from './interfaces';
import type { Module } from '../nn/module';
import { CheckpointError } from './errors';
import { decodeSafetensors, encodeSafetensors, type SafetensorsEntry } from '../nn/safetensors';
import { loadModuleStateDict, moduleStateDict } from '../nn/state_dict';

/** Loop position saved with every checkpoint. */
export interface TrainingState {
  step: number;
  epoch: number;
  /** Index of the next batch to run within `epoch`. */
  batchInEpoch: number;
}

interface StateFile extends TrainingState {
  format: 1;
  savedAt: string;
  method: JsonState;
  optimizer: JsonState;
  callbacks: Record<string, JsonState>;
  config: unknown;
}

/** What a checkpoint needs of a task (SSL method, detector): its networks and its state. */
export type CheckpointedTask = Pick<TrainTask<TrainBatch>, 'name' | 'studentModules' | 'targetModules'> & Stateful;

const FORMAT = 1;
const LATEST = 'latest';

/**
 * A run's checkpoints: `<runDir>/checkpoints/step_00000100/` holding
 * `model.safetensors` (every network, PyTorch names and layout: `student.backbone.*`,
 * `student.head.*`, `teacher.*`, from the method's `studentModules()`/`targetModules()` keys), `optimizer.safetensors`, `method.safetensors` (tfjs layout)
 * and `state.json`. A checkpoint is written into a temporary folder and renamed into place, and
 * `checkpoints/latest` is replaced the same way, so a crash never leaves a half checkpoint that
 * `--resume` would pick.
 */
export class CheckpointStore {
  readonly dir: string;

  constructor(runDir: string) {
    this.dir = path.join(runDir, 'checkpoints');
  }

  async save(
    state: TrainingState,
    method: CheckpointedTask,
    optimizer: Optimizer,
    callbacks: Callback[],
    config: unknown,
  ): Promise<string> {
    fs.mkdirSync(this.dir, { recursive: true });
    const name = `step_${String(state.step).padStart(8, '0')}`;
    const final = path.join(this.dir, name);
    const tmp = path.join(this.dir, `.${name}.tmp-${process.pid}-${Date.now()}`);
    fs.mkdirSync(tmp);
    try {
      const model = new Map<string, SafetensorsEntry>();
      for (const [key, module] of networks(method)) {
        for (const [n, e] of await moduleStateDict(module, `${key}.`)) model.set(n, e);
      }
      writeFileSynced(path.join(tmp, 'model.safetensors'), encodeSafetensors(model, { format: 'pt' }));
      writeFileSynced(path.join(tmp, 'optimizer.safetensors'), encodeSafetensors(await tensorStateEntries(optimizer.tensorState?.())));
      writeFileSynced(path.join(tmp, 'method.safetensors'), encodeSafetensors(await tensorStateEntries(method.tensorState?.())));
      const cbState: Record<string, JsonState> = {};
      for (const cb of callbacks) {
        const s = cb.jsonState?.();
        if (s) cbState[cb.name] = s;
      }
      const file: StateFile = {
        format: FORMAT,
        savedAt: new Date().toISOString(),
        ...state,
        method: method.jsonState?.() ?? {},
        optimizer: optimizer.jsonState?.() ?? {},
        callbacks: cbState,
        config,
      };
      writeFileSynced(path.join(tmp, 'state.json'), Buffer.from(JSON.stringify(file, null, 1)));
      if (fs.existsSync(final)) fs.rmSync(final, { recursive: true, force: true });
      fs.renameSync(tmp, final);
      atomicWrite(path.join(this.dir, LATEST), Buffer.from(name + '\n'));
    } catch (e) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
    return final;
  }

  /** Newest complete checkpoint of this store, or null. */
  latest(): string | null {
    return CheckpointStore.resolve(path.dirname(this.dir), false);
  }

  /** A run directory (uses its `checkpoints/latest`) or a checkpoint directory -> checkpoint dir. */
  static resolve(dirOrRun: string, required = true): string | null {
    if (fs.existsSync(path.join(dirOrRun, 'state.json'))) return dirOrRun;
    const latestFile = path.join(dirOrRun, 'checkpoints', LATEST);
    if (fs.existsSync(latestFile)) {
      const p = path.join(dirOrRun, 'checkpoints', fs.readFileSync(latestFile, 'utf8').trim());
      if (fs.existsSync(path.join(p, 'state.json'))) return p;
      throw new CheckpointError(`${latestFile} points to ${p}, which holds no state.json`);
    }
    if (!required) return null;
    throw new CheckpointError(`no checkpoint found at ${dirOrRun} (expected a run directory with checkpoints/latest or a checkpoint directory with state.json)`);
  }

  /** Restore everything into live objects; returns the loop position. */
  async load(dirOrRun: string, method: CheckpointedTask, optimizer: Optimizer, callbacks: Callback[]): Promise<TrainingState> {
    const dir = CheckpointStore.resolve(dirOrRun) as string;
    const st = readJson<StateFile>(path.join(dir, 'state.json'));
    if (st.format !== FORMAT) throw new CheckpointError(`${dir}/state.json: format ${st.format}, expected ${FORMAT}`);
    const model = readSafetensorsFile(path.join(dir, 'model.safetensors'));
    for (const [key, module] of networks(method)) {
      const prefix = `${key}.`;
      const sub = new Map<string, SafetensorsEntry>();
      for (const [n, e] of model) if (n.startsWith(prefix)) sub.set(n.slice(prefix.length), e);
      try {
        loadModuleStateDict(module, sub, { strict: true });
      } catch (e) {
        throw new CheckpointError(`${dir}/model.safetensors (${prefix}*): ${(e as Error).message}`);
      }
    }
    loadTensorState(optimizer, readSafetensorsFile(path.join(dir, 'optimizer.safetensors')), `${dir}/optimizer.safetensors`);
    loadTensorState(method, readSafetensorsFile(path.join(dir, 'method.safetensors')), `${dir}/method.safetensors`);
    method.loadJsonState?.(st.method);
    optimizer.loadJsonState?.(st.optimizer);
    for (const cb of callbacks) {
      const s = st.callbacks[cb.name];
      if (s) cb.loadJsonState?.(s);
    }
    return { step: st.step, epoch: st.epoch, batchInEpoch: st.batchInEpoch };
  }
}

/** Keep the newest `keep` checkpoints of a run (the newest always stays). */
export function pruneCheckpoints(runDir: string, keep: number): void {
  const dir = path.join(runDir, 'checkpoints');
  if (!fs.existsSync(dir) || keep < 1) return;
  const all = fs
    .readdirSync(dir)
    .filter((n) => /^step_\d+$/.test(n))
    .sort();
  for (const n of all.slice(0, Math.max(0, all.length - keep))) fs.rmSync(path.join(dir, n), { recursive: true, force: true });
}

/**
 * Every network of a method by its top-level name (DINO: `student`, `teacher`), which becomes the
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

function loadTensorState(
  target: { loadTensorState?(s: TensorState): void; tensorState?(): TensorState },
  entries: Map<string, SafetensorsEntry>,
  file: string,
): void {
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

function readJson<T>(file: string): T {
  if (!fs.existsSync(file)) throw new CheckpointError(`missing ${file}`);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (e) {
    throw new CheckpointError(`${file} is corrupt: ${(e as Error).message}`);
  }
}

function writeFileSynced(file: string, data: Uint8Array): void {
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Write to a temp file beside the target, then rename over it (atomic on POSIX). */
export function atomicWrite(file: string, data: Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSynced(tmp, data);
  fs.renameSync(tmp, file);
}
