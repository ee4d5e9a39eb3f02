import * as path from 'path';
import { ConfigError } from '../core/errors';
import type { CommandModule } from 'yargs';
import { loadGrid } from '../experiment/grid';
import { planGrid, runGridInProcess } from '../experiment/runner';
import { parseQueueUrl, runGridOnQueue } from '../experiment/queue';
import { renderMarkdown, collectResults } from '../experiment/results';
import { cellDir, readCellResult } from '../experiment/cell';
import { DASHBOARD_YARGS_OPTIONS } from '../../plugins/callbacks/common/dashboard/server';

/** The dashboard flags, passed on to each cell's pre-training. */
function dashboardFlags(args: Args): Record<string, unknown> {
  return args.dashboard === undefined ? {} : { dashboard: args.dashboard, 'dashboard-host': args['dashboard-host'] };
}

interface Args {
  file: string;
  out?: string;
  resume?: boolean;
  'dry-run'?: boolean;
  reevaluate?: boolean;
  queue?: string;
  dashboard?: string;
  'dashboard-host'?: string;
}

const log = (msg: string): void => {
  process.stderr.write(`sslight: ${msg}\n`);
};

/**
 * `sslight experiment FILE`: every cell of a grid (pre-training + evaluations) here, one after
 * the other, or on a BullMQ queue with --queue; results.json and results.md in --out.
 */
export const experimentCommand: CommandModule<object, Args> = {
  command: 'experiment <file>',
  describe: 'run a grid of pre-trainings + evaluations over seeds and recipes (results.json, results.md)',
  builder: (y) =>
    y
      .positional('file', { type: 'string', describe: 'grid YAML (base config, axes, evaluations)' })
      .option('out', { type: 'string', describe: 'grid directory (default runs/<grid name>)' })
      .option('resume', { type: 'boolean', describe: 'continue a grid: finished cells are kept, a running cell resumes from its checkpoint' })
      .option('dry-run', { type: 'boolean', describe: 'list the cells (and which are done) without running anything' })
      .option('reevaluate', {
        type: 'boolean',
        describe: "with --resume: the grid file's evaluations changed, so evaluate every cell again with them (pre-training is kept)",
      })
      .option('queue', { type: 'string', describe: 'redis://HOST:PORT[/name]: put the cells on a BullMQ queue for `sslight worker`s' })
      // Each cell's pre-training serves the dashboard in turn on this port; an open page follows
      // from one cell to the next.
      .options(DASHBOARD_YARGS_OPTIONS) as never,
  handler: async (args) => {
    if (args.queue) parseQueueUrl(args.queue);
    const grid = loadGrid(args.file);
    const outDir = path.resolve(args.out ?? path.join('runs', grid.name));
    if (args['dry-run']) {
      console.log(`${grid.name}: ${grid.cells.length} cells -> ${outDir}`);
      for (const c of grid.cells) {
        const done = readCellResult(cellDir(outDir, c.id)) ? 'done   ' : 'pending';
        console.log(`  ${done} ${c.id}${c.randomInit ? '  (random init: evaluations only)' : ''}  ${c.sets.join(' ')}`);
      }
      const ev = Object.keys(grid.evaluations).filter((k) => grid.evaluations[k as keyof typeof grid.evaluations]);
      console.log(`evaluations per cell: ${ev.join(', ')}`);
      return;
    }
    if (args.reevaluate && !args.resume) throw new ConfigError('', '--reevaluate continues a grid: add --resume');
    planGrid(grid, outDir, !!args.resume, !!args.reevaluate, log);
    const results = args.queue ? await runGridOnQueue(grid, outDir, args.queue, log) : await runGridInProcess(grid, outDir, log, dashboardFlags(args));
    console.log(renderMarkdown(collectResults(outDir, grid)));
    log(`${results.cells.length}/${grid.cells.length} cells done; results in ${path.join(outDir, 'results.md')} and results.json`);
  },
};
