import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { expect } from 'chai';
import { registerWasmTrainingKernels } from '../../../src/kernels/wasm';
import '../../../plugins/backbones';
import { Rng } from '../../../src/core/rng';
import { parseSafetensors, type SafeTensor } from '../../../src/nn/safetensors';
import { BatchNorm2d } from '../../../src/nn/batchnorm';
import { MaskRcnn } from '../../../detection/modeling/meta_arch/mask_rcnn';
import { loadMaskRcnnStateDict, maskRcnnStateDict } from '../../../detection/modeling/state_dict';
import { boxInference } from '../../../detection/modeling/roi_heads/inference';
import { maskLoss } from '../../../detection/modeling/roi_heads/losses';
import type { PyramidLevel } from '../../../detection/modeling/backbone/backbone_with_fpn';
import type { DetectionTarget } from '../../../detection/data/types';
import { repoRoot } from '../../helpers/reference';
import { entryRange, hashUniform } from './parity_weights';

// torchvision 0.14 Mask R-CNN, ResNet18-FPN, fixed weights: test/fixtures/detection/modeling/make_maskrcnn_parity.py
const dir = path.join(repoRoot, 'test', 'fixtures', 'detection', 'modeling');
interface Meta {
  image: [number, number];
  image_sizes: Array<[number, number]>;
  num_classes: number;
  fpn_channels: number;
  representation: number;
  mask_conv: number;
  anchor_sizes: number[][];
  aspect_ratios: number[];
  canonical_scale: number;
  settings: Record<string, number>;
  targets: Array<{ boxes: number[]; classes: number[]; polygons: number[][][] }>;
  given_proposals: number[][];
  state_dict: Array<[string, number[]]>;
  mask_loss_labels: number[];
  mask_loss: number;
  losses: Record<string, number>;
}
const meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8')) as Meta;
const outputs = parseSafetensors(new Uint8Array(fs.readFileSync(path.join(dir, 'outputs.safetensors')))).tensors;
const ref = (name: string): SafeTensor => {
  const t = outputs.get(name);
  if (!t) throw new Error(`fixture has no '${name}'`);
  return t;
};

/** max |a - e| <= rtol * max |e| (elementwise relative error is meaningless near zero). */
function expectRel(actual: ArrayLike<number>, expected: SafeTensor | ArrayLike<number>, what: string, rtol = 1e-4): void {
  const e = ('data' in expected ? expected.data : expected) as ArrayLike<number>;
  expect(actual.length, `${what}: length`).to.equal(e.length);
  let scale = 0;
  let worst = 0;
  let at = -1;
  for (let i = 0; i < e.length; i++) {
    scale = Math.max(scale, Math.abs(e[i]));
    const d = Math.abs(actual[i] - e[i]);
    if (!(d <= worst)) {
      worst = d;
      at = i;
    }
  }
  if (!(worst <= rtol * Math.max(scale, 1e-6))) {
    throw new Error(`${what}: max |diff| ${worst} at ${at} (got ${actual[at]}, expected ${e[at]}) > ${rtol} x ${scale}`);
  }
}

/** The detector configured as the fixture's torchvision model. */
export function parityConfig(maskTargets: 'detectron2' | 'torchvision' = 'detectron2'): Record<string, unknown> {
  const s = meta.settings;
  const pooler = (resolution: number) => ({ resolution, sampling_ratio: 2, aligned: false, canonical_scale: meta.canonical_scale });
  return {
    backbone: { name: 'resnet18' },
    fpn: { in_features: ['c2', 'c3', 'c4', 'c5'], out_channels: meta.fpn_channels, top_block: 'maxpool' },
    anchors: { sizes: meta.anchor_sizes, aspect_ratios: [meta.aspect_ratios], round: true },
    rpn: {
      iou_thresholds: [s.rpn_bg_iou_thresh, s.rpn_fg_iou_thresh],
      batch_size_per_image: s.rpn_batch_size_per_image,
      positive_fraction: s.rpn_positive_fraction,
      pre_nms_topk_train: s.rpn_pre_nms_top_n_train,
      post_nms_topk_train: s.rpn_post_nms_top_n_train,
      pre_nms_topk_test: s.rpn_pre_nms_top_n_test,
      post_nms_topk_test: s.rpn_post_nms_top_n_test,
      nms_thresh: s.rpn_nms_thresh,
      min_size: 1e-3,
      loss: 'torchvision',
    },
    roi_heads: {
      num_classes: meta.num_classes - 1,
      iou_threshold: s.box_fg_iou_thresh,
      batch_size_per_image: s.box_batch_size_per_image,
      positive_fraction: s.box_positive_fraction,
      box_pooler: pooler(7),
      box_head: { fc_dim: meta.representation },
      score_thresh_test: s.box_score_thresh,
      nms_thresh_test: s.box_nms_thresh,
      detections_per_image: s.box_detections_per_img,
      min_size_test: 1e-2,
      loss: 'torchvision',
      mask: { pooler: pooler(14), targets: maskTargets },
      mask_head: { conv_dim: meta.mask_conv },
    },
  };
}

function loadFixtureWeights(model: MaskRcnn): void {
  const entries = new Map<string, SafeTensor>();
  for (const [name, shape] of meta.state_dict) {
    if (!name.startsWith('backbone.body.')) continue;
    const n = shape.reduce((a, b) => a * b, 1);
    if (name.endsWith('num_batches_tracked')) entries.set(name, { dtype: 'I64', shape, data: new BigInt64Array(n) });
    else entries.set(name, { dtype: 'F32', shape, data: hashUniform(name, n, ...entryRange(name, shape)) });
  }
  const heads = parseSafetensors(new Uint8Array(fs.readFileSync(path.join(dir, 'weights.safetensors')))).tensors;
  for (const [k, v] of heads) entries.set(k, v); // torchvision 0.14 names: mapped by the loader
  loadMaskRcnnStateDict(model, entries);
}

function images(): tf.Tensor4D {
  const [h, w] = meta.image;
  const nchw = hashUniform('images', 2 * 3 * h * w, -2, 2);
  meta.image_sizes.forEach(([ih, iw], i) => {
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) if (y >= ih || x >= iw) nchw[((i * 3 + c) * h + y) * w + x] = 0;
  });
  return tf.tidy(() => tf.transpose(tf.tensor4d(nchw, [2, 3, h, w]), [0, 2, 3, 1]));
}

/** The fixture's ground truth (polygons in image pixels) as training targets. */
function fixtureTargets(): DetectionTarget[] {
  return meta.targets.map((t) => ({
    boxes: Float32Array.from(t.boxes),
    classes: Int32Array.from(t.classes),
    masks: t.polygons.map((p) => ({ polygons: p })),
  }));
}

const given = meta.given_proposals.map((p) => Float32Array.from(p));
const sizes = meta.image_sizes;

describe('detection/modeling: parity with torchvision Mask R-CNN (ResNet18-FPN)', function () {
  this.timeout(120000);
  let model: MaskRcnn;
  let x: tf.Tensor4D;
  let levels: PyramidLevel[];
  let tensorsBefore: number;

  // wasm: the cpu backend's convolutions take ~10 s for the mask head on 200 RoIs
  before(async () => {
    registerWasmTrainingKernels();
    await tf.setBackend('wasm');
    tensorsBefore = tf.memory().numTensors;
    model = new MaskRcnn(parityConfig(), new Rng(0));
    loadFixtureWeights(model);
    model.eval();
    x = images();
    levels = model.features(x);
  });

  after(async () => {
    for (const l of levels) l.tensor.dispose();
    x.dispose();
    model.dispose();
    const left = tf.memory().numTensors;
    await tf.setBackend('cpu');
    expect(left, 'leaked tensors').to.equal(tensorsBefore);
  });

  it("state dict: exactly torchvision's keys and shapes (published names)", () => {
    const ours = [...maskRcnnStateDict(model)].map(([k, v]) => `${k} [${v.shape}]`).sort();
    const theirs = meta.state_dict.map(([k, s]) => `${k} [${s}]`).sort();
    expect(ours).to.deep.equal(theirs);
  });

  it('FPN maps P2-P6', () => {
    expect(levels.map((l) => l.name)).to.deep.equal(['p2', 'p3', 'p4', 'p5', 'p6']);
    ['0', '1', '2', '3', 'pool'].forEach((n, i) => {
      expect(levels[i].tensor.shape, n).to.deep.equal(ref(`fpn.${n}`).shape);
      expectRel(levels[i].tensor.dataSync(), ref(`fpn.${n}`), `fpn.${n}`);
    });
  });

  it('RPN head: objectness logits and deltas per level; anchors', () => {
    tf.tidy(() => {
      const { logits, deltas } = model.rpn.head.forward(levels.map((l) => l.tensor));
      logits.forEach((t, l) => expectRel(t.dataSync(), ref(`rpn.objectness.${l}`), `objectness ${l}`));
      deltas.forEach((t, l) => expectRel(t.dataSync(), ref(`rpn.deltas.${l}`), `deltas ${l}`));
    });
    const anchors = model.rpn.anchorsFor(levels);
    const all = new Float32Array(anchors.reduce((s, a) => s + a.length, 0));
    let o = 0;
    for (const a of anchors) {
      all.set(a, o);
      o += a.length;
    }
    expectRel(all, ref('anchors.0'), 'anchors', 0);
  });

  it('RPN proposals (test-time top-k, NMS)', () => {
    const { proposals } = model.rpn.forward(levels, sizes);
    proposals.forEach((p, i) => expectRel(p.boxes, ref(`proposals.${i}`), `proposals ${i}`));
  });

  it('box head and predictor on given proposals; decoded boxes; post-processed detections', () => {
    const [logits, deltas] = tf.tidy(() => {
      const o = model.roiHeads.boxOutputs(levels, given);
      return [o.classLogits.dataSync() as Float32Array, o.boxDeltas.dataSync() as Float32Array];
    });
    expectRel(logits, ref('box.class_logits'), 'class logits');
    expectRel(deltas, ref('box.regression'), 'box regression');
    const c = meta.num_classes;
    let r0 = 0;
    const decoded: number[] = [];
    given.forEach((g, i) => {
      const r = g.length / 4;
      const d = deltas.subarray(r0 * c * 4, (r0 + r) * c * 4);
      decoded.push(...model.roiHeads.coder.decode(d, g));
      const probs = tf.tidy(() => tf.softmax(tf.tensor2d(logits.subarray(r0 * c, (r0 + r) * c), [r, c])).dataSync() as Float32Array);
      const det = boxInference(probs, d, g, sizes[i], {
        coder: model.roiHeads.coder,
        scoreThresh: 0.05,
        nmsThresh: 0.5,
        detectionsPerImage: 100,
        minSize: 1e-2,
      });
      expectRel(det.boxes, ref(`det.boxes.${i}`), `detections ${i} boxes`);
      expectRel(det.scores, ref(`det.scores.${i}`), `detections ${i} scores`);
      expectRel(det.classes, ref(`det.labels.${i}`), `detections ${i} classes`, 0);
      r0 += r;
    });
    expectRel(decoded, ref('box.decoded'), 'decoded boxes');
  });

  it('mask head and predictor on given boxes; mask loss on torchvision targets', () => {
    const logits = model.roiHeads.maskLogits(levels, given);
    try {
      expectRel(logits.dataSync(), ref('mask.logits'), 'mask logits');
      const loss = tf.tidy(() => maskLoss(logits, Int32Array.from(meta.mask_loss_labels), ref('mask.loss_targets').data as Float32Array).dataSync()[0]);
      expect(Math.abs(loss - meta.mask_loss)).to.be.at.most(1e-4 * meta.mask_loss);
    } finally {
      logits.dispose();
    }
  });

  it('whole inference: detections with mask probabilities', () => {
    const dets = model.inference(x, sizes);
    dets.forEach((d, i) => {
      expectRel(d.boxes, ref(`eval.boxes.${i}`), `image ${i} boxes`);
      expectRel(d.scores, ref(`eval.scores.${i}`), `image ${i} scores`);
      expectRel(d.classes, ref(`eval.labels.${i}`), `image ${i} classes`, 0);
      expectRel(d.maskProbs, ref(`eval.masks.${i}`), `image ${i} masks`);
    });
  });

  it('training losses with sampling off (all labelled anchors / RoIs used); BN in eval as in the fixture', () => {
    model.train();
    for (const m of model.backbone.body.modules()) if (m instanceof BatchNorm2d) m.eval();
    try {
      const targets = fixtureTargets();
      const { proposals } = model.rpn.forward(levels, sizes);
      proposals.forEach((p, i) => expectRel(p.boxes, ref(`train_proposals.${i}`), `train proposals ${i}`));
      const losses = tf.tidy(() => {
        const l = model.forwardTrain(x, sizes, targets, new Rng(1));
        return Object.fromEntries(Object.entries(l).map(([k, v]) => [k, (v as tf.Scalar).dataSync()[0]]));
      });
      for (const k of ['loss_rpn_cls', 'loss_rpn_loc', 'loss_cls', 'loss_box_reg']) {
        expect(Math.abs(losses[k] - meta.losses[k]), `${k}: ${losses[k]} vs ${meta.losses[k]}`).to.be.at.most(1e-4 * meta.losses[k]);
      }
      // Mask targets differ by design: Detectron2 (and we) rasterise the polygons inside each
      // box to 0/1, torchvision RoI-aligns the full-image bitmap (soft edges): same loss on
      // different targets (0.6950 vs 0.6944 here). The loss itself matches exactly on the same
      // targets (the mask-head test above).
      expect(Math.abs(losses.loss_mask - meta.losses.loss_mask), `loss_mask ${losses.loss_mask} vs ${meta.losses.loss_mask}`).to.be.below(0.005);
    } finally {
      model.eval();
    }
  });

  it("training mask loss with torchvision's mask targets (model.roi_heads.mask.targets: torchvision)", () => {
    const tv = new MaskRcnn(parityConfig('torchvision'), new Rng(0));
    loadFixtureWeights(tv);
    tv.train();
    for (const m of tv.backbone.body.modules()) if (m instanceof BatchNorm2d) m.eval();
    const targets = fixtureTargets();
    const loss = tf.tidy(() => tv.forwardTrain(x, sizes, targets, new Rng(1)).loss_mask!.dataSync()[0]);
    tv.dispose();
    // Left: the full-image bitmaps. The fixture fills polygons by pixel centres (even-odd), we
    // with COCO's polygon rule, which differ on a few edge pixels: 0.69454 vs 0.69441 (Detectron2's
    // targets above: 0.6950).
    expect(Math.abs(loss - meta.losses.loss_mask), `loss_mask ${loss} vs ${meta.losses.loss_mask}`).to.be.at.most(3e-4 * meta.losses.loss_mask);
  });
});
