import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { parseSafetensors } from '../../src/nn/safetensors';
import { runCli } from '../helpers/run_cli';
import { writeFakeRun } from '../helpers/fake_run';
import { relativeError } from '../helpers/relative_error';

/**
 * `sslight export`: torchvision safetensors that torchvision itself loads (checked with Debian's
 * python3-torch when installed) and a tfjs LayersModel that tfjs-layers loads, both giving the
 * features `sslight embed` gives for the run's backbone.
 */
const FIX = path.join(__dirname, '../../../test/fixtures/weights');
const IMAGES = path.join(FIX, 'images.safetensors');
const PYTHON = ['/usr/bin/python3', 'python3'].find((p) => spawnSync(p, ['-c', 'import torch, torchvision'], { stdio: 'ignore' }).status === 0);

function features(file: string): Float32Array {
  return parseSafetensors(fs.readFileSync(file)).tensors.get('features')!.data as Float32Array;
}

/** Load model.json + weights with tfjs-layers (as a browser would) and run the fixture images. */
export async function tfjsFeatures(modelJson: string): Promise<Float32Array> {
  const mj = JSON.parse(fs.readFileSync(modelJson, 'utf8'));
  const bin = fs.readFileSync(path.join(path.dirname(modelJson), mj.weightsManifest[0].paths[0]));
  const model = await tfl.loadLayersModel(
    tf.io.fromMemory({ modelTopology: mj.modelTopology, weightSpecs: mj.weightsManifest[0].weights, weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.length) }),
  );
  const img = parseSafetensors(fs.readFileSync(IMAGES)).tensors.get('images')!;
  const y = tf.tidy(() => model.predict(tf.transpose(tf.tensor4d(img.data as Float32Array, img.shape as [number, number, number, number]), [0, 2, 3, 1])) as tf.Tensor);
  const out = y.dataSync() as Float32Array;
  y.dispose();
  model.dispose();
  return out;
}

const RUNS = [
  { what: 'MobileNetV2 0.35', backbone: { name: 'mobilenetv2', width: 0.35 }, arch: 'mobilenet_v2', pyArgs: ['0.35'], head: ['classifier.1.weight', 'classifier.1.bias'] },
  { what: 'ResNet-18', backbone: { name: 'resnet18' }, arch: 'resnet18', pyArgs: [], head: ['fc.weight', 'fc.bias'] },
];

describe('cli: sslight export (torchvision safetensors, tfjs LayersModel)', function () {
  this.timeout(120000);
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-export-'));
  });
  after(async () => {
    await tf.setBackend('cpu');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const c of RUNS) {
    describe(c.what, () => {
      let run: string;
      let ours: Float32Array;
      before(async () => {
        run = writeFakeRun(path.join(dir, c.arch), c.backbone);
        const emb = path.join(run, 'embed.safetensors');
        const set = Object.entries(c.backbone).filter(([k]) => k !== 'name').flatMap(([k, v]) => ['--set', `backbone.${k}=${v}`]);
        const r = await runCli(['embed', '--backbone', c.backbone.name, ...set, '--weights', run, '--input', IMAGES, '--output', emb, '--backend', 'wasm']);
        expect(r.code, r.stderr).to.equal(0);
        ours = features(emb);
      });

      it('torchvision: names and layouts (OIHW, BN stats, int64 num_batches_tracked)', async () => {
        const out = path.join(dir, `${c.arch}.safetensors`);
        const r = await runCli(['export', '--run', run, '--out', out, '--backend', 'wasm']);
        expect(r.code, r.stderr).to.equal(0);
        const t = parseSafetensors(fs.readFileSync(out));
        const stem = c.arch === 'resnet18' ? 'conv1.weight' : 'features.0.0.weight';
        expect(t.tensors.get(stem)!.shape).to.deep.equal(c.arch === 'resnet18' ? [64, 3, 7, 7] : [16, 3, 3, 3]);
        const nbt = c.arch === 'resnet18' ? 'layer1.0.bn1.num_batches_tracked' : 'features.1.conv.0.1.num_batches_tracked';
        expect(t.tensors.get(nbt)).to.deep.include({ dtype: 'I64', shape: [] });
        expect(t.tensors.has(c.arch === 'resnet18' ? 'layer4.1.bn2.running_var' : 'features.18.1.running_var')).to.equal(true);
        expect([...t.tensors.keys()].some((k) => k.startsWith('student.'))).to.equal(false);
        expect(t.metadata).to.include({ sslight_backbone: c.backbone.name });
      });

      it('torchvision: python3-torch loads it with only the classifier missing, same features', function () {
        if (!PYTHON) {
          process.stderr.write('      (skipped: python3 with torch and torchvision is not installed; apt-get install python3-torchvision)\n');
          this.skip();
        }
        const out = path.join(dir, `${c.arch}.safetensors`);
        const res = spawnSync(PYTHON!, [path.join(FIX, 'torchvision_check.py'), c.arch, out, IMAGES, ...c.pyArgs], { encoding: 'utf8', maxBuffer: 1 << 26 });
        expect(res.status, res.stderr).to.equal(0);
        const py = JSON.parse(res.stdout) as { missing: string[]; unexpected: string[]; features: number[][] };
        expect(py.missing).to.deep.equal(c.head);
        expect(py.unexpected).to.deep.equal([]);
        const err = relativeError(ours, Float32Array.from(py.features.flat()));
        expect(err, `relative error ${err}`).to.be.below(1e-4);
      });

      it('tfjs: a LayersModel with BN folded that tfjs-layers runs to the same features', async () => {
        const out = path.join(dir, `${c.arch}_tfjs`);
        const r = await runCli(['export', '--run', run, '--out', out, '--format', 'tfjs', '--backend', 'wasm']);
        expect(r.code, r.stderr).to.equal(0);
        const mj = JSON.parse(fs.readFileSync(path.join(out, 'model.json'), 'utf8'));
        expect(mj.format).to.equal('layers-model');
        const classes = new Set((mj.modelTopology.config.layers as Array<{ class_name: string }>).map((l) => l.class_name));
        expect(classes.has('BatchNormalization')).to.equal(false);
        expect(fs.existsSync(path.join(out, 'model.weights.bin'))).to.equal(true);
        const before = tf.memory().numTensors;
        const err = relativeError(await tfjsFeatures(path.join(out, 'model.json')), ours);
        expect(err, `relative error ${err}`).to.be.below(1e-4);
        expect(tf.memory().numTensors).to.equal(before);
      });
    });
  }

  it('refuses what it cannot export, with exit code 2', async () => {
    const vit = writeFakeRun(path.join(dir, 'vit'), { name: 'vit_tiny', patch_size: 16, img_size: 32 });
    let r = await runCli(['export', '--run', vit, '--out', path.join(dir, 'vit_tfjs'), '--format', 'tfjs', '--backend', 'wasm']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/tfjs export supports MobileNetV2 and the ResNets, not 'vit_tiny'/);
    r = await runCli(['export', '--out', path.join(dir, 'x.safetensors')]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/give one of --run DIR or --checkpoint DIR/);
    r = await runCli(['export', '--checkpoint', path.join(dir, 'nothing'), '--out', path.join(dir, 'x.safetensors')]);
    expect(r.code).to.equal(2);
  });
});
