import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { probeOptimizer, type LinearResult } from '../../src/cli/linear';
import { runCli } from '../helpers/run_cli';
import { tinyDinoConfig } from '../helpers/tiny_config';

/** `sslight linear` end to end on wasm, on a tiny DINO pre-training (6 steps, width-0.25 MobileNetV2). */
const TINY = tinyDinoConfig(['checkpoint: {every_steps: 100, keep: 1}']);

const cli = runCli;

describe('cli: sslight linear (wasm, tiny MobileNetV2)', function () {
  this.timeout(120000);
  let dir: string;
  let run: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-linear-'));
    const config = path.join(dir, 'tiny.yaml');
    fs.writeFileSync(config, TINY);
    run = path.join(dir, 'run');
    const r = await cli(['pretrain', '--config', config, '--out', run, '--backend', 'wasm']);
    expect(r.code, r.stderr).to.equal(0);
  });
  after(async () => {
    await tf.setBackend('cpu');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the paper\'s probe optimizer: LARS base lr 0.05 for CNNs, SGD 0.01 for ViTs, no warm-up, no weight decay', () => {
    expect(probeOptimizer('mobilenetv2', undefined)).to.deep.equal({ name: 'lars', lr: 0.05, warmup_epochs: 0, weight_decay: 0, min_lr: 0 });
    expect(probeOptimizer('resnet18', 2)).to.include({ name: 'lars', lr: 2 });
    expect(probeOptimizer('vit_small', undefined)).to.include({ name: 'sgd', lr: 0.01 });
    // --optimizer overrides the per-backbone choice, with that optimizer's default lr.
    expect(probeOptimizer('mobilenetv2', undefined, 'sgd')).to.include({ name: 'sgd', lr: 0.01 });
    expect(probeOptimizer('vit_small', 0.3, 'lars')).to.include({ name: 'lars', lr: 0.3 });
  });

  it('--optimizer sgd --bn: SGD probe on batch-normalised features, recorded in linear.json', async () => {
    const r = await cli([
      'linear', '--run', run, '--backend', 'wasm', '--set', 'data.num_images=200',
      '--max-train', '32', '--max-test', '16', '--epochs', '2', '--batch-size', '16', '--optimizer', 'sgd', '--lr', '0.5', '--bn',
    ]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/linear top-1: [\d.]+% \(step 6, sgd base lr 0\.5, BN on features, 2 epochs of batch 16/);
    const res = JSON.parse(fs.readFileSync(path.join(run, 'linear.json'), 'utf8')) as LinearResult;
    expect(res).to.include({ optimizer: 'sgd', baseLr: 0.5, bn: true });
  });

  it('trains the classifier (loss per epoch falls), prints test top-1 and writes linear.json without leaking tensors', async () => {
    const before = tf.memory().numTensors;
    const r = await cli([
      'linear', '--run', run, '--backend', 'wasm', '--set', 'data.num_images=200',
      '--max-train', '64', '--max-test', '32', '--epochs', '4', '--batch-size', '16', '--lr', '5',
    ]);
    expect(r.code, r.stderr).to.equal(0);
    expect(tf.memory().numTensors, 'tensors left after linear').to.equal(before);
    const epochs = r.stdout.split('\n').filter((l) => /^epoch \d\/4 {2}train loss [\d.]+/.test(l));
    expect(epochs, r.stdout).to.have.length(4);
    expect(r.stdout).to.match(/linear top-1: [\d.]+% \(step 6, lars base lr 5, 4 epochs of batch 16, 64 train \/ 32 test images, 10 classes, 16px\)/);
    const res = JSON.parse(fs.readFileSync(path.join(run, 'linear.json'), 'utf8')) as LinearResult;
    expect(res).to.include({ epochs: 4, batchSize: 16, optimizer: 'lars', baseLr: 5, numTrain: 64, numTest: 32, randomInit: false, step: 6 });
    expect(res.top1).to.be.within(0, 1);
    expect(res.top1 * 32).to.be.closeTo(Math.round(res.top1 * 32), 1e-9);
    expect(res.trainLoss).to.have.length(4);
    // Starts near ln(10) (the classifier starts at N(0, 0.01)) and goes down.
    expect(res.trainLoss[0]).to.be.closeTo(Math.log(10), 0.3);
    expect(res.trainLoss[3], res.trainLoss.join(', ')).to.be.lessThan(res.trainLoss[0]);
  });

  it('bad flags and a missing checkpoint exit 2', async () => {
    let r = await cli(['linear', '--run', run, '--backend', 'wasm', '--epochs', '0']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain('--epochs must be a positive integer');
    r = await cli(['linear', '--checkpoint', path.join(dir, 'nope'), '--backend', 'wasm']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain('no checkpoint found');
  });
});
