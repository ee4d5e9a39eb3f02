import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import '../../../src/run/builtins';
import { resolveConfig } from '../../../src/core/config';
import { Rng } from '../../../src/core/rng';
import { ConfigError } from '../../../src/core/errors';
import { registry } from '../../../src/core/registry';
import type { Module } from '../../../src/nn/module';
import { moduleStateDict } from '../../../src/nn/state_dict';
import { encodeSafetensors } from '../../../src/nn/safetensors';
import { buildRunContainer, createTrainer } from '../../../src/run/compose';
import { Tokens } from '../../../src/core/tokens';
import type { SSLMethod } from '../../../src/core/interfaces';
import { resolveDetectionConfig } from '../../../detection/engine/config';
import { MaskRcnn } from '../../../detection/modeling/meta_arch/mask_rcnn';
import { loadBackboneWeights, resolveWeightsSource } from '../../../detection/engine/weights';
import { execFileSync } from 'child_process';
import { repoRoot } from '../../helpers/reference';
import { shapesConfig } from './shapes_config';

const SSL = {
  data: { name: 'generated', num_images: 64, image_size: 32 },
  views: { name: 'sslight', global_crop_size: 32, local_crop_size: 16, n_local: 2 },
  method: { name: 'dino', out_dim: 64, hidden_dim: 64, bottleneck_dim: 32 },
  backbone: { name: 'mobilenetv2', width: 0.35 },
  optimizer: { name: 'adamw', lr: 0.001, warmup_epochs: 0 },
  trainer: { epochs: 1, batch_size: 8 },
  callbacks: {},
};

function detector(backbone: Record<string, unknown>): MaskRcnn {
  return new MaskRcnn(
    { backbone, fpn: { in_features: ['c4', 'c5'], out_channels: 8 }, rpn: { in_features: ['p4', 'p5', 'p6'] }, anchors: { sizes: [[32], [64], [128]] }, roi_heads: { num_classes: 2, in_features: ['p4', 'p5'], box_head: { fc_dim: 8 }, mask_head: { conv_dim: 4, num_conv: 1 } } },
    new Rng(5),
  );
}

function sameTensors(a: Map<string, { tensor: tf.Tensor }>, b: Map<string, { tensor: tf.Tensor }>): boolean {
  for (const [k, { tensor }] of a) {
    const o = b.get(k)!.tensor;
    const x = tensor.dataSync();
    const y = o.dataSync();
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  }
  return true;
}

describe('detection --weights: pre-training run / checkpoint, backbone file, none', function () {
  this.timeout(60000);
  let dir: string;
  let runDir: string;
  let student: Map<string, { tensor: tf.Tensor }>;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-detect-weights-'));
    runDir = path.join(dir, 'pretrain');
    const config = resolveConfig(SSL);
    const c = buildRunContainer(config, { runDir, backendName: tf.getBackend() });
    const trainer = createTrainer(c);
    await trainer.saveCheckpoint('test');
    const method = c.resolve<SSLMethod>(Tokens.Method);
    const ev = method.evaluableBackbone();
    expect(ev.prefix).to.equal('student.backbone.');
    student = new Map([...ev.module.stateTensors()].map(([k, v]) => [k, { tensor: v.tensor.clone() }]));
  });
  after(() => {
    for (const { tensor } of student?.values() ?? []) tensor.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a pre-training run: the method evaluable backbone (DINO student) goes into backbone.body', () => {
    const src = resolveWeightsSource(runDir);
    expect(src).to.include({ kind: 'pretrain', prefix: 'student.backbone.', backbone: 'mobilenetv2' });
    const m = detector({ name: 'mobilenetv2', options: { width: 0.35 } });
    expect(sameTensors(student, m.backbone.body.stateTensors())).to.equal(false);
    const line = loadBackboneWeights(m.backbone.body, 'mobilenetv2', src);
    expect(line).to.match(/loaded \d+ tensors/);
    expect(sameTensors(student, m.backbone.body.stateTensors())).to.equal(true);
    m.dispose();
  });

  it('`sslight detect train --weights RUN` in a fresh process (no backend chosen yet) loads the student backbone', async () => {
    const cfg = await shapesConfig(path.join(dir, 'cli'), { maxIter: 1, steps: [], lr: 0.01, numImages: 2, batchSize: 2 });
    execFileSync(
      process.execPath,
      [path.join(repoRoot, 'bin', 'sslight.js'), 'detect', 'train', '--config', cfg.file, '--weights', runDir, '--out', path.join(dir, 'cli', 'run'), '--set', 'data.val=null', '--quiet'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const events = fs.readFileSync(path.join(dir, 'cli', 'run', 'events.jsonl'), 'utf8');
    expect(events).to.match(/backbone from --weights .*prefix 'student\.backbone\.', loaded \d+ tensors/);
  });

  it('a torchvision-named backbone file; none; a backbone of another architecture is refused', () => {
    const file = path.join(dir, 'mnv2.safetensors');
    const m0 = detector({ name: 'mobilenetv2', options: { width: 0.35 } });
    fs.writeFileSync(file, encodeSafetensors(moduleStateDict(m0.backbone.body)));
    const m = detector({ name: 'mobilenetv2', options: { width: 0.35 } });
    const src = resolveWeightsSource(file);
    expect(src.kind).to.equal('file');
    loadBackboneWeights(m.backbone.body, 'mobilenetv2', src);
    expect(sameTensors(m0.backbone.body.stateTensors(), m.backbone.body.stateTensors())).to.equal(true);
    expect(resolveWeightsSource('none').kind).to.equal('none');
    expect(loadBackboneWeights(m.backbone.body, 'mobilenetv2', resolveWeightsSource(undefined))).to.equal(null);
    const r = detector({ name: 'resnet18' });
    expect(() => loadBackboneWeights(r.backbone.body, 'resnet18', resolveWeightsSource(runDir))).to.throw(ConfigError, /pre-trained a 'mobilenetv2' backbone/);
    expect(() => resolveWeightsSource(path.join(dir, 'missing'))).to.throw(ConfigError, /--weights/);
    for (const x of [m0, m, r]) x.dispose();
  });

  it('weights_strict false (--strict false): a CIFAR-stem ResNet loads all but its stem, and says so', () => {
    // The CIFAR recipes' ResNets (small_input) have a 3x3 conv1; the detector's is 7x7.
    const file = path.join(dir, 'r18_cifar.safetensors');
    const cifar = registry.get('backbone', 'resnet18').create({ width: 0.125, small_input: true }, { rng: new Rng(3) }) as unknown as Module;
    fs.writeFileSync(file, encodeSafetensors(moduleStateDict(cifar)));
    const m = detector({ name: 'resnet18', options: { width: 0.125 } });
    const src = resolveWeightsSource(file);
    expect(() => loadBackboneWeights(m.backbone.body, 'resnet18', src)).to.throw(ConfigError, /mis-shaped conv1\.weight .*--strict false/);
    const line = loadBackboneWeights(m.backbone.body, 'resnet18', src, false) as string;
    expect(line).to.match(/loaded 119 tensors; skipped: mis-shaped conv1\.weight \(file \[8, 3, 3, 3\] F32, backbone \[8, 3, 7, 7\] float\)$/);
    const mine = m.backbone.body.stateTensors();
    const theirs = cifar.stateTensors();
    expect(moduleStateDict(m.backbone.body).get('conv1.weight')!.shape).to.deep.equal([8, 3, 7, 7]);
    for (const k of ['bn1.weight', 'layer1.0.conv1.weight', 'layer4.1.bn2.running_var']) {
      expect(Array.from(mine.get(k)!.tensor.dataSync())).to.deep.equal(Array.from(theirs.get(k)!.tensor.dataSync()), k);
    }
    for (const x of [cifar, m]) x.dispose();
  });

  it('weights_strict: a boolean, true unless set; anything else names the key', () => {
    const base = { data: { train: { annotations: 'a.json', images: 'im' } } };
    expect(resolveDetectionConfig(base).weightsStrict).to.equal(true);
    expect(resolveDetectionConfig({ ...base, weights_strict: false }).weightsStrict).to.equal(false);
    expect(() => resolveDetectionConfig({ ...base, weights_strict: 'no' })).to.throw(ConfigError, /weights_strict/);
  });
});
