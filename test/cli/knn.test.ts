import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import type { KnnResult } from '../../src/cli/knn';
import { loadBackboneWeights } from '../../src/cli/eval_setup';
import { registry } from '../../src/core/registry';
import { Rng } from '../../src/core/rng';
import type { Backbone } from '../../src/core/interfaces';
import { decodeSafetensors, encodeSafetensors } from '../../src/nn/safetensors';
import { moduleStateDict } from '../../src/nn/state_dict';
import { runCli } from '../helpers/run_cli';
import { tinyDinoConfig } from '../helpers/tiny_config';

/**
 * `sslight knn` end to end on wasm: a tiny DINO pre-training (6 steps of a width-0.25
 * MobileNetV2 at 16 px), then k-NN on its checkpoint, the random-init baseline and the errors.
 */
const TINY = tinyDinoConfig(['jsonl: {}', 'checkpoint: {every_steps: 100, keep: 1}']);

const cli = runCli;

// 200 images per split so that --max-train 64 / --max-test 32 pick a subset.
const KNN_FLAGS = ['--backend', 'wasm', '--set', 'data.num_images=200', '--max-train', '64', '--max-test', '32'];

describe('cli: sslight knn (wasm, tiny MobileNetV2)', function () {
  this.timeout(120000);
  let dir: string;
  let run: string;
  let ckpt: string;
  let config: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-knn-'));
    config = path.join(dir, 'tiny.yaml');
    fs.writeFileSync(config, TINY);
    run = path.join(dir, 'run');
    const r = await cli(['pretrain', '--config', config, '--out', run, '--backend', 'wasm']);
    expect(r.code, r.stderr).to.equal(0);
    ckpt = path.join(run, 'checkpoints', 'step_00000006');
    expect(fs.existsSync(path.join(ckpt, 'model.safetensors'))).to.equal(true);
  });
  after(async () => {
    await tf.setBackend('cpu');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  let trainedTop1: number;

  it('knn --run prints top-1 in [0, 1], writes knn.json and leaks no tensor', async () => {
    const before = tf.memory().numTensors;
    const r = await cli(['knn', '--run', run, ...KNN_FLAGS]);
    expect(r.code, r.stderr).to.equal(0);
    expect(tf.getBackend()).to.equal('wasm');
    expect(tf.memory().numTensors, 'tensors left after knn').to.equal(before);
    const m = /knn top-1: ([\d.]+)% \(step 6, k=20, T=0\.07, 64 train \/ 32 test images, 10 classes, 16px\)/.exec(r.stdout);
    expect(m, r.stdout).to.not.equal(null);
    const res = JSON.parse(fs.readFileSync(path.join(run, 'knn.json'), 'utf8')) as KnnResult;
    expect(res.top1).to.be.within(0, 1);
    expect(Number(m![1])).to.be.closeTo(res.top1 * 100, 0.006);
    // 32 test images: the accuracy is a multiple of 1/32.
    expect(res.top1 * 32).to.be.closeTo(Math.round(res.top1 * 32), 1e-9);
    expect(res).to.include({ k: 20, temperature: 0.07, numTrain: 64, numTest: 32, numClasses: 10, imageSize: 16, randomInit: false, step: 6, backbone: 'mobilenetv2' });
    expect(res.checkpoint).to.equal(ckpt);
    trainedTop1 = res.top1;
  });

  it('--checkpoint DIR alone (config from state.json) gives the same result; --k/--temperature are used', async () => {
    const r = await cli(['knn', '--checkpoint', ckpt, ...KNN_FLAGS]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain(`knn top-1: ${(trainedTop1 * 100).toFixed(2)}% (step 6, k=20`);
    const r1 = await cli(['knn', '--checkpoint', ckpt, ...KNN_FLAGS, '--k', '1', '--temperature', '0.5', '--image-size', '24']);
    expect(r1.code, r1.stderr).to.equal(0);
    expect(r1.stdout).to.match(/knn top-1: [\d.]+% \(step 6, k=1, T=0\.5, 64 train \/ 32 test images, 10 classes, 24px\)/);
  });

  it('--random-init evaluates the untrained architecture and writes knn_random_init.json', async () => {
    const r = await cli(['knn', '--run', run, ...KNN_FLAGS, '--random-init']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/knn top-1: [\d.]+% \(random init, k=20/);
    const res = JSON.parse(fs.readFileSync(path.join(run, 'knn_random_init.json'), 'utf8')) as KnnResult;
    expect(res).to.include({ randomInit: true, checkpoint: null, numTrain: 64, numTest: 32 });
    expect(res.top1).to.be.within(0, 1);
    // knn.json (the trained result) is left alone.
    expect(JSON.parse(fs.readFileSync(path.join(run, 'knn.json'), 'utf8')).randomInit).to.equal(false);
    // The same baseline from a checkpoint directory (config from its state.json) or from a config alone.
    const fromCkpt = await cli(['knn', '--checkpoint', ckpt, ...KNN_FLAGS, '--random-init']);
    expect(fromCkpt.code, fromCkpt.stderr).to.equal(0);
    expect(fromCkpt.stdout).to.contain(`knn top-1: ${(res.top1 * 100).toFixed(2)}% (random init`);
    const fromConfig = await cli(['knn', '--config', config, ...KNN_FLAGS, '--random-init']);
    expect(fromConfig.code, fromConfig.stderr).to.equal(0);
    expect(fromConfig.stdout).to.contain(`knn top-1: ${(res.top1 * 100).toFixed(2)}% (random init`);
  });

  it('loads exactly student.backbone.* of model.safetensors into the backbone', () => {
    const bb = registry.get('backbone', 'mobilenetv2').create({ width: 0.25 } as never, { rng: new Rng(99) }) as Backbone;
    const file = decodeSafetensors(fs.readFileSync(path.join(ckpt, 'model.safetensors'))).tensors;
    const before = moduleStateDict(bb, 'student.backbone.');
    const name = [...before.keys()].find((k) => k.endsWith('.weight'))!;
    expect(Array.from(before.get(name)!.data as Float32Array)).to.not.deep.equal(Array.from(file.get(name)!.data as Float32Array));
    expect(loadBackboneWeights(bb, ckpt, 'student.backbone.')).to.equal('student.backbone.');
    const after = moduleStateDict(bb, 'student.backbone.');
    expect(after.size).to.be.greaterThan(10);
    for (const [k, e] of after) expect(Array.from(e.data as ArrayLike<number | bigint>), k).to.deep.equal(Array.from(file.get(k)!.data as ArrayLike<number | bigint>));
    bb.dispose();
  });

  it('a missing checkpoint, model.safetensors or backbone key is a clear error with exit code 2', async () => {
    const empty = path.join(dir, 'empty');
    fs.mkdirSync(empty);
    let r = await cli(['knn', '--run', empty, ...KNN_FLAGS]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain(`no checkpoint found at ${empty}`);

    r = await cli(['knn', '--run', path.join(dir, 'nope'), ...KNN_FLAGS]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain('no such directory');

    r = await cli(['knn', ...KNN_FLAGS]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain('--run DIR or --checkpoint DIR');

    const broken = path.join(dir, 'broken');
    fs.cpSync(ckpt, broken, { recursive: true });
    const model = path.join(broken, 'model.safetensors');
    const entries = decodeSafetensors(fs.readFileSync(model)).tensors;
    const dropped = [...entries.keys()].find((k) => k.startsWith('student.backbone.') && k.endsWith('running_mean'))!;
    entries.delete(dropped);
    fs.writeFileSync(model, encodeSafetensors(entries, { format: 'pt' }));
    r = await cli(['knn', '--checkpoint', broken, ...KNN_FLAGS]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain(model).and.to.contain(`missing keys: ${dropped}`);

    fs.rmSync(model);
    r = await cli(['knn', '--checkpoint', broken, ...KNN_FLAGS]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain(`missing ${model}`);

    r = await cli(['knn', '--run', run, ...KNN_FLAGS, '--k', '0']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain('--k must be a positive integer');
  });
});
