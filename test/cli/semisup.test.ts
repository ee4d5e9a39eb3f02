import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import '../../src/run/builtins';
import { registry } from '../../src/core/registry';
import { Rng } from '../../src/core/rng';
import { ensureGradients } from '../../src/nn/gradients';
import { selectBackend } from '../../src/core/backend';
import { FineTuner, labelledSubset, topKCorrect } from '../../src/eval/semisup';
import type { SemisupResult } from '../../src/cli/semisup';
import { runCli } from '../helpers/run_cli';
import { tinyDinoConfig } from '../helpers/tiny_config';

const TINY = tinyDinoConfig(['checkpoint: {every_steps: 100, keep: 1}']);

const cli = runCli;

describe('eval: semi-supervised fine-tuning', function () {
  this.timeout(120000);

  it('labelledSubset takes the same percent of every class, deterministically', () => {
    const labelOf = (i: number): number => i % 4;
    const a = labelledSubset(400, labelOf, 10);
    expect(a).to.have.length(40);
    for (let c = 0; c < 4; c++) expect(a.filter((i) => labelOf(i) === c)).to.have.length(10);
    expect(labelledSubset(400, labelOf, 10)).to.deep.equal(a);
    expect(labelledSubset(400, labelOf, 10, 1)).to.not.deep.equal(a);
    // At least one image per class even when percent of a class rounds to zero.
    expect(labelledSubset(40, labelOf, 1)).to.have.length(4);
    expect(() => labelledSubset(10, labelOf, 0)).to.throw(RangeError);
  });

  it('topKCorrect ranks the true class among the logits', () => {
    const logits = Float32Array.from([0.1, 0.9, 0.0, /* */ 0.5, 0.2, 0.3, /* */ 0.2, 0.2, 0.6]);
    expect(topKCorrect(logits, [1, 2, 0], 3, 1)).to.deep.equal({ top1: 1, topk: 1 });
    expect(topKCorrect(logits, [1, 2, 0], 3, 2)).to.deep.equal({ top1: 1, topk: 3 });
  });

  it('FineTuner trains the whole network: backbone weights move and a fixed batch is fitted', async () => {
    await selectBackend('wasm');
    await ensureGradients();
    const backbone = registry.get('backbone', 'mobilenetv2').create({ width: 0.25, round_nearest: 8, small_input: false }, { rng: new Rng(1) });
    const tuner = new FineTuner(backbone, {
      numClasses: 4,
      optimizer: { name: 'sgd', lr: 0.05, momentum: 0.9, nesterov: true, warmup_epochs: 0, weight_decay: 0, scale_lr_by_batch: false },
      batchSize: 8,
      epochs: 1,
      stepsPerEpoch: 30,
      rng: new Rng(2),
    });
    const rng = new Rng(5);
    const images = tf.tensor4d(Float32Array.from({ length: 8 * 16 * 16 * 3 }, () => rng.normal()), [8, 16, 16, 3]);
    const labels = [0, 1, 2, 3, 0, 1, 2, 3];
    const w = backbone.namedParameters()[0].variable;
    const w0 = w.dataSync().slice();
    const rm = backbone.namedBuffers().find((b) => b.name.endsWith('running_mean'))!;
    const rm0 = rm.variable.dataSync().slice();
    const losses: number[] = [tuner.step(images, labels)];
    // After the first step (which creates the momentum buffers) the tensor count stays put.
    const tensors = tf.memory().numTensors;
    for (let i = 1; i < 30; i++) losses.push(tuner.step(images, labels));
    expect(tf.memory().numTensors).to.equal(tensors);
    expect(losses[29]).to.be.lessThan(losses[0] * 0.5);
    const w1 = w.dataSync();
    expect(w1.some((v, i) => v !== w0[i])).to.equal(true);
    // BN runs on batch statistics while fine-tuning and updates its running statistics.
    expect(rm.variable.dataSync().some((v, i) => v !== rm0[i])).to.equal(true);
    const logits = tuner.logits(images);
    expect(logits).to.have.length(8 * 4);
    expect(logits.every(Number.isFinite)).to.equal(true);
    images.dispose();
    tuner.dispose();
    backbone.dispose();
    await tf.setBackend('cpu');
  });

  it('sslight semisup fine-tunes a run on 10% of the labels and writes semisup_10.json', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-semisup-'));
    fs.writeFileSync(path.join(dir, 'tiny.yaml'), TINY);
    const run = path.join(dir, 'run');
    expect((await cli(['pretrain', '--config', path.join(dir, 'tiny.yaml'), '--out', run, '--backend', 'wasm'])).code).to.equal(0);
    const flags = ['--run', run, '--set', 'data.num_images=200', '--max-test', '32', '--batch-size', '8', '--backend', 'wasm'];
    const r = await cli(['semisup', ...flags, '--percent', '10', '--epochs', '2']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/semisup 10% top-1: \d+\.\d\d%, top-5: \d+\.\d\d% \(step 6, 20 labelled images, 2 epochs of batch 8, 32 test images\)/);
    const res = JSON.parse(fs.readFileSync(path.join(run, 'semisup_10.json'), 'utf8')) as SemisupResult;
    expect(res.numLabelled).to.equal(20);
    expect(res.trainLoss).to.have.length(2);
    expect(res.top5).to.be.at.least(res.top1);
    expect(res.step).to.equal(6);
    const ri = await cli(['semisup', ...flags, '--percent', '10', '--epochs', '1', '--random-init']);
    expect(ri.code, ri.stderr).to.equal(0);
    expect(fs.existsSync(path.join(run, 'semisup_10_random_init.json'))).to.equal(true);

    const bad = await cli(['semisup', ...flags, '--percent', '5']);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.match(/--percent must be 1 or 10, got 5/);
  });
});
