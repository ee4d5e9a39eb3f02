import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import type { CommandModule } from 'yargs';
import { ConfigError } from '../core/errors';
import { defaultMetrics, readRunSeries } from '../plot/run_series';
import { renderChartSvg } from '../plot/chart_svg';

interface Args {
  runs: string[];
  out?: string;
  metrics?: string;
  labels?: string;
  smooth: number;
  columns?: number;
  title?: string;
}

/**
 * `sslight plot RUN_DIR... [--out FILE.png|.svg] [--metrics loss,knn_top1,...]`: the curves of
 * one or more runs from their events.jsonl, overlaid per metric and labelled per run.
 */
export const plotCommand: CommandModule<object, Args> = {
  command: 'plot <runs..>',
  describe: 'plot the curves of one or more runs (events.jsonl) to a PNG or SVG, runs overlaid',
  builder: (y) =>
    y
      .positional('runs', { type: 'string', array: true, describe: 'run directories (each with events.jsonl)' })
      .option('out', { type: 'string', describe: 'output file, .png or .svg (default <first run>/plot.png)' })
      .option('metrics', { type: 'string', describe: 'comma-separated metrics (default: loss terms, AP / top-1, lr, images_per_s)' })
      .option('labels', { type: 'string', describe: 'comma-separated legend labels, one per run (default: the directory names)' })
      .option('smooth', { type: 'number', default: 0.6, describe: 'EMA smoothing of per-step curves, 0-0.99 (0 = raw)' })
      .option('columns', { type: 'number', describe: 'panels per row (default up to 3)' })
      .option('title', { type: 'string', describe: 'figure title' }) as never,
  handler: async (args) => {
    const { file, format } = await plotRuns(args);
    console.log(`sslight: wrote ${format.toUpperCase()} ${file}`);
  },
};

/** Reads the runs, renders, writes the file; bad input throws ConfigError (exit code 2). */
export async function plotRuns(args: Args): Promise<{ file: string; format: 'png' | 'svg'; metrics: string[] }> {
  const dirs = args.runs;
  if (!dirs?.length) throw new ConfigError('', 'name at least one run directory');
  const labels = args.labels ? args.labels.split(',').map((s) => s.trim()) : null;
  if (labels && labels.length !== dirs.length) {
    throw new ConfigError('', `--labels has ${labels.length} label(s) for ${dirs.length} run(s)`);
  }
  if (!(args.smooth >= 0 && args.smooth < 1)) throw new ConfigError('', `--smooth must be in [0, 1), got ${args.smooth}`);
  const runs = dirs.map((d, i) => readRunSeries(d, labels?.[i] ?? path.basename(path.resolve(d))));
  const available = new Set(runs.flatMap((r) => [...r.series.keys()]));
  let metrics: string[];
  if (args.metrics) {
    metrics = args.metrics.split(',').map((s) => s.trim()).filter(Boolean);
    const unknown = metrics.filter((m) => !available.has(m));
    if (unknown.length) {
      throw new ConfigError('', `--metrics: no run has ${unknown.join(', ')}; available: ${[...available].sort().join(', ')}`);
    }
  } else {
    metrics = defaultMetrics(runs);
    if (!metrics.length) throw new ConfigError('', `no step or evaluation metrics in ${dirs.join(', ')} (empty events.jsonl?)`);
  }
  const out = path.resolve(args.out ?? path.join(dirs[0], 'plot.png'));
  const ext = path.extname(out).toLowerCase();
  if (ext !== '.png' && ext !== '.svg') throw new ConfigError('', `--out must end in .png or .svg, got '${args.out}'`);
  const svg = renderChartSvg(runs, metrics, { smooth: args.smooth, columns: args.columns, title: args.title });
  fs.mkdirSync(path.dirname(out), { recursive: true });
  if (ext === '.svg') fs.writeFileSync(out, svg);
  else await sharp(Buffer.from(svg)).png().toFile(out);
  return { file: out, format: ext === '.svg' ? 'svg' : 'png', metrics };
}
