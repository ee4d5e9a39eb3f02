import * as fs from 'fs';
import * as path from 'path';
import YAML from 'yaml';
import { describeChanges, diffConfig } from '../core/config_diff';
import { ConfigError } from '../core/errors';
import type { Evaluations, Grid } from './grid';
import { CELL_FILES, cellDir, changedEvaluations, planCell, readCellResult, replanEvaluations, runCell } from './cell';
import { writeResults, type GridResults } from './results';
import { isQuiet } from '../core/progress';

export const GRID_FILE = 'grid.json';

/**
 * Lay the grid out in `outDir` (grid.json and one directory per cell). A directory that already
 * holds a grid is only reused with `resume`, and only for the same cells and overrides.
 */
export function planGrid(grid: Grid, outDir: string, resume: boolean, reevaluate = false, log: (msg: string) => void = () => {}): void {
  const gridFile = path.join(outDir, GRID_FILE);
  if (fs.existsSync(gridFile)) {
    if (!resume) throw new ConfigError('', `${outDir} already holds a grid: continue it with --resume, or pick another --out`);
    const stale: string[] = [];
    for (const c of grid.cells) {
      const specFile = path.join(cellDir(outDir, c.id), CELL_FILES.spec);
      if (!fs.existsSync(specFile)) continue;
      const old = JSON.parse(fs.readFileSync(specFile, 'utf8')) as { sets: string[]; evaluations: Evaluations };
      if (JSON.stringify(old.sets) !== JSON.stringify(c.sets)) {
        throw new ConfigError('', `cell ${c.id} in ${outDir} was planned with other overrides (${old.sets.join(' ')}); the grid file changed since: use another --out`);
      }
      // The cell keeps the config it was planned with: an edited base file would otherwise be
      // ignored for this grid's cells without a word.
      const configFile = path.join(cellDir(outDir, c.id), CELL_FILES.config);
      if (fs.existsSync(configFile)) {
        const changes = diffConfig(YAML.parse(fs.readFileSync(configFile, 'utf8')), c.config);
        if (changes.length) {
          throw new ConfigError(
            'base',
            `cell ${c.id} in ${outDir} was planned with another config (${describeChanges(changes)}); ` +
              'the base config changed since: restore it, or use another --out',
          );
        }
      }
      const changed = changedEvaluations(old.evaluations, grid.evaluations);
      if (changed.length) stale.push(`${c.id} (${changed.join(', ')})`);
    }
    // Cells evaluated under two protocols would be compared as one: change them all, or none.
    if (stale.length && !reevaluate) {
      throw new ConfigError(
        'evaluations',
        `the grid file's evaluations differ from those ${outDir} was planned with, for ${stale.join('; ')}: ` +
          'add --reevaluate to evaluate every cell again with the new settings (pre-training is kept), or use another --out',
      );
    }
    if (reevaluate) {
      for (const c of grid.cells) {
        if (!fs.existsSync(path.join(cellDir(outDir, c.id), CELL_FILES.spec))) continue;
        const dropped = replanEvaluations(outDir, c, grid.evaluations);
        if (dropped.length) log(`cell ${c.id}: new evaluation settings (${dropped.join(', ')}); pre-training kept`);
      }
    }
  }
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(gridFile, JSON.stringify({ name: grid.name, file: grid.file, axes: grid.axes, cells: grid.cells.map((c) => c.id) }, null, 1) + '\n');
  for (const c of grid.cells) planCell(outDir, grid.name, c, grid.evaluations);
}

/**
 * Run every unfinished cell here, one after the other, rewriting results after each, with the
 * grid's progress (cells done, rate, ETA from the cells run so far) after each cell.
 */
export async function runGridInProcess(
  grid: Grid,
  outDir: string,
  log: (msg: string) => void,
  pretrainFlags: Record<string, unknown> = {},
): Promise<GridResults> {
  const total = grid.cells.length;
  const pending = grid.cells.filter((c) => !readCellResult(cellDir(outDir, c.id))).length;
  const t0 = Date.now();
  let ran = 0;
  for (const [i, c] of grid.cells.entries()) {
    const dir = cellDir(outDir, c.id);
    if (readCellResult(dir)) {
      log(`cell ${i + 1}/${total} ${c.id}: done already`);
      continue;
    }
    log(`cell ${i + 1}/${total} ${c.id}`);
    await runCell(dir, log, pretrainFlags);
    writeResults(outDir, grid);
    ran++;
    if (!isQuiet()) log(gridProgress(ran, pending, total - pending, (Date.now() - t0) / 1000));
  }
  return writeResults(outDir, grid);
}

/** `grid: 5/9 cells (3 this run), 0.21 cells/h... ETA 1h12m`: rate and ETA from this run's cells. */
export function gridProgress(ran: number, pending: number, doneBefore: number, seconds: number): string {
  const perCell = seconds / Math.max(1, ran);
  const left = Math.max(0, pending - ran) * perCell;
  const hms = (s: number): string =>
    s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.round((s % 3600) / 60)).padStart(2, '0')}m` : `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `grid: ${doneBefore + ran}/${doneBefore + pending} cells done (${ran} this run, ${hms(perCell)} per cell), ETA ${hms(left)}`;
}
