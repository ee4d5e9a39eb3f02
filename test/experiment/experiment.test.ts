import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { expect } from 'chai';
import type { GridResults } from '../../src/experiment/results';
import { writeTinyGrid } from './tiny_grid';
import { runCli } from '../helpers/run_cli';

const cli = runCli;

const readJson = <T>(f: string): T => JSON.parse(fs.readFileSync(f, 'utf8')) as T;

describe('cli: sslight experiment (in-process, tiny grid)', function () {
  this.timeout(180000);
  let dir: string;
  let grid: string;
  let out: string;
  let first: GridResults;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-exp-'));
    grid = writeTinyGrid(dir, 'random_init: true\n');
    out = path.join(dir, 'out');
    const r = await cli(['experiment', grid, '--out', out]);
    expect(r.code, r.stderr).to.equal(0);
    first = readJson<GridResults>(path.join(out, 'results.json'));
  });

  it('--dry-run lists the cells and their state without running anything', async () => {
    const r = await cli(['experiment', grid, '--out', path.join(dir, 'dry'), '--dry-run']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/tiny: 6 cells/);
    expect(r.stdout).to.match(/pending views=dino,seed=0 .*views\.name="dino"/);
    expect(r.stdout).to.match(/pending random_init,seed=1 +\(random init/);
    expect(fs.existsSync(path.join(dir, 'dry'))).to.equal(false);
    const done = await cli(['experiment', grid, '--out', out, '--dry-run']);
    expect(done.stdout).to.match(/done +views=sslight,seed=1/);
  });

  it('writes every cell\'s metrics, config, wall time and images/s, and a summary with paired differences', () => {
    expect(first.pending).to.deep.equal([]);
    expect(first.cells.map((c) => c.id)).to.deep.equal([
      'views=dino,seed=0', 'views=dino,seed=1', 'views=sslight,seed=0', 'views=sslight,seed=1', 'random_init,seed=0', 'random_init,seed=1',
    ]);
    for (const c of first.cells) {
      expect(c.metrics.knn_top1).to.be.within(0, 1);
      expect(c.wall_s.total).to.be.greaterThan(0);
      if (!c.randomInit) {
        expect(c.steps).to.equal(6);
        expect(c.images_per_s).to.be.greaterThan(0);
        expect(c.metrics.pretrain_loss).to.be.a('number');
      }
    }
    const dino0 = first.cells[0];
    expect((dino0.config.views as Record<string, unknown>).name).to.equal('dino');
    expect((dino0.config.trainer as Record<string, unknown>).seed).to.equal(0);
    // The k-NN result is the one `sslight knn` wrote into the cell's run directory.
    const knn = readJson<{ top1: number; step: number }>(path.join(out, 'cells', dino0.id, 'knn.json'));
    expect(knn.top1).to.equal(dino0.metrics.knn_top1);
    expect(knn.step).to.equal(6);
    const md = fs.readFileSync(path.join(out, 'results.md'), 'utf8');
    expect(md).to.match(/\| views=dino \| 2 \| /);
    expect(md).to.match(/\| random init \| 2 \| /);
    expect(md).to.match(/\| views: dino − sslight \| [+-]\d+\.\d\d \[-?\d+\.\d\d, -?\d+\.\d\d\] \(n=2\)/);
  });

  it('refuses to rerun into a grid directory without --resume (exit 2)', async () => {
    const r = await cli(['experiment', grid, '--out', out]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/already holds a grid: continue it with --resume/);
  });

  it('--resume keeps finished cells and resumes an interrupted one from its checkpoint to the same metrics', async () => {
    const cellDir = path.join(out, 'cells', 'views=sslight,seed=0');
    const before = first.cells.find((c) => c.id === 'views=sslight,seed=0')!;
    const kept = readJson<{ finished_at: string }>(path.join(out, 'cells', 'views=dino,seed=1', 'result.json'));
    // Make the cell look interrupted after step 2: no result, no finished stages, latest = step 2.
    for (const f of ['result.json', 'progress.json', 'knn.json']) fs.rmSync(path.join(cellDir, f));
    fs.rmSync(path.join(cellDir, 'checkpoints', 'step_00000006'), { recursive: true });
    fs.rmSync(path.join(cellDir, 'checkpoints', 'step_00000004'), { recursive: true });
    fs.writeFileSync(path.join(cellDir, 'checkpoints', 'latest'), 'step_00000002');

    const r = await cli(['experiment', grid, '--out', out, '--resume', '--dashboard', '0']);
    expect(r.code, r.stderr).to.equal(0);
    // The dashboard flags reach the cell's pre-training; the grid reports its progress and ETA.
    expect(r.stderr).to.match(/dashboard at http:\/\/127\.0\.0\.1:\d+/);
    expect(r.stderr).to.match(/grid: (\d+)\/\1 cells done \(1 this run, \S+ per cell\), ETA 0m00s/);
    expect(r.stderr).to.match(/views=dino,seed=1: done already/);
    expect(r.stderr).to.match(/views=sslight,seed=0: pre-training \(resuming from its checkpoint\)/);
    const after = readJson<GridResults>(path.join(out, 'results.json'));
    const again = after.cells.find((c) => c.id === 'views=sslight,seed=0')!;
    expect(again.metrics.knn_top1).to.equal(before.metrics.knn_top1);
    expect(again.metrics.pretrain_loss).to.be.closeTo(before.metrics.pretrain_loss, 1e-4);
    expect(readJson<{ finished_at: string }>(path.join(out, 'cells', 'views=dino,seed=1', 'result.json')).finished_at).to.equal(kept.finished_at);
    const starts = fs.readFileSync(path.join(cellDir, 'events.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"run:start"'));
    expect(starts).to.have.length(2);
    expect(JSON.parse(starts[1]).resumedFrom).to.match(/step_00000002$/);
  });

  it('changed evaluations: --resume refuses (exit 2), --resume --reevaluate evaluates every cell again and keeps the pre-training', async () => {
    const changed = path.join(dir, 'grid_k3.yaml');
    fs.writeFileSync(changed, fs.readFileSync(grid, 'utf8').replace('knn: {k: 5,', 'knn: {k: 3,'));
    const refused = await cli(['experiment', changed, '--out', out, '--resume']);
    expect(refused.code).to.equal(2);
    expect(refused.stderr).to.match(/evaluations differ .*views=dino,seed=0 \(knn\).*--reevaluate/);
    expect(readJson<{ evaluations: { knn: { k: number } } }>(path.join(out, 'cells', 'views=dino,seed=0', 'cell.json')).evaluations.knn.k).to.equal(5);
    const pretrainBefore = readJson<{ stages: Record<string, unknown> }>(path.join(out, 'cells', 'views=dino,seed=0', 'progress.json')).stages.pretrain;
    const r = await cli(['experiment', changed, '--out', out, '--resume', '--reevaluate']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/cell views=dino,seed=0: new evaluation settings \(knn\); pre-training kept/);
    expect(r.stderr).to.not.match(/: pre-training/); // no cell pre-trains again
    const cell = path.join(out, 'cells', 'views=dino,seed=0');
    expect(readJson<{ k: number }>(path.join(cell, 'knn.json')).k).to.equal(3);
    expect(readJson<{ k: number }>(path.join(out, 'cells', 'random_init,seed=1', 'knn_random_init.json')).k).to.equal(3);
    expect(readJson<{ stages: Record<string, unknown> }>(path.join(cell, 'progress.json')).stages.pretrain).to.deep.equal(pretrainBefore);
    const after = readJson<GridResults>(path.join(out, 'results.json'));
    expect(after.cells).to.have.length(6);
    const bad = await cli(['experiment', changed, '--out', path.join(dir, 'fresh'), '--reevaluate']);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.match(/--reevaluate continues a grid: add --resume/);
  });

  it('an edited base config: --resume refuses (exit 2), naming the key, and the cells keep their config', async () => {
    const base = path.join(dir, 'tiny.yaml');
    const k3 = path.join(dir, 'grid_k3.yaml'); // the evaluations the cells have since the test above
    const before = fs.readFileSync(base, 'utf8');
    const cellYaml = path.join(out, 'cells', 'views=dino,seed=0', 'config.yaml');
    const planned = fs.readFileSync(cellYaml, 'utf8');
    try {
      fs.writeFileSync(base, before.replace('lr: 0.3,', 'lr: 0.2,'));
      const r = await cli(['experiment', k3, '--out', out, '--resume']);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.match(/cell views=dino,seed=0 .* another config \(optimizer\.lr 0\.3 -> 0\.2\); the base config changed/);
      expect(fs.readFileSync(cellYaml, 'utf8')).to.equal(planned);
    } finally {
      fs.writeFileSync(base, before);
    }
    const again = await cli(['experiment', k3, '--out', out, '--resume']);
    expect(again.code, again.stderr).to.equal(0);
    expect(again.stderr).to.not.match(/: pre-training/);
  });
});

describe('cli: sslight experiment --queue errors', function () {
  this.timeout(60000);
  it('a malformed URL is exit 2 before anything is written; an unreachable Redis is named', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-expq-'));
    const grid = writeTinyGrid(dir);
    const bad = await cli(['experiment', grid, '--out', path.join(dir, 'a'), '--queue', 'http://127.0.0.1:1']);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.match(/expected redis:\/\/HOST:PORT\[\/name\]/);
    expect(fs.existsSync(path.join(dir, 'a'))).to.equal(false);
    // Port 1 on localhost: nothing listens there.
    const down = await cli(['experiment', grid, '--out', path.join(dir, 'b'), '--queue', 'redis://127.0.0.1:1/x']);
    expect(down.code).to.equal(2);
    expect(down.stderr).to.match(/cannot reach Redis at redis:\/\/127\.0\.0\.1:1\/x/);
  });
});

describe('cli: sslight experiment with semi-supervised fine-tuning', function () {
  this.timeout(120000);
  it('runs the semisup stage with the command\'s defaults and records top-1 / top-5', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-exps-'));
    writeTinyGrid(dir); // writes tiny.yaml, the base config
    const grid = path.join(dir, 'semi.yaml');
    fs.writeFileSync(grid, 'base: tiny.yaml\naxes: {seed: [0]}\nevaluations:\n  semisup: {percent: 10, epochs: 1, max_test: 16}\n');
    const out = path.join(dir, 'out');
    const r = await cli(['experiment', grid, '--out', out]);
    expect(r.code, r.stderr).to.equal(0);
    const res = readJson<GridResults>(path.join(out, 'results.json'));
    const m = res.cells[0].metrics;
    expect(m.semisup10_top1).to.be.within(0, 1);
    expect(m.semisup10_top5).to.be.at.least(m.semisup10_top1);
    const file = readJson<{ batchSize: number; baseLr: number; epochs: number }>(path.join(out, 'cells', 'seed=0', 'semisup_10.json'));
    // 10% of the 4-5 images of each of 10 classes rounds to 0, and every class keeps at least
    // one: 10 labelled images, so the default batch 256 is capped at 10.
    expect([file.batchSize, file.baseLr, file.epochs]).to.deep.equal([10, 0.03, 1]);
  });
});
