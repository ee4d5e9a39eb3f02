import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { parseSafetensors } from '../../src/nn/safetensors';
import { runCli } from '../helpers/run_cli';
import { relativeError } from '../helpers/relative_error';

/**
 * `sslight embed` against features computed once by torch 1.13 / torchvision 0.14
 * (test/fixtures/weights/make_fixtures.py): the same weights give the same pooled features.
 */
const FIX = path.join(__dirname, '../../../test/fixtures/weights');
const IMAGES = path.join(FIX, 'images.safetensors');

function features(file: string): { shape: number[]; data: Float32Array } {
  const t = parseSafetensors(fs.readFileSync(file)).tensors.get('features')!;
  return { shape: t.shape, data: t.data as Float32Array };
}

const CASES: Array<{ what: string; backbone: string; set: string[]; weights: string; ref: string; layout: RegExp }> = [
  { what: 'torchvision MobileNetV2 0.35 (.pth)', backbone: 'mobilenetv2', set: ['backbone.width=0.35'], weights: 'mnv2_035.pth', ref: 'mnv2_035_features', layout: /state dict, loaded 312 tensors, left out 2/ },
  { what: 'torchvision ResNet-18, float16 storages (.pth)', backbone: 'resnet18', set: [], weights: 'resnet18_f16.pth', ref: 'resnet18_features', layout: /state dict, loaded 120 tensors/ },
  { what: 'SSLight DINO release: the student', backbone: 'mobilenetv2', set: ['backbone.width=0.1'], weights: 'sslight_dino_mnv2.pth.tar', ref: 'sslight_dino_features', layout: /SSLight DINO release/ },
  { what: 'SSLight SwAV release', backbone: 'mobilenetv2', set: ['backbone.width=0.1'], weights: 'sslight_swav_mnv2.pth.tar', ref: 'sslight_swav_features', layout: /SSLight SwAV release/ },
  { what: 'SSLight MoCo release: encoder_q', backbone: 'mobilenetv2', set: ['backbone.width=0.1'], weights: 'sslight_moco_mnv2.pth.tar', ref: 'sslight_moco_features', layout: /SSLight MoCo release/ },
];

describe('cli: sslight embed (features equal PyTorch\'s)', function () {
  this.timeout(60000);
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-embed-'));
  });
  after(async () => {
    await tf.setBackend('cpu');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const c of CASES) {
    it(`${c.what}: to 1e-4 relative`, async () => {
      const out = path.join(dir, `${c.ref}.safetensors`);
      const before = tf.memory().numTensors;
      const args = ['embed', '--backbone', c.backbone, ...c.set.flatMap((s) => ['--set', s]), '--weights', path.join(FIX, c.weights), '--input', IMAGES, '--output', out, '--batch-size', '1', '--backend', 'wasm'];
      const r = await runCli(args);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stderr).to.match(c.layout);
      expect(tf.memory().numTensors, 'tensors left after embed').to.equal(before);
      const ours = features(out);
      const ref = features(path.join(FIX, `${c.ref}.safetensors`));
      expect(ours.shape).to.deep.equal(ref.shape);
      const err = relativeError(ours.data, ref.data);
      expect(err, `relative error ${err}`).to.be.below(1e-4);
    });
  }

  it('bad input exits 2 with the reason', async () => {
    const out = path.join(dir, 'x.safetensors');
    const base = ['embed', '--backbone', 'mobilenetv2', '--weights', path.join(FIX, 'mnv2_035.pth'), '--output', out, '--backend', 'wasm'];
    let r = await runCli([...base, '--input', path.join(dir, 'none.safetensors')]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/--input .*none\.safetensors: no such file/);
    // width 1.0 backbone, width 0.35 weights: every conv is listed as mis-shaped
    r = await runCli([...base, '--input', IMAGES]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/do not fit the backbone: mis-shaped features\.0\.0\.weight \(file \[16, 3, 3, 3\] F32, backbone \[32, 3, 3, 3\] float\)/);
    r = await runCli([...base, '--input', IMAGES, '--set', 'method.alpha=1']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/only backbone\.<option>=value can be set here/);
    r = await runCli(['embed', '--backbone', 'mobilenetv2', '--weights', path.join(FIX, 'evil.pth'), '--input', IMAGES, '--output', out, '--strict', 'false']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/no tensor fits the backbone/);
    expect(fs.existsSync(out)).to.equal(false);
  });
});
