import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { expect } from 'chai';
import sharp from 'sharp';
import { main } from '../../src/cli/main';
import { readRunSeries, defaultMetrics } from '../../src/plot/run_series';
import { ema, niceTicks, RUN_COLORS } from '../../src/plot/chart_svg';

async function cli(args: string[]): Promise<number> {
  process.exitCode = 0;
  await main(args);
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return code;
}

function writeRun(dir: string, events: object[]): string {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'events.jsonl'), events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  return dir;
}

const sslStep = (step: number, loss: number | string) => ({
  type: 'step:end', time: 0, epoch: 0, step, totalSteps: 20,
  losses: { loss, loss_gg: 1, loss_gl: 2 }, lr: step * 1e-4, wd: 0.04, images_per_s: 100, step_ms: 300, metrics: { ps_ratio: 1 },
});
const DET = ['loss_rpn_cls', 'loss_rpn_loc', 'loss_cls', 'loss_box_reg', 'loss_mask'];
const detStep = (step: number) => ({
  type: 'step:end', time: 0, epoch: 0, step, totalSteps: 20,
  losses: { loss: 5 - step * 0.1, ...Object.fromEntries(DET.map((k, i) => [k, (i + 1) / step])) },
  lr: 0.02, wd: 1e-4, images_per_s: 4, step_ms: 2000, metrics: {},
});

/** Points of a polyline in SVG coordinates. */
function polyline(svg: string, metric: string, run: string, cls: string): Array<[number, number]> {
  const panel = svg.split('<g class="panel"').find((p) => p.startsWith(` data-metric="${metric}"`));
  expect(panel, `panel ${metric}`).to.be.a('string');
  const m = new RegExp(`class="series ${cls}" data-run="${run}" data-points="(\\d+)"[^>]*points="([^"]*)"`).exec(panel!);
  expect(m, `${cls} line of ${run} in ${metric}`).to.not.equal(null);
  const pts = m![2].split(' ').map((p) => p.split(',').map(Number) as [number, number]);
  expect(pts.length).to.equal(Number(m![1]));
  return pts;
}

describe('cli: sslight plot', function () {
  this.timeout(60000);
  let dir: string;
  let ssl: string;
  let base: string;
  let det: string;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-plot-'));
    // A baseline and an SSLight run (the second resumed at step 6: steps 6..8 repeat), and a detection run.
    base = writeRun(path.join(dir, 'dino'), Array.from({ length: 10 }, (_, i) => sslStep(i + 1, 8 - i * 0.2)));
    ssl = writeRun(path.join(dir, 'sslight'), [
      ...Array.from({ length: 8 }, (_, i) => sslStep(i + 1, 7 - i * 0.3)),
      ...Array.from({ length: 7 }, (_, i) => sslStep(i + 6, 7 - (i + 5) * 0.3 - 0.01)),
      { type: 'eval:end', time: 0, step: 12, metrics: { knn_top1: 0.31 } },
      sslStep(13, 'NaN'),
    ]);
    fs.writeFileSync(path.join(ssl, 'linear.json'), JSON.stringify({ top1: 0.42, step: 12 }));
    det = writeRun(path.join(dir, 'det'), [
      ...Array.from({ length: 6 }, (_, i) => detStep(i + 1)),
      { type: 'eval:end', time: 0, step: 3, metrics: { AP: 10.5, AP50: 20 } },
      { type: 'eval:end', time: 0, step: 6, metrics: { AP: 12.25, AP50: 24 } },
    ]);
  });

  it('reads events.jsonl: loss terms, schedules, eval metrics, knn/linear results; a resume keeps the newest value', () => {
    const r = readRunSeries(ssl);
    expect(r.label).to.equal('sslight');
    const loss = r.series.get('loss')!.points;
    expect(loss.map((p) => p[0])).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    expect(loss[5][1]).to.be.closeTo(7 - 5 * 0.3 - 0.01, 1e-12); // the resumed value of step 6
    expect(Number.isNaN(loss[12][1])).to.equal(true);
    expect(r.series.get('knn_top1')).to.deep.include({ kind: 'eval', points: [[12, 0.31]] });
    expect(r.series.get('linear_top1')!.points).to.deep.equal([[12, 0.42]]);
    expect(defaultMetrics([readRunSeries(base), r])).to.deep.equal(['loss', 'loss_gg', 'loss_gl', 'knn_top1', 'linear_top1', 'lr', 'images_per_s']);
    expect(defaultMetrics([readRunSeries(det)])).to.deep.equal(['loss', ...DET, 'AP', 'lr', 'images_per_s']);
  });

  it('draws two runs overlaid and labelled in an SVG, each curve where its values put it', async () => {
    const out = path.join(dir, 'two.svg');
    expect(await cli(['plot', base, ssl, '--out', out, '--metrics', 'loss,lr,knn_top1', '--smooth', '0'])).to.equal(0);
    const svg = fs.readFileSync(out, 'utf8');
    expect(svg).to.match(/^<svg xmlns/);
    expect(svg).to.contain('data-run="dino"').and.contain('data-run="sslight"');
    expect(svg).to.contain(RUN_COLORS[0]).and.contain(RUN_COLORS[1]);
    const a = polyline(svg, 'loss', 'dino', 'raw');
    const b = polyline(svg, 'loss', 'sslight', 'raw');
    expect(a).to.have.length(10);
    expect(b).to.have.length(12); // the NaN step is left out
    // x grows with the step; on a shared axis, dino step 10 is right of sslight step 12? no: left of it.
    for (let i = 1; i < a.length; i++) expect(a[i][0]).to.be.greaterThan(a[i - 1][0]);
    expect(a[9][0]).to.be.lessThan(b[11][0]);
    // Loss decreases, so y (downwards in SVG) increases; dino's first loss (8) is the panel maximum: highest point.
    for (let i = 1; i < a.length; i++) expect(a[i][1]).to.be.greaterThan(a[i - 1][1]);
    const top = Math.min(...a.map((p) => p[1]), ...b.map((p) => p[1]));
    expect(a[0][1]).to.equal(top);
    // Linear in the value: equal loss steps give equal pixel steps.
    expect(a[2][1] - a[1][1]).to.be.closeTo(a[1][1] - a[0][1], 0.11);
    expect(polyline(svg, 'knn_top1', 'sslight', 'raw')).to.have.length(1);
    expect(svg).to.not.contain('data-metric="loss_gg"');
  });

  it('draws a readable PNG by default with smoothing, and the detection run with its five loss terms and AP', async () => {
    const out = path.join(dir, 'det.png');
    expect(await cli(['plot', det, base, '--out', out, '--labels', 'mask-rcnn,dino'])).to.equal(0);
    const meta = await sharp(out).metadata();
    expect(meta.format).to.equal('png');
    expect(meta.width).to.equal(3 * 420);
    const { data, info } = await sharp(out).raw().toBuffer({ resolveWithObject: true });
    // Both run colours are on the image.
    const hasColour = (hex: string): boolean => {
      const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
      for (let i = 0; i < data.length; i += info.channels) {
        if (Math.abs(data[i] - r) < 8 && Math.abs(data[i + 1] - g) < 8 && Math.abs(data[i + 2] - b) < 8) return true;
      }
      return false;
    };
    expect(hasColour(RUN_COLORS[0])).to.equal(true);
    expect(hasColour(RUN_COLORS[1])).to.equal(true);
    const svgOut = path.join(dir, 'det.svg');
    expect(await cli(['plot', det, '--out', svgOut])).to.equal(0);
    const svg = fs.readFileSync(svgOut, 'utf8');
    for (const m of ['loss', ...DET, 'AP', 'lr', 'images_per_s']) expect(svg).to.contain(`data-metric="${m}"`);
    expect(polyline(svg, 'AP', 'det', 'raw')).to.have.length(2);
    expect(polyline(svg, 'loss_cls', 'det', 'smoothed')).to.have.length(6);
  });

  it('rejects unknown metrics, missing runs, bad --out and mismatched --labels with exit code 2', async () => {
    expect(await cli(['plot', base, '--metrics', 'loss,bogus', '--out', path.join(dir, 'x.png')])).to.equal(2);
    expect(await cli(['plot', path.join(dir, 'nope')])).to.equal(2);
    expect(await cli(['plot', base, '--out', path.join(dir, 'x.jpg')])).to.equal(2);
    expect(await cli(['plot', base, ssl, '--labels', 'one'])).to.equal(2);
  });

  it('smooths like TensorBoard (debiased EMA) and picks round ticks', () => {
    // A constant stays constant from the first point (no start-up bias towards 0).
    for (const [, y] of ema([[1, 4], [2, 4], [3, 4]], 0.9)) expect(y).to.be.closeTo(4, 1e-12);
    const s = ema([[1, 0], [2, 10]], 0.5);
    expect(s[0][1]).to.be.closeTo(0, 1e-12);
    expect(s[1][1]).to.be.closeTo((0.5 * 0.5 * 0 + 0.5 * 10) / (1 - 0.25), 1e-12);
    expect(niceTicks(0.13, 0.97, 5)).to.deep.equal([0, 0.2, 0.4, 0.6, 0.8]);
    expect(niceTicks(0, 1e-4, 5)).to.deep.equal([0, 2e-5, 4e-5, 6e-5, 8e-5, 1e-4]);
  });
});
