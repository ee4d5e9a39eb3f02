import * as fs from 'fs';
import * as path from 'path';
import { ConfigError } from '../core/errors';

/** One scalar of one run: (step, value) points in step order. */
export interface Series {
  name: string;
  /** 'step' metrics are noisy per-step values (smoothed when plotted); 'eval' are sparse results. */
  kind: 'step' | 'eval';
  points: Array<[number, number]>;
}

export interface RunSeries {
  dir: string;
  label: string;
  series: Map<string, Series>;
}

/**
 * The scalars of a run directory, from its events.jsonl (what the jsonl callback writes):
 * every `step:end` loss term, `lr`, `wd`, `images_per_s`, `step_ms` and `metrics` entry, every
 * `eval:end` metric (detection AP, k-NN top-1, ...), plus `knn_top1` / `linear_top1` from the
 * run's knn.json / linear.json. A resumed run's repeated steps keep the newest value.
 */
export function readRunSeries(dir: string, label = path.basename(path.resolve(dir))): RunSeries {
  const file = path.join(dir, 'events.jsonl');
  if (!fs.existsSync(file)) throw new ConfigError('', `${file} not found: is ${dir} a run directory?`);
  const series = new Map<string, Series>();
  const add = (name: string, kind: Series['kind'], step: number, v: unknown): void => {
    const value = typeof v === 'string' ? Number(v) : v; // NaN/Infinity are written as strings
    if (typeof value !== 'number' || !Number.isFinite(step)) return;
    let s = series.get(name);
    if (!s) series.set(name, (s = { name, kind, points: [] }));
    s.points.push([step, value]);
  };
  let lastStep = 0;
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    let e: Record<string, unknown>;
    try {
      e = JSON.parse(line);
    } catch {
      // The last line of a run killed mid-write may be cut; anything else is a broken file.
      if (i >= lines.length - 2) return;
      throw new ConfigError('', `${file}:${i + 1} is not JSON`);
    }
    const step = Number(e.step);
    if (e.type === 'step:end') {
      lastStep = step;
      for (const [k, v] of Object.entries((e.losses as Record<string, unknown>) ?? {})) add(k, 'step', step, v);
      for (const k of ['lr', 'wd', 'images_per_s', 'step_ms']) add(k, 'step', step, e[k]);
      for (const [k, v] of Object.entries((e.metrics as Record<string, unknown>) ?? {})) add(k, 'step', step, v);
    } else if (e.type === 'eval:end') {
      for (const [k, v] of Object.entries((e.metrics as Record<string, unknown>) ?? {})) add(k, 'eval', step, v);
    }
  });
  for (const kind of ['knn', 'linear']) {
    const f = path.join(dir, `${kind}.json`);
    if (!fs.existsSync(f)) continue;
    try {
      const r = JSON.parse(fs.readFileSync(f, 'utf8')) as { top1?: number; step?: number | null };
      add(`${kind}_top1`, 'eval', r.step ?? lastStep, r.top1);
    } catch {
      throw new ConfigError('', `${f} is not JSON`);
    }
  }
  for (const s of series.values()) {
    // Resumed runs repeat steps after the checkpoint: the later value wins.
    const byStep = new Map<number, number>();
    for (const [x, y] of s.points) byStep.set(x, y);
    s.points = [...byStep.entries()].sort((a, b) => a[0] - b[0]);
  }
  return { dir, label, series };
}

/** Detectron2's loss terms, in its order. */
export const DETECTION_LOSSES = ['loss_rpn_cls', 'loss_rpn_loc', 'loss_cls', 'loss_box_reg', 'loss_mask'];

/**
 * What to draw when `--metrics` is not given: the total loss and every loss term (detection's
 * five in detectron2's order), the headline evaluation metrics (AP, top-1), lr and images/s.
 */
export function defaultMetrics(runs: RunSeries[]): string[] {
  const names = new Set<string>();
  for (const r of runs) for (const n of r.series.keys()) names.add(n);
  const has = (n: string): boolean => names.has(n);
  const losses = [...names].filter((n) => n === 'loss' || n.startsWith('loss_'));
  const ordered = [
    ...(has('loss') ? ['loss'] : []),
    ...DETECTION_LOSSES.filter(has),
    ...losses.filter((n) => n !== 'loss' && !DETECTION_LOSSES.includes(n)).sort(),
  ];
  const evals = [...names].filter((n) => runs.some((r) => r.series.get(n)?.kind === 'eval'));
  const headline = evals.filter((n) => /(^|[/_])AP$|top1|acc/i.test(n)).sort();
  ordered.push(...(headline.length ? headline : evals.sort().slice(0, 6)));
  for (const n of ['lr', 'images_per_s']) if (has(n)) ordered.push(n);
  return ordered;
}
