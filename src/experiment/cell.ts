import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import YAML from 'yaml';
import { CheckpointStore } from '../core/checkpoint';
import { SslightError } from '../core/errors';
import { pretrainCommand } from '../cli/pretrain';
import { knnCommand } from '../cli/knn';
import { linearCommand } from '../cli/linear';
import { SEMISUP_DEFAULTS, semisupCommand } from '../cli/semisup';
import { evaluationsSchema, type Cell, type Evaluations } from './grid';

// One cell of a grid in its own directory `<out>/cells/<id>/`: cell.json (what to run), then
// the stages pretrain -> knn -> linear -> semisup through the same entry points as the CLI
// commands, each recorded in progress.json when it finishes, so a rerun skips finished stages and
// pre-training resumes from the cell's last checkpoint. attempts.jsonl logs who started and who
// finished the cell; result.json is written once, by the attempt that finishes it.

export interface CellSpec extends Cell {
  grid: string;
  evaluations: Evaluations;
}

export interface CellResult {
  id: string;
  labels: Record<string, string>;
  randomInit: boolean;
  /** Top-1 etc. of every evaluation, and pre-training's final loss. */
  metrics: Record<string, number>;
  /** Seconds per stage (pre-training summed over its resumed segments) and in total. */
  wall_s: Record<string, number>;
  /** Pre-training throughput (images per second of pre-training wall time); null for random init. */
  images_per_s: number | null;
  steps: number | null;
  config: Record<string, unknown>;
  finished_at: string;
  finished_by: string;
}

interface StageRecord {
  wall_s: number;
  metrics: Record<string, number>;
  images_per_s?: number | null;
  steps?: number | null;
}

export const CELL_FILES = {
  spec: 'cell.json',
  config: 'cell.yaml',
  progress: 'progress.json',
  attempts: 'attempts.jsonl',
  result: 'result.json',
} as const;

export function cellDir(outDir: string, id: string): string {
  return path.join(outDir, 'cells', id);
}

function writeJsonAtomic(file: string, value: unknown): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(value, null, 1) + '\n');
  fs.renameSync(tmp, file);
}

function readJson<T>(file: string): T | null {
  if (!fs.existsSync(file)) return null;
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

/** Write the cell's spec and config (idempotent: an existing spec is kept). */
export function planCell(outDir: string, grid: string, cell: Cell, evaluations: Evaluations): string {
  const dir = cellDir(outDir, cell.id);
  fs.mkdirSync(dir, { recursive: true });
  const spec: CellSpec = { ...cell, grid, evaluations };
  if (!fs.existsSync(path.join(dir, CELL_FILES.spec))) writeJsonAtomic(path.join(dir, CELL_FILES.spec), spec);
  const yamlFile = path.join(dir, CELL_FILES.config);
  if (!fs.existsSync(yamlFile)) fs.writeFileSync(yamlFile, YAML.stringify(cell.config));
  return dir;
}

/** Evaluation stages whose settings differ between two plans (a stage added, removed or changed). */
export function changedEvaluations(before: Evaluations, after: Evaluations): string[] {
  // A plan written by an older version lacks keys added since: their defaults are no change.
  before = evaluationsSchema.parse(before);
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])] as (keyof Evaluations)[];
  return keys.filter((k) => JSON.stringify(before[k] ?? null) !== JSON.stringify(after[k] ?? null)).sort();
}

/**
 * Give a planned cell new evaluation settings: its spec takes them, the stages that changed are
 * forgotten (with their result files) and so is the cell's result, so the next run evaluates
 * again; the pre-training and unchanged stages are kept. Returns the stages dropped.
 */
export function replanEvaluations(outDir: string, cell: Cell, evaluations: Evaluations): string[] {
  const dir = cellDir(outDir, cell.id);
  const spec = readCellSpec(dir);
  const changed = changedEvaluations(spec.evaluations, evaluations);
  if (changed.length === 0) return [];
  const progressFile = path.join(dir, CELL_FILES.progress);
  const progress = readJson<{ stages: Record<string, StageRecord> }>(progressFile);
  if (progress) {
    for (const k of changed) delete progress.stages[k];
    writeJsonAtomic(progressFile, progress);
  }
  for (const f of fs.readdirSync(dir)) {
    const stage = f.replace(/(_random_init)?\.json$/, '').replace(/_\d+$/, ''); // knn.json, semisup_10.json
    if (f.endsWith('.json') && changed.includes(stage)) fs.rmSync(path.join(dir, f));
  }
  fs.rmSync(path.join(dir, CELL_FILES.result), { force: true });
  writeJsonAtomic(path.join(dir, CELL_FILES.spec), { ...spec, evaluations });
  return changed;
}

export function readCellResult(dir: string): CellResult | null {
  return readJson<CellResult>(path.join(dir, CELL_FILES.result));
}

export function readCellSpec(dir: string): CellSpec {
  const spec = readJson<CellSpec>(path.join(dir, CELL_FILES.spec));
  if (!spec) throw new SslightError(`${path.join(dir, CELL_FILES.spec)} is missing: the grid was not planned into this directory`);
  return spec;
}

/** Who runs this attempt, for attempts.jsonl and result.json. */
export function workerName(): string {
  return `${os.hostname()}:${process.pid}`;
}

function logAttempt(dir: string, event: 'start' | 'done', extra: Record<string, unknown> = {}): void {
  fs.appendFileSync(
    path.join(dir, CELL_FILES.attempts),
    JSON.stringify({ event, worker: workerName(), pid: process.pid, time: new Date().toISOString(), ...extra }) + '\n',
  );
}

type Handler = (args: Record<string, unknown>) => Promise<void>;
const run = (cmd: { handler: unknown }, args: Record<string, unknown>): Promise<void> =>
  (cmd.handler as Handler)({ _: [], $0: 'sslight', ...args });

/** Pre-training wall time, summed over the run's segments (each resume starts one), from events.jsonl. */
export function pretrainStats(dir: string): { wall_s: number; images_per_s: number | null; steps: number; loss: number } {
  const file = path.join(dir, 'events.jsonl');
  let wall = 0;
  let segStart: number | null = null;
  let segLast = 0;
  let steps = 0;
  let loss = NaN;
  let images = 0;
  const lines = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n') : [];
  for (const line of lines) {
    if (!line.trim()) continue;
    let e: { type: string; time: number; step?: number; losses?: Record<string, number>; config?: unknown };
    try {
      e = JSON.parse(line);
    } catch {
      continue; // a line cut by a crash
    }
    if (e.type === 'run:start') {
      if (segStart !== null) wall += segLast - segStart;
      segStart = e.time;
      const cfg = e.config as { trainer?: { batch_size?: number } } | undefined;
      images = cfg?.trainer?.batch_size ?? images;
    } else if (e.type === 'step:end') {
      steps = e.step ?? steps;
      const l = e.losses?.loss;
      loss = typeof l === 'number' ? l : Number(l);
    }
    segLast = e.time;
  }
  if (segStart !== null) wall += segLast - segStart;
  const wall_s = wall / 1000;
  return { wall_s, steps, loss, images_per_s: wall_s > 0 && images > 0 ? (steps * images) / wall_s : null };
}

/**
 * Run (or finish) one cell. Finished stages are skipped; pre-training resumes from the cell's
 * latest checkpoint. Returns the existing result when the cell is already done.
 */
export async function runCell(
  dir: string,
  log: (msg: string) => void = () => {},
  /** Extra `pretrain` flags for the cell's pre-training, e.g. `{ dashboard: '8765' }`. */
  pretrainFlags: Record<string, unknown> = {},
): Promise<CellResult> {
  const done = readCellResult(dir);
  if (done) return done;
  const spec = readCellSpec(dir);
  const progressFile = path.join(dir, CELL_FILES.progress);
  const progress = readJson<{ stages: Record<string, StageRecord> }>(progressFile) ?? { stages: {} };
  const record = (stage: string, r: StageRecord): void => {
    progress.stages[stage] = r;
    writeJsonAtomic(progressFile, progress);
  };
  logAttempt(dir, 'start', { stages_done: Object.keys(progress.stages) });
  const configFile = path.join(dir, CELL_FILES.config);
  const ev = spec.evaluations;
  const evalBase = (): Record<string, unknown> =>
    spec.randomInit ? { run: dir, 'random-init': true, config: configFile } : { run: dir };
  const suffix = spec.randomInit ? '_random_init' : '';
  const readResult = (name: string): Record<string, unknown> => {
    const r = readJson<Record<string, unknown>>(path.join(dir, `${name}${suffix}.json`));
    if (!r) throw new SslightError(`cell ${spec.id}: ${name}${suffix}.json was not written`);
    return r;
  };
  const timed = async (fn: () => Promise<void>): Promise<number> => {
    const t0 = Date.now();
    await fn();
    return (Date.now() - t0) / 1000;
  };

  if (!progress.stages.pretrain) {
    if (spec.randomInit) {
      fs.writeFileSync(path.join(dir, 'config.yaml'), YAML.stringify(spec.config));
      record('pretrain', { wall_s: 0, metrics: {}, images_per_s: null, steps: null });
    } else {
      const resume = CheckpointStore.resolve(dir, false) ? dir : undefined;
      log(`cell ${spec.id}: pre-training${resume ? ' (resuming from its checkpoint)' : ''}`);
      await run(pretrainCommand, { ...pretrainFlags, config: configFile, out: dir, ...(resume ? { resume } : {}) });
      const s = pretrainStats(dir);
      record('pretrain', { wall_s: s.wall_s, metrics: { pretrain_loss: s.loss }, images_per_s: s.images_per_s, steps: s.steps });
    }
  }
  if (ev.knn && !progress.stages.knn) {
    log(`cell ${spec.id}: k-NN`);
    const o = ev.knn;
    const wall = await timed(() =>
      run(knnCommand, { ...evalBase(), k: o.k, temperature: o.temperature, 'max-train': o.max_train ?? undefined, 'max-test': o.max_test ?? undefined, 'precise-bn': o.precise_bn }),
    );
    record('knn', { wall_s: wall, metrics: { knn_top1: readResult('knn').top1 as number } });
  }
  if (ev.linear && !progress.stages.linear) {
    log(`cell ${spec.id}: linear probe`);
    const o = ev.linear;
    const wall = await timed(() =>
      run(linearCommand, {
        ...evalBase(),
        epochs: o.epochs,
        'batch-size': o.batch_size,
        lr: o.lr ?? undefined,
        optimizer: o.optimizer ?? undefined,
        bn: o.bn,
        'max-train': o.max_train ?? undefined,
        'max-test': o.max_test ?? undefined,
        'precise-bn': o.precise_bn,
      }),
    );
    record('linear', { wall_s: wall, metrics: { linear_top1: readResult('linear').top1 as number } });
  }
  if (ev.semisup && !progress.stages.semisup) {
    log(`cell ${spec.id}: semi-supervised fine-tuning (${ev.semisup.percent}%)`);
    const o = ev.semisup;
    const wall = await timed(() =>
      run(semisupCommand, {
        ...evalBase(),
        percent: o.percent,
        epochs: o.epochs ?? undefined,
        // The handler is called without yargs, so its flag defaults are given here.
        'batch-size': o.batch_size ?? SEMISUP_DEFAULTS.batchSize,
        lr: o.lr ?? SEMISUP_DEFAULTS.lr,
        'max-test': o.max_test ?? undefined,
      }),
    );
    const r = readResult(`semisup_${o.percent}`);
    record('semisup', {
      wall_s: wall,
      metrics: { [`semisup${o.percent}_top1`]: r.top1 as number, [`semisup${o.percent}_top5`]: r.top5 as number },
    });
  }

  const stages = progress.stages;
  const pre = stages.pretrain;
  const metrics: Record<string, number> = {};
  const wall_s: Record<string, number> = {};
  for (const [name, r] of Object.entries(stages)) {
    Object.assign(metrics, r.metrics);
    wall_s[name] = r.wall_s;
  }
  wall_s.total = Object.values(wall_s).reduce((a, b) => a + b, 0);
  // Another attempt may have finished the cell while this one ran (a worker presumed dead that
  // was only slow): the first result stands, so a cell completes exactly once.
  const raced = readCellResult(dir);
  if (raced) return raced;
  const result: CellResult = {
    id: spec.id,
    labels: spec.labels,
    randomInit: spec.randomInit,
    metrics,
    wall_s,
    images_per_s: pre.images_per_s ?? null,
    steps: pre.steps ?? null,
    config: spec.config,
    finished_at: new Date().toISOString(),
    finished_by: workerName(),
  };
  writeJsonAtomic(path.join(dir, CELL_FILES.result), result);
  logAttempt(dir, 'done');
  return result;
}
