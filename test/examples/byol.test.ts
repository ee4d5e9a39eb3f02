import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { loadPluginModule } from '../../src/core/plugin_loader';
import { registry } from '../../src/core/registry';
import { Rng } from '../../src/core/rng';
import type { SSLMethod, StepContext } from '../../src/core/interfaces';
import { ensureGradients } from '../../src/nn/gradients';
import { expectClose, repoRoot } from '../helpers/reference';
import { ToyBackbone } from '../helpers/toy_backbone';
import { disposeViews, makeViews } from '../helpers/toy_views';
import { runCli } from '../helpers/run_cli';

/**
 * examples/byol, the out-of-tree method package, loaded as a user would (`--plugin
 * ./examples/byol`, public API only): its loss against PyTorch (fixtures/byol_loss.json, made by
 * fixtures/make_byol_loss.py), its EMA target, and pre-train -> resume -> `sslight knn` through
 * the CLI.
 */
const BYOL_DIR = path.join(repoRoot, 'examples', 'byol');

interface LossCase {
  n_global: number;
  n_local: number;
  alpha: number | null;
  batch: number;
  dim: number;
  predictions: number[];
  targets: number[];
  pair_loss: number[];
  loss: number;
  grad_predictions: number[];
}

type ByolLoss = (
  p: tf.Tensor2D,
  z: tf.Tensor2D,
  o: { nGlobal: number; nLocal: number; alpha: number | null },
) => { loss: tf.Scalar; pairLoss: tf.Tensor2D };

const TINY = `
data: {name: generated, num_images: 40, image_size: 32}
views: {name: sslight, global_crop_size: 16, local_crop_size: 8, n_local: 2}
method: {name: byol, hidden_dim: 32, out_dim: 16, pred_hidden_dim: 32, alpha: 0.4}
backbone: {name: mobilenetv2, width: 0.25}
optimizer: {name: adamw, lr: 0.001, scale_lr_by_batch: false, warmup_epochs: 0}
trainer: {epochs: 1, batch_size: 8, seed: 5}
callbacks:
  progress: false
  jsonl: {}
  checkpoint: {every_steps: 2, keep: 1}
`;

/** `sslight <args>` in-process; stderr is captured (and not looked at). */
const cli = runCli;

function losses(runDir: string): number[] {
  return fs
    .readFileSync(path.join(runDir, 'events.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; losses?: { loss: number } })
    .filter((e) => e.type === 'step:end')
    .map((e) => e.losses!.loss);
}

describe('examples/byol (an out-of-tree method through --plugin)', function () {
  this.timeout(120000);
  let byolLoss: ByolLoss;

  before(async () => {
    await ensureGradients();
    loadPluginModule(BYOL_DIR);
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    byolLoss = (require(BYOL_DIR) as { byolLoss: ByolLoss }).byolLoss;
  });

  it('registers method "byol" from its package directory, and loading it again is harmless', () => {
    expect(registry.names('method')).to.include('byol');
    loadPluginModule(BYOL_DIR);
    const o = registry.get('method', 'byol').schema.parse({});
    expect(o).to.deep.include({ out_dim: 256, hidden_dim: 4096, momentum: 0.996, momentum_end: 1, alpha: null });
  });

  const ref = JSON.parse(fs.readFileSync(path.join(repoRoot, 'test', 'examples', 'fixtures', 'byol_loss.json'), 'utf8')) as {
    cases: Record<string, LossCase>;
  };
  for (const [name, c] of Object.entries(ref.cases)) {
    it(`loss, pair losses and gradient match PyTorch: ${name} (${c.n_global} + ${c.n_local} views, alpha ${c.alpha})`, () => {
      const nViews = c.n_global + c.n_local;
      const p = tf.tensor2d(c.predictions, [nViews * c.batch, c.dim]);
      const z = tf.tensor2d(c.targets, [c.n_global * c.batch, c.dim]);
      const opts = { nGlobal: c.n_global, nLocal: c.n_local, alpha: c.alpha };
      const r = byolLoss(p, z, opts);
      expectClose(r.loss.dataSync(), [c.loss], { rtol: 1e-5, atol: 1e-6, what: 'loss' });
      expectClose(r.pairLoss.dataSync(), c.pair_loss, { rtol: 1e-5, atol: 1e-6, what: 'pair loss' });
      const g = tf.grad((x: tf.Tensor) => byolLoss(x as tf.Tensor2D, z, opts).loss)(p);
      expectClose(g.dataSync(), c.grad_predictions, { rtol: 1e-4, atol: 1e-6, what: 'd loss / d predictions' });
      tf.dispose([p, z, r.loss, r.pairLoss, g]);
    });
  }

  it('target follows the online network by EMA (cosine momentum); evaluates online.backbone; steps leak nothing', () => {
    const def = registry.get('method', 'byol');
    const m = def.create(def.schema.parse({ hidden_dim: 12, out_dim: 8, pred_hidden_dim: 12, momentum: 0.9 }), {
      buildBackbone: (rng) => new ToyBackbone(rng),
      rng: new Rng(3),
      nGlobal: 2,
      nLocal: 2,
      batchSize: 4,
      epochs: 2,
      stepsPerEpoch: 2,
    }) as SSLMethod & { momentumAt(step: number): number; dispose(): void };
    expect(Object.keys(m.studentModules())).to.deep.equal(['online', 'predictor']);
    expect(Object.keys(m.targetModules())).to.deep.equal(['target']);
    const { module, prefix } = m.evaluableBackbone();
    expect(prefix).to.equal('online.backbone.');
    expect(module).to.equal((m.studentModules().online as unknown as { backbone: unknown }).backbone);
    expect(m.momentumAt(0)).to.equal(0.9);
    // DINO's cosine schedule (sslight's CosineSchedule): 1 - (1 - 0.9) (1 + cos(pi k / K)) / 2.
    expect(m.momentumAt(3)).to.be.closeTo(1 - 0.05 * (1 + Math.cos((Math.PI * 3) / 4)), 1e-12);

    const online = m.studentModules().online;
    const target = m.targetModules().target;
    const w = (mod: typeof online) => Float32Array.from(mod.namedParameters().find((p) => p.name === 'head.0.weight')!.variable.dataSync());
    expect(Array.from(w(target))).to.deep.equal(Array.from(w(online)));
    const params = Object.entries(m.studentModules()).flatMap(([k, mod]) => mod.namedParameters(`${k}.`).filter((p) => p.trainable));
    const counts: number[] = [];
    for (let step = 0; step < 3; step++) {
      const metrics: Record<string, number> = {};
      const ctx: StepContext = { step, epoch: 0, stepsPerEpoch: 2, totalSteps: 4, epochs: 2, metric: (n, v) => (metrics[n] = v) };
      const batch = makeViews(10 + step, 4);
      const before = { t: w(target), o: w(online) };
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() => m.loss(batch, ctx) as tf.Scalar, params.map((p) => p.variable));
        for (const p of params) p.variable.assign(tf.sub(p.variable, tf.mul(grads[p.variable.name], 0.1)));
        m.afterStep!(ctx);
      });
      disposeViews(batch);
      // target' = mu * target + (1 - mu) * online', with the online weights after the update.
      const mu = m.momentumAt(step);
      const after = { t: w(target), o: w(online) };
      expect(Array.from(after.o)).to.not.deep.equal(Array.from(before.o));
      expectClose(after.t, Array.from(before.t, (t, i) => mu * t + (1 - mu) * after.o[i]), { rtol: 1e-5, atol: 1e-6, what: `target at step ${step}` });
      expect(metrics.momentum).to.equal(mu);
      expect(metrics.loss_gg).to.be.within(0, 4);
      expect(metrics.loss_gl).to.be.within(0, 4);
      counts.push(tf.memory().numTensors);
    }
    expect(new Set(counts.slice(1)).size, `numTensors per step: ${counts}`).to.equal(1);
    m.dispose();
  });

  describe('through the CLI', () => {
    let dir: string;
    let config: string;
    before(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-byol-'));
      config = path.join(dir, 'tiny.yaml');
      fs.writeFileSync(config, TINY);
    });
    after(async () => {
      fs.rmSync(dir, { recursive: true, force: true });
      await tf.setBackend('cpu');
    });

    it('pre-trains, resumes to the same losses (1e-5) and evaluates with sslight knn', async () => {
      const flags = ['--plugin', BYOL_DIR, '--backend', 'wasm'];
      const full = path.join(dir, 'full');
      expect((await cli(['pretrain', '--config', config, '--out', full, '--max-steps', '4', ...flags])).code).to.equal(0);
      const part = path.join(dir, 'part');
      expect((await cli(['pretrain', '--config', config, '--out', part, '--max-steps', '2', ...flags])).code).to.equal(0);
      expect((await cli(['pretrain', '--resume', part, '--max-steps', '4', ...flags])).code).to.equal(0);
      const a = losses(full);
      const b = losses(part);
      expect(a).to.have.length(4);
      expectClose(b, a, { rtol: 1e-5, atol: 1e-6, what: 'resumed losses' });

      const knn = await cli(['knn', '--run', part, '--max-train', '20', '--max-test', '10', ...flags]);
      expect(knn.code).to.equal(0);
      expect(knn.stdout).to.match(/knn top-1: [\d.]+% \(step 4/);
      const res = JSON.parse(fs.readFileSync(path.join(part, 'knn.json'), 'utf8')) as { top1: number };
      expect(res.top1).to.be.within(0, 1);
    });
  });
});
