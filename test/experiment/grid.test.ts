import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { expect } from 'chai';
import '../../src/run/builtins';
import { evaluationsSchema, loadGrid, type Evaluations } from '../../src/experiment/grid';
import { changedEvaluations } from '../../src/experiment/cell';
import { mean, pairedDifference, sd, t975 } from '../../src/experiment/stats';
import { renderMarkdown, type GridResults } from '../../src/experiment/results';
import { ConfigError } from '../../src/core/errors';
import { parseQueueUrl } from '../../src/experiment/queue';

const BASE = `
data: {name: generated, num_images: 48, image_size: 32}
views: {name: sslight, global_crop_size: 16, local_crop_size: 8, n_local: 2}
method: {name: dino, out_dim: 64, hidden_dim: 32, bottleneck_dim: 16, alpha: 0.4}
backbone: {name: mobilenetv2, width: 0.25}
optimizer: {name: adamw, lr: 0.001}
trainer: {epochs: 1, batch_size: 8, seed: 3}
`;

function gridFile(body: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-grid-'));
  fs.writeFileSync(path.join(dir, 'base.yaml'), BASE);
  fs.writeFileSync(path.join(dir, 'g.yaml'), body);
  return path.join(dir, 'g.yaml');
}

describe('experiment: statistics', () => {
  it('mean, sample sd and t quantiles match standard values', () => {
    expect(mean([1, 2, 3, 4])).to.equal(2.5);
    expect(sd([1, 2, 3, 4])).to.be.closeTo(1.2909944, 1e-7);
    expect(sd([5])).to.be.NaN;
    // scipy.stats.t.ppf(0.975, df)
    expect(t975(2)).to.be.closeTo(4.302653, 1e-3);
    expect(t975(30)).to.be.closeTo(2.042272, 1e-3);
    expect(t975(40)).to.be.closeTo(2.021075, 2e-4);
    expect(t975(100)).to.be.closeTo(1.983972, 1e-4);
    expect(() => t975(0)).to.throw(RangeError);
  });

  it('paired difference: mean of differences with a t-interval on n-1 degrees of freedom', () => {
    const d = pairedDifference([0.5, 0.6, 0.7], [0.4, 0.45, 0.6]);
    // differences 0.1, 0.15, 0.1: mean 0.11667, sd 0.028868, half-width 4.303 * sd / sqrt(3)
    expect(d.n).to.equal(3);
    expect(d.mean).to.be.closeTo(0.1166667, 1e-6);
    expect(d.sd).to.be.closeTo(0.0288675, 1e-6);
    expect(d.high - d.mean).to.be.closeTo((4.303 * 0.0288675) / Math.sqrt(3), 1e-5);
    expect(pairedDifference([1], [0]).low).to.be.NaN;
  });
});

describe('experiment: grid files', () => {
  it('expands axes into cells with overrides, labelled values and random-init floor cells', () => {
    const g = loadGrid(
      gridFile(`
name: views_test
base: base.yaml
set: {trainer.epochs: 2}
axes:
  views:
    dino: {views.name: dino, views.local_crop_size: 6, method.alpha: null}
    sslight: {views.name: sslight}
  seed: [0, 1, 2]
evaluations:
  knn: {k: 5}
  linear: {epochs: 2}
random_init: true
`),
    );
    expect(g.name).to.equal('views_test');
    expect(g.axes).to.deep.equal({ views: ['dino', 'sslight'], seed: ['0', '1', '2'] });
    expect(g.cells.map((c) => c.id)).to.deep.equal([
      'views=dino,seed=0', 'views=dino,seed=1', 'views=dino,seed=2',
      'views=sslight,seed=0', 'views=sslight,seed=1', 'views=sslight,seed=2',
      'random_init,seed=0', 'random_init,seed=1', 'random_init,seed=2',
    ]);
    const dino1 = g.cells[1];
    expect(dino1.config).to.deep.include({ trainer: { epochs: 2, batch_size: 8, seed: 1 } });
    expect((dino1.config.views as Record<string, unknown>).name).to.equal('dino');
    expect((dino1.config.views as Record<string, unknown>).local_crop_size).to.equal(6);
    expect((dino1.config.method as Record<string, unknown>).alpha).to.equal(null);
    expect((g.cells[4].config.method as Record<string, unknown>).alpha).to.equal(0.4);
    const floor = g.cells[8];
    expect(floor.randomInit).to.equal(true);
    expect(floor.labels).to.deep.equal({ seed: '2' });
    expect(g.evaluations.knn).to.deep.equal({ k: 5, temperature: 0.07, max_train: null, max_test: null, precise_bn: 0 });
    expect(g.evaluations.linear?.batch_size).to.equal(256);
  });

  it('names the bad key: unknown evaluation option, config key of one cell, floor axis', () => {
    const bad = (body: string, re: RegExp): void => {
      let err: unknown;
      try {
        loadGrid(gridFile(body));
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(ConfigError);
      expect((err as Error).message).to.match(re);
    };
    bad('base: base.yaml\naxes: {seed: [0]}\nevaluations: {knn: {kk: 3}}\n', /evaluations\.knn.*kk|kk/);
    bad('base: base.yaml\naxes: {method.out_dim: [64, -1]}\nevaluations: {knn: {}}\n', /method\.out_dim.*method\.out_dim=-1/);
    bad('base: base.yaml\naxes: {seed: [0]}\nevaluations: {knn: {}}\nrandom_init: {axes: [views]}\n', /random_init\.axes.*'views'/);
    bad('base: nope.yaml\nevaluations: {knn: {}}\n', /nope\.yaml/);
    bad('base: base.yaml\nevaluations: {}\n', /at least one of knn, linear, semisup/);
  });

  it('changedEvaluations names the stages whose settings differ; keys a plan predates count as their defaults', () => {
    const now = evaluationsSchema.parse({ knn: { k: 20 }, linear: { epochs: 5 } });
    const old = { knn: { k: 20, temperature: 0.07, max_train: null, max_test: null } } as unknown as Evaluations; // before precise_bn
    expect(changedEvaluations(old, evaluationsSchema.parse({ knn: { k: 20 } }))).to.deep.equal([]);
    expect(changedEvaluations(old, now)).to.deep.equal(['linear']);
    expect(changedEvaluations(now, evaluationsSchema.parse({ knn: { k: 10 } }))).to.deep.equal(['knn', 'linear']);
  });

  it('parses queue URLs and refuses others', () => {
    expect(parseQueueUrl('redis://127.0.0.1:6380/grid1')).to.deep.equal({ host: '127.0.0.1', port: 6380, name: 'grid1' });
    expect(parseQueueUrl('redis://redis.lan')).to.deep.equal({ host: 'redis.lan', port: 6379, name: 'sslight' });
    expect(() => parseQueueUrl('http://x:1')).to.throw(/redis:\/\/HOST:PORT/);
    expect(() => parseQueueUrl('redis://x:70000')).to.throw(/out of range/);
  });
});

describe('experiment: results.md', () => {
  it('tabulates mean ± sd per recipe and paired differences with 95% intervals', () => {
    const cell = (views: string, seed: number, knn: number, randomInit = false) => ({
      id: `${views},${seed}`,
      labels: (randomInit ? { seed: String(seed) } : { views, seed: String(seed) }) as Record<string, string>,
      randomInit,
      metrics: { knn_top1: knn },
      wall_s: { pretrain: 60, knn: 6, total: 66 },
      images_per_s: 100,
      steps: 10,
      config: {},
      finished_at: '',
      finished_by: '',
      status: 'done' as const,
    });
    const r: GridResults = {
      grid: 'g',
      file: 'g.yaml',
      axes: { views: ['sslight', 'dino'], seed: ['0', '1', '2'] },
      evaluations: { knn: { k: 20, temperature: 0.07, max_train: null, max_test: null, precise_bn: 0 } },
      updated_at: 'now',
      cells: [
        cell('sslight', 0, 0.5), cell('sslight', 1, 0.6), cell('sslight', 2, 0.7),
        cell('dino', 0, 0.4), cell('dino', 1, 0.45), cell('dino', 2, 0.6),
        cell('', 0, 0.2, true), cell('', 1, 0.2, true), cell('', 2, 0.2, true),
      ],
      pending: [],
    };
    const md = renderMarkdown(r);
    expect(md).to.include('| views=sslight | 3 | 60.00 ± 10.00 | 1.0 | 100.0 | 1.1 |');
    expect(md).to.include('| random init | 3 | 20.00 ± 0.00 |');
    // differences 10, 15, 10 points: mean 11.67, half-width 4.303 * 2.887 / sqrt(3) = 7.17
    expect(md).to.include('| views: sslight − dino | +11.67 [4.49, 18.84] (n=3) |');
    expect(md).to.include('| views=sslight − random init | +40.00 [15.16, 64.84] (n=3) |');
  });
});

describe('configs/experiments', () => {
  for (const [file, smallInput] of [['cifar10_views.yaml', false], ['cifar10_views_small.yaml', true]] as const) {
    it(`${file}: DINO vs SSLight views on MobileNetV2, 3 seeds, same epochs and batch, k-NN + linear, random-init floor`, () => {
      const root = path.resolve(__dirname, '..', '..', '..');
      const g = loadGrid(path.join(root, 'configs', 'experiments', file));
      expect(Object.keys(g.axes).sort()).to.deep.equal(['seed', 'views']);
      expect(g.axes.views).to.deep.equal(['dino', 'sslight']);
      expect(g.axes.seed).to.deep.equal(['0', '1', '2']);
      expect(g.cells).to.have.length(9);
      expect(g.cells.filter((c) => c.randomInit)).to.have.length(3);
      expect(g.evaluations.knn).to.not.equal(undefined);
      expect(g.evaluations.linear).to.not.equal(undefined);
      const trained = g.cells.filter((c) => !c.randomInit);
      const sec = (c: (typeof trained)[0], k: string) => c.config[k] as Record<string, unknown>;
      for (const c of trained) {
        expect(sec(c, 'backbone').name).to.equal('mobilenetv2');
        expect(sec(c, 'method').name).to.equal('dino');
        expect(sec(c, 'trainer').epochs).to.equal(sec(trained[0], 'trainer').epochs);
        expect(sec(c, 'trainer').batch_size).to.equal(sec(trained[0], 'trainer').batch_size);
        expect(sec(c, 'views').global_crop_size).to.equal(32);
        // 224/96 and 224/128 scaled to a 32 px global view.
        expect(sec(c, 'views').local_crop_size).to.equal(c.labels.views === 'dino' ? 14 : 18);
        expect(sec(c, 'method').alpha).to.equal(c.labels.views === 'dino' ? null : 0.4);
        expect(sec(c, 'backbone').small_input ?? false).to.equal(smallInput);
      }
    });
  }

  // The MoCo-v2 and SwAV grids borrow cifar10_views_small's floors: that holds only while the
  // network, training length, views and evaluations are the same.
  for (const [file, method] of [['cifar10_mocov2_views_small.yaml', 'mocov2'], ['cifar10_swav_views_small.yaml', 'swav']] as const) {
    it(`${file}: cifar10_views_small with ${method}'s loss (same network, epochs, views, evaluations)`, () => {
      const root = path.resolve(__dirname, '..', '..', '..');
      const dino = loadGrid(path.join(root, 'configs', 'experiments', 'cifar10_views_small.yaml'));
      const g = loadGrid(path.join(root, 'configs', 'experiments', file));
      expect(g.axes).to.deep.equal(dino.axes);
      expect(g.evaluations).to.deep.equal(dino.evaluations);
      expect(g.cells.filter((c) => c.randomInit)).to.have.length(0);
      const trained = dino.cells.filter((c) => !c.randomInit);
      expect(g.cells.map((c) => c.id)).to.deep.equal(trained.map((c) => c.id));
      const sec = (c: (typeof trained)[0], k: string) => c.config[k] as Record<string, unknown>;
      g.cells.forEach((c, i) => {
        expect(sec(c, 'method').name).to.equal(method);
        for (const k of ['backbone', 'views', 'data']) expect(sec(c, k), k).to.deep.equal(sec(trained[i], k));
        for (const k of ['epochs', 'batch_size', 'seed']) expect(sec(c, 'trainer')[k], k).to.equal(sec(trained[i], 'trainer')[k]);
        expect(sec(c, 'method').alpha).to.equal(sec(trained[i], 'method').alpha);
      });
    });
  }

  /**
   * Every cell of `file` is the cell of `baseFile` with the same labels except for `section.key`,
   * which is `value` there and `baseValue` (or unset) in the base; same evaluations, no floors.
   */
  function expectOneKeyApart(file: string, baseFile: string, section: string, key: string, value: unknown, baseValue: unknown) {
    const dir = path.resolve(__dirname, '..', '..', '..', 'configs', 'experiments');
    const base = loadGrid(path.join(dir, baseFile));
    const g = loadGrid(path.join(dir, file));
    expect(g.evaluations).to.deep.equal(base.evaluations);
    expect(g.cells.filter((c) => c.randomInit)).to.have.length(0);
    const trained = base.cells.filter((c) => !c.randomInit);
    expect(g.cells).to.have.length(trained.length);
    for (const c of g.cells) {
      const b = trained.find((t) => t.labels.views === c.labels.views && t.labels.seed === c.labels.seed);
      expect(b, c.id).to.not.equal(undefined);
      const sec = c.config[section] as Record<string, unknown>;
      const baseSec = b!.config[section] as Record<string, unknown>;
      expect(sec[key], c.id).to.equal(value);
      expect(baseSec[key] ?? baseValue, c.id).to.equal(baseValue);
      expect({ ...c.config, [section]: { ...sec, [key]: null } }, c.id).to.deep.equal({ ...b!.config, [section]: { ...baseSec, [key]: null } });
    }
    return g;
  }

  // The eta 0.01 grid borrows the floors too, and its cells must differ from cifar10_views_small's
  // only in LARS's trust coefficient (its axes list SSLight's views first, so cells are matched by their labels).
  it('cifar10_views_small_eta01.yaml: cifar10_views_small with optimizer.eta 0.01 and nothing else changed', () => {
    const g = expectOneKeyApart('cifar10_views_small_eta01.yaml', 'cifar10_views_small.yaml', 'optimizer', 'eta', 0.01, 0.001);
    for (const c of g.cells) expect((c.config.optimizer as Record<string, unknown>).name).to.equal('lars');
  });

  // The KoLeo grid borrows the floors as well: its cells are the eta 0.01 grid's plus KoLeo 0.1.
  it('cifar10_views_small_koleo.yaml: cifar10_views_small_eta01 with method.koleo_weight 0.1 and nothing else changed', () => {
    const g = expectOneKeyApart('cifar10_views_small_koleo.yaml', 'cifar10_views_small_eta01.yaml', 'method', 'koleo_weight', 0.1, 0);
    expect(g.cells.map((c) => c.labels.views)).to.deep.equal(['dino', 'dino', 'dino', 'sslight', 'sslight', 'sslight']);
  });
});
