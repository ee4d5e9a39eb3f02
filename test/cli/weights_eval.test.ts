import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { runCli } from '../helpers/run_cli';
import { loadReference } from '../helpers/reference';

/**
 * Foreign weights in the evaluation commands: `sslight knn --weights` on the SSLight release
 * layout (a .pth.tar made with torch, see test/fixtures/weights/make_fixtures.py), and
 * `sslight info --backbones` against reference/backbones.json.
 */
const FIX = path.join(__dirname, '../../../test/fixtures/weights');
const DATA = `
data: {name: generated, num_images: 40, image_size: 32}
views: {name: sslight, global_crop_size: 32, local_crop_size: 16, n_local: 2}
method: {name: dino, out_dim: 32, hidden_dim: 16, bottleneck_dim: 8}
backbone: {name: mobilenetv2, width: 0.25}
optimizer: {name: lars, lr: 0.3}
`;

describe('cli: foreign weights in knn / linear, and info --backbones', function () {
  this.timeout(120000);
  let dir: string;
  let config: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-wknn-'));
    config = path.join(dir, 'data.yaml');
    fs.writeFileSync(config, DATA);
  });
  after(async () => {
    await tf.setBackend('cpu');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('knn --weights SSLight .pth.tar --backbone mobilenetv2 evaluates the student on the config\'s data', async () => {
    const weights = path.join(FIX, 'sslight_dino_mnv2.pth.tar');
    const before = tf.memory().numTensors;
    const r = await runCli(['knn', '--config', config, '--weights', weights, '--backbone', 'mobilenetv2', '--set', 'backbone.width=0.1', '--backend', 'wasm']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/SSLight DINO release \(module\.student\.backbone\.\*\), MobileNetV2 encoder, loaded 312 tensors/);
    const m = /knn top-1: ([\d.]+)% \(weights .*sslight_dino_mnv2\.pth\.tar, k=20, T=0\.07, 40 train \/ 40 test images, 10 classes, 32px\)/.exec(r.stdout);
    expect(m, r.stdout).to.not.equal(null);
    expect(Number(m![1])).to.be.within(0, 100);
    expect(tf.memory().numTensors).to.equal(before);
  });

  it('knn --config alone evaluates the config\'s backbone.weights', async () => {
    const withWeights = path.join(dir, 'with_weights.yaml');
    fs.writeFileSync(withWeights, DATA.replace('backbone: {name: mobilenetv2, width: 0.25}', `backbone: {name: mobilenetv2, width: 0.1, weights: ${JSON.stringify(path.join(FIX, 'sslight_dino_mnv2.pth.tar'))}}`));
    const r = await runCli(['knn', '--config', withWeights, '--backend', 'wasm']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/SSLight DINO release \(module\.student\.backbone\.\*\)/);
    expect(r.stdout).to.match(/knn top-1: [\d.]+% \(weights .*sslight_dino_mnv2\.pth\.tar, k=20/);
    const viaFlag = await runCli(['knn', '--config', config, '--weights', path.join(FIX, 'sslight_dino_mnv2.pth.tar'), '--set', 'backbone.width=0.1', '--backend', 'wasm']);
    expect(viaFlag.code, viaFlag.stderr).to.equal(0);
    expect(/top-1: ([\d.]+)%/.exec(viaFlag.stdout)![1]).to.equal(/top-1: ([\d.]+)%/.exec(r.stdout)![1]);
  });

  it('pretrain starts from backbone.weights (reported once for student and teacher)', async () => {
    const cfg = path.join(dir, 'pretrain.yaml');
    fs.writeFileSync(
      cfg,
      DATA.replace('backbone: {name: mobilenetv2, width: 0.25}', `backbone: {name: mobilenetv2, width: 0.1, weights: ${JSON.stringify(path.join(FIX, 'sslight_dino_mnv2.pth.tar'))}}`)
        .replace('optimizer: {name: lars, lr: 0.3}', 'optimizer: {name: lars, lr: 0.3, warmup_epochs: 0}\ntrainer: {epochs: 1, batch_size: 4, max_steps: 1}'),
    );
    const r = await runCli(['pretrain', '--config', cfg, '--out', path.join(dir, 'run'), '--backend', 'wasm']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr.match(/backbone\.weights .*SSLight DINO release .*loaded 312 tensors/g)).to.have.length(1);
  });

  it('linear --weights takes the same flags (SSLight SwAV release)', async () => {
    const weights = path.join(FIX, 'sslight_swav_mnv2.pth.tar');
    const r = await runCli(['linear', '--config', config, '--weights', weights, '--backbone', 'mobilenetv2', '--set', 'backbone.width=0.1', '--epochs', '1', '--backend', 'wasm']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/SSLight SwAV release \(module\.network\.backbone\.\*\)/);
    expect(r.stdout).to.match(/linear top-1: [\d.]+% \(weights .*sslight_swav_mnv2\.pth\.tar, /);
  });

  it('knn --weights: bad combinations and weights that do not fit exit 2', async () => {
    const weights = path.join(FIX, 'sslight_moco_mnv2.pth.tar');
    let r = await runCli(['knn', '--weights', weights, '--backbone', 'mobilenetv2']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/--weights needs --config FILE/);
    r = await runCli(['knn', '--config', config, '--weights', weights, '--random-init']);
    expect(r.code).to.equal(2);
    // the config's width-0.25 MobileNetV2 cannot take width-0.1 tensors; a ResNet has other names
    r = await runCli(['knn', '--config', config, '--weights', weights, '--backend', 'wasm']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/SSLight MoCo release .* do not fit the backbone: mis-shaped features\.7\.conv\.2\.weight \(file \[8, 48, 1, 1\] F32, backbone \[16, 48, 1, 1\] float\)/);
    r = await runCli(['knn', '--config', config, '--weights', weights, '--backbone', 'resnet18', '--backend', 'wasm']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/do not fit the backbone: missing conv1\.weight, bn1\.weight.*; unexpected features\.0\.0\.weight/);
  });

  it('info --backbones: parameters and MACs at 224 equal reference/backbones.json; crop sizes with --config', async function () {
    const ref = loadReference<{ backbones: Array<{ name: string; params: number; feature_dim: number; macs_224: number; macs_32: number }> }>('backbones');
    if (!ref) this.skip(); // ../shared/reference is absent
    const r = await runCli(['info', '--backbones', '--only', 'mobilenetv2', 'resnet18', '--config', config, '--backend', 'wasm']);
    expect(r.code, r.stderr).to.equal(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0].split(/\s{2,}/)).to.deep.equal(['backbone', 'params', 'dim', 'GMACs@224', 'GMACs@32', 'GMACs@16']);
    const rows = new Map(lines.slice(1).map((l) => [l.split(/\s{2,}/)[0], l.split(/\s{2,}/)]));
    for (const [ours, theirs] of [['mobilenetv2', 'mobilenet_v2'], ['resnet18', 'resnet18']]) {
      const want = ref!.backbones.find((b) => b.name === theirs)!;
      const row = rows.get(ours)!;
      expect(Number(row[1].replace(/,/g, '')), ours).to.equal(want.params);
      expect(Number(row[2])).to.equal(want.feature_dim);
      expect(Number(row[3])).to.be.closeTo(want.macs_224 / 1e9, 5e-5);
      expect(Number(row[4])).to.be.closeTo(want.macs_32 / 1e9, 5e-5);
    }
    expect(rows.get('mobilenetv2 (config)')![2]).to.equal('1280');
  });
});
