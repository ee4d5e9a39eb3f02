import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import YAML from 'yaml';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../../src/core/backend';
import { BatchNormBase } from '../../../src/nn/batchnorm';
import { resolveDetectionConfig } from '../../../detection/engine/config';
import { preciseBnDetector } from '../../../detection/engine/precise_bn';
import { MaskRcnn } from '../../../detection/modeling/meta_arch/mask_rcnn';
import { Rng } from '../../../src/core/rng';
import '../../../plugins/backbones';
import { shapesConfig } from './shapes_config';

/** Detectron2's PreciseBN before evaluation (trainer.precise_bn / detect eval --precise-bn). */
describe('detection/engine: precise BN of the detector backbone', function () {
  this.timeout(120000);
  let dir: string;
  let backendBefore: string;
  before(async () => {
    backendBefore = tf.getBackend();
    await selectBackend('wasm');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-pbn-'));
  });
  after(async () => {
    fs.rmSync(dir, { recursive: true, force: true });
    await tf.setBackend(backendBefore);
  });

  async function setup(extra: Record<string, unknown> = {}) {
    const { file } = await shapesConfig(dir, { maxIter: 1, steps: [], lr: 0.01, numImages: 6, batchSize: 2 });
    const doc = YAML.parse(fs.readFileSync(file, 'utf8')) as Record<string, any>;
    doc.model = { ...doc.model, backbone: { ...doc.model.backbone, ...extra } };
    delete doc.callbacks; // not used here
    const config = resolveDetectionConfig(doc);
    const model = new MaskRcnn(config.model, new Rng(1));
    const bns = model.backbone.modules().filter((m): m is BatchNormBase => m instanceof BatchNormBase);
    return { config, model, bns };
  }
  const stats = (bns: BatchNormBase[]) => bns.map((b) => [Array.from(b.runningMean.dataSync()), Array.from(b.runningVar.dataSync())]);

  it('replaces the running statistics by an average over training batches, deterministically, touching nothing else', async () => {
    const { config, model, bns } = await setup();
    expect(bns.length).to.be.greaterThan(10);
    const params0 = model.namedParameters().map((p) => Array.from(p.variable.dataSync()));
    const init = stats(bns);
    model.eval();
    const before = tf.memory().numTensors;
    const r = await preciseBnDetector(model, config, 4);
    expect(tf.memory().numTensors, 'tensors leaked').to.equal(before);
    expect(r).to.deep.equal({ layers: bns.length, images: 4 });
    expect(model.training, 'mode restored').to.equal(false);
    expect(bns.every((b) => b.momentum === 0.1), 'momenta restored').to.equal(true);
    const once = stats(bns);
    // The untrained buffers are the identity (mean 0, var 1); the first BN now holds image statistics.
    expect(init[0][0].every((v) => v === 0)).to.equal(true);
    expect(once[0][0].some((v) => Math.abs(v) > 1e-3)).to.equal(true);
    expect(once[0][1].every((v) => v > 0 && Number.isFinite(v))).to.equal(true);
    expect(model.namedParameters().map((p) => Array.from(p.variable.dataSync()))).to.deep.equal(params0);
    // Same seed, same batches, same numbers.
    await preciseBnDetector(model, config, 4);
    expect(stats(bns)).to.deep.equal(once);
    // More images: another average.
    await preciseBnDetector(model, config, 6);
    expect(stats(bns)[0][0]).to.not.deep.equal(once[0][0]);
    model.dispose();
  });

  it('does nothing at 0 images or with frozen backbone BN', async () => {
    for (const [extra, n] of [[{}, 0], [{ freeze_bn: true }, 4]] as const) {
      const { config, model, bns } = await setup(extra);
      const init = stats(bns);
      expect(await preciseBnDetector(model, config, n)).to.deep.equal({ layers: 0, images: 0 });
      expect(stats(bns)).to.deep.equal(init);
      model.dispose();
    }
  });
});
