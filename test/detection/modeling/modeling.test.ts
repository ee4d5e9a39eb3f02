import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { expect } from 'chai';
import '../../../plugins/backbones';
import { Rng } from '../../../src/core/rng';
import { ConfigError } from '../../../src/core/errors';
import { BatchNorm2d } from '../../../src/nn/batchnorm';
import { registerWasmTrainingKernels } from '../../../src/kernels/wasm';
import { MaskRcnn } from '../../../detection/modeling/meta_arch/mask_rcnn';
import { parseMaskRcnnConfig } from '../../../detection/modeling/config';
import { maskRcnnStateDict } from '../../../detection/modeling/state_dict';
import { rpnLosses } from '../../../detection/modeling/rpn/losses';
import { fastRcnnLosses } from '../../../detection/modeling/roi_heads/losses';
import { smoothL1Sum } from '../../../detection/modeling/losses';
import { BoxCoder } from '../../../detection/ops/box_coder';
import { Matcher } from '../../../detection/ops/matcher';
import type { DetectionTarget } from '../../../detection/data/types';
import { registerDetectionPart, type BoxHeadPart } from '../../../detection/modeling/registry';
import { Module } from '../../../src/nn/module';
import { Linear } from '../../../src/nn/linear';
import { z } from 'zod';

/** The paper's MobileNetV2 layout (FPN on C4, C5 -> P4, P5, P6; 3 sizes x 3 ratios), shrunk. */
function mobileNetConfig(extra: Record<string, unknown> = {}, roiHeads: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    backbone: { name: 'mobilenetv2', options: { width: 0.35 } },
    fpn: { in_features: ['c4', 'c5'], out_channels: 16 },
    anchors: { sizes: [[32, 64, 128], [64, 128, 256], [128, 256, 512]] },
    rpn: { in_features: ['p4', 'p5', 'p6'], pre_nms_topk_train: 200, post_nms_topk_train: 50, pre_nms_topk_test: 100, post_nms_topk_test: 30, batch_size_per_image: 64 },
    roi_heads: {
      num_classes: 2,
      in_features: ['p4', 'p5'],
      batch_size_per_image: 32,
      box_head: { fc_dim: 32 },
      mask: { pooler: { resolution: 7 } },
      mask_head: { conv_dim: 8, num_conv: 2 },
      ...roiHeads,
    },
    ...extra,
  };
}

function square(): { images: tf.Tensor4D; targets: DetectionTarget[]; sizes: Array<[number, number]> } {
  const h = 64;
  const w = 64;
  const data = new Float32Array(h * w * 3).fill(-1);
  for (let y = 16; y < 48; y++) for (let x = 8; x < 40; x++) for (let c = 0; c < 3; c++) data[(y * w + x) * 3 + c] = 1;
  return {
    images: tf.tensor4d(data, [1, h, w, 3]),
    targets: [{ boxes: Float32Array.from([8, 16, 40, 48]), classes: Int32Array.from([1]), masks: [{ polygons: [[8, 16, 40, 16, 40, 48, 8, 48]] }] }],
    sizes: [[h, w]],
  };
}

describe('detection/modeling', function () {
  this.timeout(60000);

  describe('config', () => {
    it("defaults are Detectron2's Base-RCNN-FPN values", () => {
      const c = parseMaskRcnnConfig({});
      expect(c.fpn).to.deep.equal({ in_features: ['c2', 'c3', 'c4', 'c5'], out_channels: 256, top_block: 'maxpool' });
      expect(c.anchors.sizes).to.deep.equal([[32], [64], [128], [256], [512]]);
      expect(c.rpn).to.include({ batch_size_per_image: 256, positive_fraction: 0.5, pre_nms_topk_train: 2000, pre_nms_topk_test: 1000, post_nms_topk_train: 1000, post_nms_topk_test: 1000, nms_thresh: 0.7, loss: 'detectron2' });
      expect(c.rpn.iou_thresholds).to.deep.equal([0.3, 0.7]);
      expect(c.roi_heads).to.include({ batch_size_per_image: 512, positive_fraction: 0.25, iou_threshold: 0.5, score_thresh_test: 0.05, nms_thresh_test: 0.5, detections_per_image: 100 });
      expect(c.roi_heads.bbox_reg_weights).to.deep.equal([10, 10, 5, 5]);
      expect(c.roi_heads.box_pooler).to.deep.equal({ resolution: 7, sampling_ratio: 0, aligned: true, canonical_scale: 224, canonical_level: 4 });
      expect(c.roi_heads.mask.pooler.resolution).to.equal(14);
      expect(c.roi_heads.box_head).to.deep.equal({ name: 'fc' });
      expect(c.roi_heads.mask_head).to.deep.equal({ name: 'conv' });
      // the built-in parts' defaults, filled in when the detector is built
      const m = new MaskRcnn({ backbone: { name: 'mobilenetv2', options: { width: 0.35 } }, fpn: { in_features: ['c4', 'c5'], out_channels: 8 }, anchors: { sizes: [[32], [64], [128]] }, rpn: { in_features: ['p4', 'p5', 'p6'] }, roi_heads: { num_classes: 1, in_features: ['p4', 'p5'] } }, new Rng(0));
      expect(m.roiHeads.boxHead.outDim).to.equal(1024);
      expect(m.roiHeads.maskHead!.outChannels).to.equal(256);
      expect(m.roiHeads.maskHead!.namedParameters().length).to.equal(8);
      m.dispose();
      expect(c.backbone.freeze_bn).to.equal(false);
    });

    it('bad values and unknown keys are ConfigErrors naming the key', () => {
      expect(() => parseMaskRcnnConfig({ roi_heads: { detections_per_image: -1 } })).to.throw(ConfigError, /model\.roi_heads\.detections_per_image/);
      expect(() => new MaskRcnn(mobileNetConfig({}, { box_head: { fc_dim: -1 } }), new Rng(0))).to.throw(ConfigError, /model\.roi_heads\.box_head\.fc_dim/);
      expect(() => new MaskRcnn(mobileNetConfig({}, { mask_head: { name: 'nope' } }), new Rng(0))).to.throw(ConfigError, /model\.roi_heads\.mask_head\.name.*conv/);
      expect(() => parseMaskRcnnConfig({ rpn: { nms_tresh: 0.5 } })).to.throw(ConfigError, /model\.rpn/);
      expect(() => new MaskRcnn({ backbone: { name: 'vit_tiny' } }, new Rng(0))).to.throw(/featureMaps|vit_tiny/);
      expect(() => new MaskRcnn({ backbone: { name: 'resnet18', options: { depthh: 3 } } }, new Rng(0))).to.throw(ConfigError, /model\.backbone\.options/);
      expect(() => new MaskRcnn(mobileNetConfig({ fpn: { in_features: ['c4', 'c6'] } }), new Rng(0))).to.throw(ConfigError, /model\.fpn\.in_features.*c6/);
      expect(() => new MaskRcnn(mobileNetConfig({ anchors: { sizes: [[32], [64]] } }), new Rng(0))).to.throw(ConfigError, /model\.anchors\.sizes/);
    });
  });

  it('a registered box head replaces the built-in one by config', () => {
    class MeanHead extends Module implements BoxHeadPart {
      readonly proj: Linear;
      constructor(channels: number, readonly outDim: number, rng: Rng) {
        super();
        this.proj = this.addModule('proj', new Linear(channels, outDim, rng));
      }
      forward(pooled: tf.Tensor4D): tf.Tensor2D {
        return tf.tidy(() => tf.relu(this.proj.forward(tf.mean(pooled, [1, 2]) as tf.Tensor2D)));
      }
    }
    registerDetectionPart({
      kind: 'box_head',
      name: 'test_mean',
      schema: z.object({ dim: z.number().int().positive().default(12) }).strict(),
      create: (o, { rng, channels }) => new MeanHead(channels, o.dim, rng),
    });
    const m = new MaskRcnn(mobileNetConfig({}, { box_head: { name: 'test_mean', dim: 5 } }), new Rng(0));
    const keys = [...maskRcnnStateDict(m).keys()];
    expect(keys).to.include('roi_heads.box_head.proj.weight');
    expect(maskRcnnStateDict(m).get('roi_heads.box_predictor.cls_score.weight')!.shape).to.deep.equal([3, 5]);
    m.eval();
    const { images, sizes } = square();
    expect(m.inference(images, sizes)).to.have.length(1);
    images.dispose();
    m.dispose();
  });

  describe("the paper's MobileNetV2 layout", () => {
    it('P4, P5, P6 from C4, C5; 9 anchors per location; RoI heads on P4, P5; torchvision-style names', () => {
      const before = tf.memory().numTensors;
      const m = new MaskRcnn(mobileNetConfig(), new Rng(0));
      expect(m.backbone.outputInfo().map((l) => [l.name, l.stride])).to.deep.equal([['p4', 16], ['p5', 32], ['p6', 64]]);
      expect(m.rpn.head.numAnchors).to.equal(9);
      const keys = [...maskRcnnStateDict(m).keys()];
      for (const k of ['backbone.body.features.0.0.weight', 'backbone.fpn.inner_blocks.1.weight', 'backbone.fpn.layer_blocks.0.bias', 'rpn.head.conv.weight',
        'rpn.head.cls_logits.weight', 'roi_heads.box_head.fc7.weight', 'roi_heads.box_predictor.bbox_pred.weight', 'roi_heads.mask_head.mask_fcn2.weight',
        'roi_heads.mask_predictor.conv5_mask.weight', 'roi_heads.mask_predictor.mask_fcn_logits.bias']) {
        expect(keys, k).to.include(k);
      }
      expect(keys).not.to.include('roi_heads.mask_head.mask_fcn3.weight');
      m.eval();
      const { images, sizes } = square();
      const dets = m.inference(images, sizes);
      expect(dets).to.have.length(1);
      const d = dets[0];
      expect(d.maskSize).to.equal(14);
      expect(d.maskProbs.length).to.equal(d.scores.length * 14 * 14);
      expect(d.boxes.length).to.equal(4 * d.scores.length);
      for (let i = 1; i < d.scores.length; i++) expect(d.scores[i]).to.be.at.most(d.scores[i - 1]);
      images.dispose();
      m.dispose();
      expect(tf.memory().numTensors).to.equal(before);
    });

    it("Detectron2's initialisation", () => {
      const m = new MaskRcnn(mobileNetConfig(), new Rng(3));
      const sd = maskRcnnStateDict(m);
      const stats = (k: string) => {
        const d = sd.get(k)!.data as Float32Array;
        let s = 0;
        let ss = 0;
        let mx = 0;
        for (const v of d) {
          s += v;
          ss += v * v;
          mx = Math.max(mx, Math.abs(v));
        }
        return { mean: s / d.length, std: Math.sqrt(ss / d.length), max: mx };
      };
      expect(stats('rpn.head.conv.weight').std).to.be.closeTo(0.01, 0.001);
      expect(stats('roi_heads.box_predictor.cls_score.weight').std).to.be.closeTo(0.01, 0.002);
      expect(stats('roi_heads.box_predictor.bbox_pred.weight').std).to.be.closeTo(0.001, 0.0002);
      expect(stats('roi_heads.mask_predictor.mask_fcn_logits.weight').std).to.be.closeTo(0.001, 0.0003);
      // c2_xavier_fill: U(+-sqrt(3 / fan_in)); c2_msra_fill: N(0, 2 / fan_out)
      const inner = sd.get('backbone.fpn.inner_blocks.0.weight')!;
      expect(stats('backbone.fpn.inner_blocks.0.weight').max).to.be.at.most(Math.sqrt(3 / inner.shape[1]));
      expect(stats('backbone.fpn.inner_blocks.0.weight').std).to.be.closeTo(Math.sqrt(1 / inner.shape[1]), 0.1 * Math.sqrt(1 / inner.shape[1]));
      expect(stats('roi_heads.mask_head.mask_fcn1.weight').std).to.be.closeTo(Math.sqrt(2 / (8 * 9)), 0.02);
      for (const k of ['backbone.fpn.inner_blocks.0.bias', 'rpn.head.conv.bias', 'roi_heads.box_head.fc6.bias', 'roi_heads.mask_head.mask_fcn1.bias', 'roi_heads.mask_predictor.conv5_mask.bias']) {
        expect(stats(k).max, k).to.equal(0);
      }
      m.dispose();
    });
  });

  describe('losses', () => {
    it("RPN: Detectron2's BCE and L1 sums / (256 x images) versus torchvision's means", () => {
      // one image, a 1x1 map with 2 anchors: one matches the gt exactly (positive), one misses it
      const anchors = [Float32Array.from([0, 0, 10, 10, 20, 20, 30, 30])];
      const gt = [Float32Array.from([0, 0, 10, 10])];
      const logits = [tf.tensor4d([0.5, -1], [1, 1, 1, 2])];
      const deltas = [tf.tensor4d([0.1, -0.2, 0.3, 0, 9, 9, 9, 9], [1, 1, 1, 8])];
      const base = { matcher: new Matcher([0.3, 0.7], [0, -1, 1], true), coder: new BoxCoder([1, 1, 1, 1]), batchSizePerImage: 256, positiveFraction: 0.5, rng: new Rng(0) };
      const bce = Math.log1p(Math.exp(-0.5)) + Math.log1p(Math.exp(-1));
      const d2 = rpnLosses(logits, deltas, anchors, gt, { ...base, variant: 'detectron2' });
      expect(d2.loss_rpn_cls.dataSync()[0]).to.be.closeTo(bce / 256, 1e-7);
      expect(d2.loss_rpn_loc.dataSync()[0]).to.be.closeTo(0.6 / 256, 1e-7);
      const tv = rpnLosses(logits, deltas, anchors, gt, { ...base, variant: 'torchvision' });
      expect(tv.loss_rpn_cls.dataSync()[0]).to.be.closeTo(bce / 2, 1e-6);
      // smooth-L1 beta 1/9: 0.5 d^2 / beta below beta, else |d| - beta / 2
      const sl1 = 0.5 * 0.01 * 9 + (0.2 - 1 / 18) + (0.3 - 1 / 18);
      expect(tv.loss_rpn_loc.dataSync()[0]).to.be.closeTo(sl1 / 2, 1e-6);
      tf.dispose([logits, deltas, d2.loss_rpn_cls, d2.loss_rpn_loc, tv.loss_rpn_cls, tv.loss_rpn_loc]);
    });

    it('smooth-L1 (beta 1/9): values and gradient on both branches, on the tape of every backend', async () => {
      const before = tf.getBackend();
      for (const backend of ['cpu', 'wasm']) {
        registerWasmTrainingKernels();
        await tf.setBackend(backend);
        const beta = 1 / 9;
        const x = [0.05, -0.05, 0.5, -2, 0];
        const { value, grads } = tf.tidy(() => {
          const v = tf.variable(tf.tensor1d(x), true, `sl1_${backend}`);
          const r = tf.variableGrads(() => smoothL1Sum(v, tf.zeros([5]), beta), [v]);
          const out = { value: r.value.dataSync()[0], grads: Array.from(r.grads[v.name].dataSync()) };
          v.dispose();
          return out;
        });
        const want = x.reduce((s, d) => s + (Math.abs(d) < beta ? (0.5 * d * d) / beta : Math.abs(d) - 0.5 * beta), 0);
        expect(value, backend).to.be.closeTo(want, 1e-6);
        const wantGrad = x.map((d) => (Math.abs(d) < beta ? d / beta : Math.sign(d)));
        grads.forEach((g, i) => expect(g, `${backend} d/dx[${i}]`).to.be.closeTo(wantGrad[i], 1e-5));
      }
      await tf.setBackend(before);
    });

    it('Fast R-CNN: CE over all RoIs, box loss on the gt class deltas of foreground RoIs / all RoIs', () => {
      const logits = tf.tensor2d([[0, 1, 2], [1, 0, 0]]);
      const deltas = tf.tensor2d([[9, 9, 9, 9, 9, 9, 9, 9, 0.5, 0, 0, -0.5], [9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9]]);
      const l = fastRcnnLosses(logits, deltas, Int32Array.from([2, 0]), Int32Array.from([0]), Float32Array.from([0, 0, 0, 0]), 'detectron2');
      const ce = (-Math.log(Math.exp(2) / (1 + Math.E + Math.exp(2))) - Math.log(Math.E / (Math.E + 2))) / 2;
      expect(l.loss_cls.dataSync()[0]).to.be.closeTo(ce, 1e-6);
      expect(l.loss_box_reg.dataSync()[0]).to.be.closeTo(1 / 2, 1e-6);
      tf.dispose([logits, deltas, l.loss_cls, l.loss_box_reg]);
    });
  });

  describe('training (wasm)', () => {
    before(async () => {
      registerWasmTrainingKernels();
      await tf.setBackend('wasm');
    });
    after(async () => {
      await tf.setBackend('cpu');
    });

    it("torchvision's losses (smooth-L1 beta 1/9) train: finite gradients reach the RPN and box deltas", () => {
      // smooth-L1 was once tf.where(tf.less(...)): Less has no gradient, so training failed
      const m = new MaskRcnn(mobileNetConfig({ rpn: { ...(mobileNetConfig().rpn as object), loss: 'torchvision' } }, { loss: 'torchvision' }), new Rng(1), new Rng(2));
      m.train();
      const { images, targets, sizes } = square();
      const before = tf.memory().numTensors;
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => tf.addN(Object.values(m.forwardTrain(images, sizes, targets)) as tf.Scalar[]) as tf.Scalar);
        expect(Number.isFinite(value.dataSync()[0])).to.equal(true);
        for (const name of ['rpn.head.bbox_pred.weight', 'roi_heads.box_predictor.bbox_pred.weight']) {
          const p = m.namedParameters().find((q) => q.name === name);
          expect(p, name).to.not.equal(undefined);
          const g = grads[p!.variable.name].dataSync();
          expect(g.every(Number.isFinite), name).to.equal(true);
          expect(g.some((v) => v !== 0), `${name} gets a non-zero gradient`).to.equal(true);
        }
      });
      expect(tf.memory().numTensors).to.equal(before);
      images.dispose();
      m.dispose();
    });

    it('gradients reach every trainable parameter; a few SGD steps lower the loss; no leaks', () => {
      const m = new MaskRcnn(mobileNetConfig(), new Rng(1), new Rng(2));
      m.train();
      const { images, targets, sizes } = square();
      const before = tf.memory().numTensors;
      const vars = m.trainableVariables();
      const totals: number[] = [];
      for (let step = 0; step < 6; step++) {
        tf.tidy(() => {
          const { value, grads } = tf.variableGrads(() => {
            const l = m.forwardTrain(images, sizes, targets);
            expect(Object.keys(l).sort()).to.deep.equal(['loss_box_reg', 'loss_cls', 'loss_mask', 'loss_rpn_cls', 'loss_rpn_loc']);
            return tf.addN(Object.values(l) as tf.Scalar[]) as tf.Scalar;
          }, vars);
          totals.push(value.dataSync()[0]);
          if (step === 0) {
            const missing = m.namedParameters().filter((p) => p.trainable && !grads[p.variable.name]).map((p) => p.name);
            expect(missing, 'parameters without gradient').to.deep.equal([]);
            for (const p of m.namedParameters()) {
              const g = grads[p.variable.name].dataSync();
              expect(g.every(Number.isFinite), p.name).to.equal(true);
            }
          }
          for (const v of vars) v.assign(tf.sub(v, tf.mul(grads[v.name], 0.02)));
        });
      }
      expect(tf.memory().numTensors).to.equal(before);
      expect(totals.every(Number.isFinite)).to.equal(true);
      expect(totals[totals.length - 1]).to.be.below(totals[0]);
      images.dispose();
      m.dispose();
    });

    it('images without instances: finite losses and gradients (zero box / mask losses when no RoI is foreground); no proposals: no detections', () => {
      const m = new MaskRcnn(mobileNetConfig(), new Rng(1));
      m.train();
      const { images, targets, sizes } = square();
      const empty: DetectionTarget = { boxes: new Float32Array(0), classes: new Int32Array(0), masks: [] };
      const before = tf.memory().numTensors;
      for (const t of [[empty], targets]) {
        tf.tidy(() => {
          let terms: Record<string, number> = {};
          const { grads } = tf.variableGrads(() => {
            const l = m.forwardTrain(images, sizes, t);
            terms = Object.fromEntries(Object.entries(l).map(([k, v]) => [k, (v as tf.Scalar).dataSync()[0]]));
            return tf.addN(Object.values(l) as tf.Scalar[]) as tf.Scalar;
          });
          expect(Object.values(terms).every(Number.isFinite), JSON.stringify(terms)).to.equal(true);
          if (t[0] === empty) expect([terms.loss_rpn_loc, terms.loss_box_reg, terms.loss_mask]).to.deep.equal([0, 0, 0]);
          expect(Object.values(grads).every((g) => g.dataSync().every(Number.isFinite))).to.equal(true);
        });
      }
      expect(tf.memory().numTensors).to.equal(before);
      m.eval();
      const levels = m.features(images);
      expect(m.roiHeads.inference(levels, [new Float32Array(0)], sizes)[0].scores.length).to.equal(0);
      levels.forEach((l) => l.tensor.dispose());
      images.dispose();
      m.dispose();
    });

    it('freeze_bn: backbone BN stays in eval, gets no gradient, keeps its statistics', () => {
      const m = new MaskRcnn(mobileNetConfig({ backbone: { name: 'mobilenetv2', options: { width: 0.35 }, freeze_bn: true } }), new Rng(1));
      m.train();
      const bns = m.backbone.body.modules().filter((x): x is BatchNorm2d => x instanceof BatchNorm2d);
      expect(bns.length).to.be.above(10);
      expect(bns.every((b) => !b.training)).to.equal(true);
      const frozen = m.namedParameters().filter((p) => !p.trainable).map((p) => p.name);
      expect(frozen.length).to.equal(2 * bns.length);
      expect(frozen.every((n) => n.startsWith('backbone.body.'))).to.equal(true);
      const mean0 = bns[3].runningMean.dataSync().slice();
      const { images, targets, sizes } = square();
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() => tf.addN(Object.values(m.forwardTrain(images, sizes, targets)) as tf.Scalar[]) as tf.Scalar);
        expect(Object.keys(grads)).not.to.include(bns[3].weight!.name);
        expect(Object.keys(grads)).to.include(m.rpn.head.namedParameters()[0].variable.name);
      });
      expect(Array.from(bns[3].runningMean.dataSync())).to.deep.equal(Array.from(mean0));
      // default: trainable BN, batch statistics in training
      const t = new MaskRcnn(mobileNetConfig(), new Rng(1));
      t.train();
      expect(t.namedParameters().every((p) => p.trainable)).to.equal(true);
      expect(t.backbone.body.modules().filter((x) => x instanceof BatchNorm2d).every((b) => b.training)).to.equal(true);
      images.dispose();
      m.dispose();
      t.dispose();
    });
  });
});
