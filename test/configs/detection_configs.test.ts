import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import '../../src/run/builtins';
import { loadConfigFile } from '../../src/core/config';
import { Rng } from '../../src/core/rng';
import { resolveDetectionConfig, scaledSolver } from '../../detection/engine/config';
import { MaskRcnn } from '../../detection/modeling/meta_arch/mask_rcnn';

const DIR = path.join(__dirname, '../../../configs/detection');
const files = fs.readdirSync(DIR).filter((f) => /^mask_rcnn_fpn_.*\.yaml$/.test(f)).sort();

describe('configs/detection: every detection config resolves and builds', function () {
  this.timeout(60000);

  it('holds the 1x / 2x COCO configs and the coco-mini configs of both backbones', () => {
    for (const b of ['mobilenetv2', 'resnet18']) {
      for (const s of ['1x', '2x', 'coco_mini']) expect(files).to.include(`mask_rcnn_fpn_${b}_${s}.yaml`);
    }
  });

  for (const f of files) {
    it(f, () => {
      const config = resolveDetectionConfig(loadConfigFile(path.join(DIR, f)));
      if (f.includes('_2x')) {
        // Same detector as the 1x file (built there): only the schedule differs.
        const one = resolveDetectionConfig(loadConfigFile(path.join(DIR, f.replace('_2x', '_1x'))));
        expect(config.model).to.deep.equal(one.model);
      } else {
        const before = tf.memory().numTensors;
        const m = new MaskRcnn(config.model, new Rng(0));
        expect(m.namedParameters().length).to.be.greaterThan(50);
        m.dispose();
        expect(tf.memory().numTensors).to.equal(before);
      }
      const mnv2 = f.includes('mobilenetv2');
      expect(config.model.fpn.in_features).to.deep.equal(mnv2 ? ['c4', 'c5'] : ['c2', 'c3', 'c4', 'c5']);
      expect(config.model.roi_heads.in_features).to.deep.equal(mnv2 ? ['p4', 'p5'] : ['p2', 'p3', 'p4', 'p5']);
      expect(config.model.backbone.freeze_bn).to.equal(false);
      expect(config.model.roi_heads.num_classes).to.equal(80);
      expect(config.solver.momentum).to.equal(0.9);
      expect(config.solver.weight_decay).to.equal(1e-4);
      if (f.includes('coco_mini')) {
        expect(config.data.train.annotations).to.match(/coco-mini/);
        expect(config.trainer.batch_size).to.equal(2);
        return;
      }
      const two = f.includes('_2x');
      expect(config.solver.base_lr).to.equal(0.02);
      expect(config.trainer.batch_size).to.equal(16);
      expect(config.solver.max_iter).to.equal(two ? 180000 : 90000);
      expect(config.solver.steps).to.deep.equal(two ? [120000, 160000] : [60000, 80000]);
      expect(config.solver.warmup_iters).to.equal(1000);
      expect(config.solver.warmup_factor).to.equal(0.001);
      // The linear scaling rule at batch 2: lr / 8, iterations x 8.
      const s = scaledSolver(config.solver, 2);
      expect(s.lr).to.be.closeTo(0.0025, 1e-12);
      expect(s.maxIter).to.equal(two ? 1440000 : 720000);
      expect(s.warmupIters).to.equal(8000);
    });
  }

  it("the pre-trainings that the coco-mini detectors fine-tune (README) have their width; the paper's files have 1.0", () => {
    const width = (f: string) => resolveDetectionConfig(loadConfigFile(path.join(DIR, f))).model.backbone.options.width ?? 1.0;
    const fineTuned = {
      mobilenetv2: ['../coco_mini/dino_sslight_mobilenetv2.yaml', '../cifar10/dino_sslight_mobilenetv2_small.yaml', '../cifar10/mocov2_sslight_mobilenetv2_small.yaml'],
      resnet18: ['../cifar10/mocov2_sslight_resnet18.yaml'],
    };
    for (const [arch, pres] of Object.entries(fineTuned)) {
      expect(width(`mask_rcnn_fpn_${arch}_1x.yaml`), arch).to.equal(1.0);
      const mini = width(`mask_rcnn_fpn_${arch}_coco_mini.yaml`);
      for (const pre of pres) {
        const backbone = loadConfigFile(path.join(DIR, pre)).backbone as { name: string; width: number };
        expect(backbone.name, pre).to.equal(arch);
        expect(backbone.width, pre).to.equal(mini);
      }
    }
  });

  it('a bad key is a ConfigError naming it', () => {
    const doc = loadConfigFile(path.join(DIR, 'mask_rcnn_fpn_resnet18_coco_mini.yaml'));
    expect(() => resolveDetectionConfig({ ...doc, solver: { ...(doc.solver as object), base_lr: -1 } })).to.throw(/solver\.base_lr/);
    expect(() => resolveDetectionConfig({ ...doc, modle: {} })).to.throw(/modle/);
    expect(() => resolveDetectionConfig({ ...doc, solver: { steps: [5, 3] } })).to.throw(/solver\.steps/);
  });
});
