import * as fs from 'fs';
import * as path from 'path';
import type { Grid } from './grid';
import { cellDir, readCellResult, type CellResult } from './cell';
import { mean, pairedDifference, sd } from './stats';

// results.json (every cell as recorded) and results.md (means over seeds, paired differences).

export interface GridResults {
  grid: string;
  file: string;
  axes: Record<string, string[]>;
  evaluations: Grid['evaluations'];
  updated_at: string;
  cells: (CellResult & { status: 'done' })[];
  pending: string[];
}

export function collectResults(outDir: string, grid: Grid): GridResults {
  const cells: GridResults['cells'] = [];
  const pending: string[] = [];
  for (const c of grid.cells) {
    const r = readCellResult(cellDir(outDir, c.id));
    if (r) cells.push({ ...r, status: 'done' });
    else pending.push(c.id);
  }
  return {
    grid: grid.name,
    file: grid.file,
    axes: grid.axes,
    evaluations: grid.evaluations,
    updated_at: new Date().toISOString(),
    cells,
    pending,
  };
}

const isAccuracy = (m: string): boolean => /_top\d$/.test(m);

function fmt(metric: string, v: number): string {
  if (!Number.isFinite(v)) return '-';
  return isAccuracy(metric) ? (v * 100).toFixed(2) : v.toFixed(4);
}

function fmtMeanSd(metric: string, xs: number[]): string {
  if (xs.length === 0) return '-';
  const s = sd(xs);
  return Number.isFinite(s) ? `${fmt(metric, mean(xs))} ± ${fmt(metric, s)}` : fmt(metric, mean(xs));
}

function fmtDiff(metric: string, a: number[], b: number[]): string {
  const d = pairedDifference(a, b);
  const ci = Number.isFinite(d.low) ? ` [${fmt(metric, d.low)}, ${fmt(metric, d.high)}]` : '';
  return `${d.mean >= 0 ? '+' : ''}${fmt(metric, d.mean)}${ci} (n=${d.n})`;
}

/** The labels of a cell without the seed axis: what its mean is taken over. */
function groupKey(c: CellResult): string {
  const parts = Object.entries(c.labels)
    .filter(([k]) => k !== 'seed')
    .map(([k, v]) => `${k}=${v}`);
  return (c.randomInit ? ['random init', ...parts] : parts).join(', ') || 'all';
}

export function renderMarkdown(r: GridResults): string {
  const metrics = [...new Set(r.cells.flatMap((c) => Object.keys(c.metrics)))].sort((a, b) => (isAccuracy(b) ? 1 : 0) - (isAccuracy(a) ? 1 : 0) || a.localeCompare(b));
  const lines: string[] = [`# ${r.grid}`, ''];
  lines.push(`Grid \`${r.file}\`; ${r.cells.length} cells done${r.pending.length ? `, ${r.pending.length} pending (${r.pending.join('; ')})` : ''}. Updated ${r.updated_at}.`);
  lines.push('Accuracies in %, mean ± sample sd over the cells of a row (seeds); wall time in minutes per cell.', '');

  const groups = new Map<string, CellResult[]>();
  for (const c of r.cells) groups.set(groupKey(c), [...(groups.get(groupKey(c)) ?? []), c]);
  lines.push(`| cells | n | ${metrics.join(' | ')} | pre-train min | images/s | total min |`);
  lines.push(`|---|---:|${metrics.map(() => '---:').join('|')}|---:|---:|---:|`);
  for (const [key, cs] of groups) {
    const col = (f: (c: CellResult) => number | null | undefined): number[] => cs.map(f).filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
    const minutes = (xs: number[]): string => (xs.length ? (mean(xs) / 60).toFixed(1) : '-');
    lines.push(
      `| ${key} | ${cs.length} | ${metrics.map((m) => fmtMeanSd(m, col((c) => c.metrics[m]))).join(' | ')} | ` +
        `${minutes(col((c) => (c.randomInit ? null : c.wall_s.pretrain)))} | ${col((c) => c.images_per_s).length ? mean(col((c) => c.images_per_s)).toFixed(1) : '-'} | ${minutes(col((c) => c.wall_s.total))} |`,
    );
  }

  // Paired differences: for each two-level axis, A - B over pairs equal in every other label.
  const diffRows: string[] = [];
  const trained = r.cells.filter((c) => !c.randomInit);
  for (const [axis, values] of Object.entries(r.axes)) {
    if (axis === 'seed' || values.length !== 2) continue;
    const [a, b] = values;
    const others = (c: CellResult): string => JSON.stringify(Object.entries(c.labels).filter(([k]) => k !== axis));
    const bByKey = new Map(trained.filter((c) => c.labels[axis] === b).map((c) => [others(c), c]));
    const pairs = trained.filter((c) => c.labels[axis] === a && bByKey.has(others(c))).map((c) => [c, bByKey.get(others(c))!] as const);
    if (!pairs.length) continue;
    diffRows.push(
      `| ${axis}: ${a} − ${b} | ${metrics.map((m) => fmtDiff(m, pairs.map((p) => p[0].metrics[m]), pairs.map((p) => p[1].metrics[m]))).join(' | ')} |`,
    );
  }
  // Each trained group against the random-init floor, paired on the labels the floor cells carry.
  const floor = r.cells.filter((c) => c.randomInit);
  if (floor.length) {
    for (const [key, cs] of groups) {
      if (cs[0].randomInit) continue;
      const match = (c: CellResult): CellResult | undefined => floor.find((f) => Object.entries(f.labels).every(([k, v]) => c.labels[k] === v));
      const pairs = cs.map((c) => [c, match(c)] as const).filter((p): p is readonly [CellResult, CellResult] => !!p[1]);
      if (!pairs.length) continue;
      diffRows.push(
        `| ${key} − random init | ${metrics
          .map((m) => (pairs.every((p) => m in p[1].metrics) ? fmtDiff(m, pairs.map((p) => p[0].metrics[m]), pairs.map((p) => p[1].metrics[m])) : '-'))
          .join(' | ')} |`,
      );
    }
  }
  if (diffRows.length) {
    lines.push('', 'Paired differences (mean [95% t-interval], n pairs; pairs share every other label, seeds included):', '');
    lines.push(`| difference | ${metrics.join(' | ')} |`, `|---|${metrics.map(() => '---:').join('|')}|`, ...diffRows);
  }
  return lines.join('\n') + '\n';
}

export function writeResults(outDir: string, grid: Grid): GridResults {
  const r = collectResults(outDir, grid);
  for (const [name, text] of [
    ['results.json', JSON.stringify(r, null, 1) + '\n'],
    ['results.md', renderMarkdown(r)],
  ] as const) {
    const file = path.join(outDir, name);
    fs.writeFileSync(`${file}.tmp`, text);
    fs.renameSync(`${file}.tmp`, file);
  }
  return r;
}
