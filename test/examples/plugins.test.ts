import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { main } from '../../src/cli/main';
import { loadPluginModule } from '../../src/core/plugin_loader';
import { registry } from '../../src/core/registry';
import { Rng } from '../../src/core/rng';
import { repoRoot } from '../helpers/reference';

/**
 * The worked examples of docs/plugins.md (examples/plugins/): a backbone, a view sampler and a
 * callback, each one file loaded with --plugin, used together in one pre-training and resume.
 */
const DIR = path.join(repoRoot, 'examples', 'plugins');
const FILES = ['tiny_cnn.js', 'flip_crops.js', 'loss_summary.js'].map((f) => path.join(DIR, f));

const CONFIG = `
data: {name: generated, num_images: 24, image_size: 32}
views: {name: flip_crops, global_size: 16, local_size: 8}
method: {name: dino, out_dim: 32, hidden_dim: 16, bottleneck_dim: 8, warmup_teacher_temp_epochs: 0}
backbone: {name: tiny_cnn, widths: [8, 16]}
optimizer: {name: adamw, lr: 0.001, scale_lr_by_batch: false, warmup_epochs: 0}
trainer: {epochs: 1, batch_size: 6, seed: 2}
callbacks:
  progress: false
  jsonl: {}
  checkpoint: {every_steps: 2, keep: 1}
  loss_summary: {digits: 3}
`;

describe('examples/plugins (docs/plugins.md: backbone, view sampler, callback)', function () {
  this.timeout(120000);
  let dir: string;

  before(() => {
    for (const f of FILES) loadPluginModule(f);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-plugins-'));
  });
  after(async () => {
    fs.rmSync(dir, { recursive: true, force: true });
    await tf.setBackend('cpu');
  });

  it('tiny_cnn: pooled features of featureDim, named parameters, reproducible from the rng', () => {
    const def = registry.get('backbone', 'tiny_cnn');
    const a = def.create(def.schema.parse({ widths: [4, 8] }), { rng: new Rng(1) });
    const b = def.create(def.schema.parse({ widths: [4, 8] }), { rng: new Rng(1) });
    expect(a.featureDim).to.equal(8);
    expect(a.namedParameters().map((p) => p.name)).to.include.members(['conv0.weight', 'conv1.weight', 'bn1.bias']);
    const x = tf.randomNormal([2, 16, 16, 3]) as tf.Tensor4D;
    const [fa, fb] = [a.forward(x), b.forward(x)];
    expect(fa.shape).to.deep.equal([2, 8]);
    expect(Array.from(fa.dataSync())).to.deep.equal(Array.from(fb.dataSync()));
    tf.dispose([x, fa, fb]);
    a.dispose();
    b.dispose();
  });

  it('flip_crops: the configured views, normalised, with pixel scales, deterministic given the rng', () => {
    const def = registry.get('views', 'flip_crops');
    const s = def.create(def.schema.parse({ n_local: 3, global_size: 12, local_size: 6 }), {});
    const image = { width: 20, height: 16, data: Uint8Array.from({ length: 20 * 16 * 3 }, (_, i) => (i * 37) % 256) };
    const v1 = s.sample(image, new Rng(4));
    const v2 = s.sample(image, new Rng(4));
    expect(v1.globals.map((g) => g.length)).to.deep.equal([12 * 12 * 3, 12 * 12 * 3]);
    expect(v1.locals.map((g) => g.length)).to.deep.equal([6 * 6 * 3, 6 * 6 * 3, 6 * 6 * 3]);
    expect(v1.localPixelScales.every((p) => p > 0)).to.equal(true);
    expect(Array.from(v1.locals[2])).to.deep.equal(Array.from(v2.locals[2]));
    // ImageNet normalisation: values leave [0, 1].
    expect(Math.min(...v1.globals[0])).to.be.lessThan(0);
  });

  it('all three in one pre-training; the callback writes its summary and keeps its state across a resume', async () => {
    const config = path.join(dir, 'config.yaml');
    fs.writeFileSync(config, CONFIG);
    const out = path.join(dir, 'run');
    const flags = FILES.flatMap((f) => ['--plugin', f]).concat(['--backend', 'wasm']);
    const log = console.log;
    const printed: string[] = [];
    console.log = (...a: unknown[]) => void printed.push(a.join(' '));
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = (() => true) as typeof process.stderr.write;
    try {
      process.exitCode = 0;
      await main(['pretrain', '--config', config, '--out', out, '--max-steps', '2', ...flags]);
      expect(Number(process.exitCode ?? 0)).to.equal(0);
      await main(['pretrain', '--resume', out, '--max-steps', '4', ...flags]);
      expect(Number(process.exitCode ?? 0)).to.equal(0);
    } finally {
      console.log = log;
      process.stderr.write = write;
      process.exitCode = 0;
    }
    const steps = fs
      .readFileSync(path.join(out, 'events.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; step: number; losses?: { loss: number } })
      .filter((e) => e.type === 'step:end');
    expect(steps.map((e) => e.step)).to.deep.equal([1, 2, 3, 4]);
    const losses = steps.map((e) => e.losses!.loss);
    const best = Math.min(...losses);
    const summary = JSON.parse(fs.readFileSync(path.join(out, 'loss_summary.json'), 'utf8')) as { loss: number; step: number };
    // The minimum over both parts of the run: the first part's best came back from the checkpoint.
    expect(summary).to.deep.equal({ loss: best, step: steps[losses.indexOf(best)].step });
    expect(printed).to.include(`lowest loss ${best.toFixed(3)} at step ${summary.step}`);
  });
});
