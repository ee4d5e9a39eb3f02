import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../../../src/core/rng';
import { ConfigError } from '../../../src/core/errors';
import { Module } from '../../../src/nn/module';
import { BoxCoder } from '../../ops/box_coder';
import { Matcher } from '../../ops/matcher';
import { maskTargetsForProposals } from '../../ops/mask_targets';
import { MultiScaleRoIAlign } from '../../ops/poolers';
import type { DetectionTarget } from '../../data/types';
import type { PyramidLevel } from '../backbone/backbone_with_fpn';
import type { StageInfo } from '../backbone/body';
import type { PoolerConfig, RoiHeadsConfig } from '../config';
import { concat, concatInt } from '../arrays';
import { buildDetectionPart, type BoxHeadPart, type MaskHeadPart } from '../registry';
import './box_head';
import { BoxPredictor } from './box_predictor';
import { boxInference, type BoxDetections } from './inference';
import { fastRcnnLosses, maskLoss } from './losses';
import { MaskPredictor } from './mask_head';
import { labelAndSampleProposals, type SampledRois } from './sampling';

export interface Detections extends BoxDetections {
  /** [n * M * M] sigmoid mask probabilities of each detection's class, RoI-relative (M = maskSize). */
  maskProbs: Float32Array;
  maskSize: number;
}

export interface RoiLosses {
  loss_cls: tf.Scalar;
  loss_box_reg: tf.Scalar;
  loss_mask?: tf.Scalar;
}

/** [K, 5] (batch index, x1, y1, x2, y2) rows for RoIAlign from per-image boxes. */
export function roisTensor(perImage: Float32Array[]): tf.Tensor2D {
  const k = perImage.reduce((s, b) => s + b.length / 4, 0);
  const data = new Float32Array(k * 5);
  let r = 0;
  perImage.forEach((b, i) => {
    for (let j = 0; j < b.length / 4; j++, r++) {
      data[5 * r] = i;
      data.set(b.subarray(4 * j, 4 * j + 4), 5 * r + 1);
    }
  });
  return tf.tensor2d(data, [k, 5]);
}

/**
 * The RoI heads of Mask R-CNN FPN (Detectron2's StandardROIHeads with FastRCNNConvFCHead and
 * MaskRCNNConvUpsampleHead; torchvision's RoIHeads): box branch (MultiScaleRoIAlign -> fc6, fc7 ->
 * cls_score / bbox_pred), mask branch (MultiScaleRoIAlign -> mask_fcn1..n -> conv5_mask ->
 * mask_fcn_logits), the training-time sampling and losses, and box inference post-processing.
 */
export class RoiHeads extends Module {
  readonly boxHead: BoxHeadPart;
  readonly boxPredictor: BoxPredictor;
  readonly maskHead: MaskHeadPart | null;
  readonly maskPredictor: MaskPredictor | null;
  readonly boxPooler: MultiScaleRoIAlign;
  readonly maskPooler: MultiScaleRoIAlign | null;
  readonly coder: BoxCoder;
  readonly matcher: Matcher;
  readonly levelNames: string[];
  readonly maskSize: number;

  constructor(readonly cfg: RoiHeadsConfig, available: StageInfo[], rng: Rng) {
    super();
    const levels = cfg.in_features.map((name) => {
      const s = available.find((a) => a.name === name);
      if (!s) throw new ConfigError('model.roi_heads.in_features', `no pyramid level '${name}' (the FPN gives ${available.map((a) => a.name).join(', ')})`);
      return s;
    });
    this.levelNames = levels.map((l) => l.name);
    const channels = levels[0].channels;
    const pooler = (p: PoolerConfig) =>
      new MultiScaleRoIAlign({
        outputSize: [p.resolution, p.resolution],
        samplingRatio: p.sampling_ratio,
        aligned: p.aligned,
        scales: levels.map((l) => 1 / l.stride),
        canonicalLevel: p.canonical_level,
        canonicalScale: p.canonical_scale,
      });
    this.boxPooler = pooler(cfg.box_pooler);
    const res = cfg.box_pooler.resolution;
    this.boxHead = this.addModule('box_head', buildDetectionPart('box_head', cfg.box_head, { rng, channels, resolution: res }, 'model.roi_heads.box_head'));
    this.boxPredictor = this.addModule('box_predictor', new BoxPredictor(this.boxHead.outDim, cfg.num_classes, rng));
    const m = cfg.mask;
    if (m.enabled) {
      this.maskPooler = pooler(m.pooler);
      const head = buildDetectionPart('mask_head', cfg.mask_head, { rng, channels, resolution: m.pooler.resolution }, 'model.roi_heads.mask_head');
      this.maskHead = this.addModule('mask_head', head);
      this.maskPredictor = this.addModule('mask_predictor', new MaskPredictor(head.outChannels, head.outChannels, cfg.num_classes, rng));
    } else {
      this.maskPooler = null;
      this.maskHead = null;
      this.maskPredictor = null;
    }
    this.maskSize = 2 * m.pooler.resolution;
    this.coder = new BoxCoder(cfg.bbox_reg_weights);
    this.matcher = new Matcher([cfg.iou_threshold], [0, 1], false);
  }

  private features(levels: PyramidLevel[]): tf.Tensor4D[] {
    return this.levelNames.map((n) => {
      const l = levels.find((x) => x.name === n);
      if (!l) throw new Error(`RoiHeads: pyramid level '${n}' missing from the input`);
      return l.tensor;
    });
  }

  /** Box branch on per-image RoIs: logits [R, K+1] and deltas [R, (K+1)*4], RoIs image by image. */
  boxOutputs(levels: PyramidLevel[], rois: Float32Array[]): { classLogits: tf.Tensor2D; boxDeltas: tf.Tensor2D } {
    return tf.tidy(() => {
      const pooled = this.boxPooler.apply(this.features(levels), roisTensor(rois));
      const { classLogits, boxDeltas } = this.boxPredictor.forward(this.boxHead.forward(pooled));
      return { classLogits, boxDeltas };
    });
  }

  /** Mask branch on per-image boxes: logits [R, M, M, K+1]. */
  maskLogits(levels: PyramidLevel[], boxes: Float32Array[]): tf.Tensor4D {
    if (!this.maskPooler || !this.maskHead || !this.maskPredictor) throw new Error('RoiHeads: the mask branch is disabled (model.roi_heads.mask.enabled)');
    const [pooler, head, predictor] = [this.maskPooler, this.maskHead, this.maskPredictor];
    return tf.tidy(() => predictor.forward(head.forward(pooler.apply(this.features(levels), roisTensor(boxes)))));
  }

  /** Sampling, then the box (and mask) losses, as scalars on the gradient tape. */
  forwardTrain(levels: PyramidLevel[], proposals: Float32Array[], targets: DetectionTarget[], rng: Rng, imageSizes?: Array<[number, number]>): RoiLosses {
    const sampled: SampledRois[] = proposals.map((p, i) =>
      labelAndSampleProposals(p, targets[i].boxes, targets[i].classes, {
        matcher: this.matcher,
        coder: this.coder,
        batchSizePerImage: this.cfg.batch_size_per_image,
        positiveFraction: this.cfg.positive_fraction,
        appendGt: this.cfg.proposal_append_gt,
        rng,
      }),
    );
    let row = 0;
    const fgRows = concatInt(
      sampled.map((s) => {
        const rows = Int32Array.from({ length: s.numFg }, (_, j) => row + j);
        row += s.classes.length;
        return rows;
      }),
    );
    const classes = concatInt(sampled.map((s) => s.classes));
    const regTargets = concat(sampled.map((s) => s.regTargets));
    // Empty batches (no RoI at all, or no foreground for the masks) give zero losses without
    // running a head on 0 RoIs (the backends' convolutions refuse empty batches).
    const zero = () => tf.scalar(0);
    if (classes.length === 0) {
      return { loss_cls: zero(), loss_box_reg: zero(), ...(this.maskPooler ? { loss_mask: zero() } : {}) };
    }
    return tf.tidy(() => {
      const { classLogits, boxDeltas } = this.boxOutputs(levels, sampled.map((s) => s.boxes));
      const losses: RoiLosses = fastRcnnLosses(classLogits, boxDeltas, classes, fgRows, regTargets, this.cfg.loss);
      if (this.maskPooler && fgRows.length === 0) {
        losses.loss_mask = zero();
      } else if (this.maskPooler) {
        const fgBoxes = sampled.map((s) => s.boxes.slice(0, 4 * s.numFg));
        const logits = this.maskLogits(levels, fgBoxes);
        const style = this.cfg.mask.targets;
        if (style === 'torchvision' && !imageSizes) throw new Error("RoiHeads: mask targets 'torchvision' need the image sizes");
        const maskTargets = concat(
          sampled.map((s, i) => maskTargetsForProposals(targets[i].masks, s.matchedGt, fgBoxes[i], this.maskSize, { style, imageSize: imageSizes?.[i] })),
        );
        losses.loss_mask = maskLoss(logits, concatInt(sampled.map((s) => s.classes.slice(0, s.numFg))), maskTargets);
      }
      return losses as unknown as Record<string, tf.Scalar>;
    }) as unknown as RoiLosses;
  }

  /** Box post-processing per image (score threshold, class-wise NMS, top-k) on per-image proposals. */
  detectBoxes(levels: PyramidLevel[], proposals: Float32Array[], imageSizes: Array<[number, number]>): BoxDetections[] {
    if (proposals.every((p) => p.length === 0)) {
      return proposals.map(() => ({ boxes: new Float32Array(0), scores: new Float32Array(0), classes: new Int32Array(0) }));
    }
    // Host arrays leave the tidy through variables: returned, tfjs would walk every element
    // looking for tensors (~57 ms per image for 300 proposals x 81 classes).
    let probs: Float32Array = new Float32Array(0);
    let deltas: Float32Array = new Float32Array(0);
    tf.tidy(() => {
      const { classLogits, boxDeltas } = this.boxOutputs(levels, proposals);
      probs = tf.softmax(classLogits).dataSync() as Float32Array;
      deltas = boxDeltas.dataSync() as Float32Array;
    });
    const c = this.cfg.num_classes + 1;
    let r0 = 0;
    return proposals.map((p, i) => {
      const r = p.length / 4;
      const out = boxInference(probs.subarray(r0 * c, (r0 + r) * c), deltas.subarray(r0 * c * 4, (r0 + r) * c * 4), p, imageSizes[i], {
        coder: this.coder,
        scoreThresh: this.cfg.score_thresh_test,
        nmsThresh: this.cfg.nms_thresh_test,
        detectionsPerImage: this.cfg.detections_per_image,
        minSize: this.cfg.min_size_test,
      });
      r0 += r;
      return out;
    });
  }

  /** Detections with mask probabilities (of each detection's class) per image. */
  inference(levels: PyramidLevel[], proposals: Float32Array[], imageSizes: Array<[number, number]>): Detections[] {
    const dets = this.detectBoxes(levels, proposals, imageSizes);
    const mm = this.maskSize * this.maskSize;
    if (!this.maskPooler) return dets.map((d) => ({ ...d, maskProbs: new Float32Array(0), maskSize: this.maskSize }));
    const total = dets.reduce((s, d) => s + d.scores.length, 0);
    let probs: Float32Array = new Float32Array(0);
    if (total > 0) {
      tf.tidy(() => {
        const logits = this.maskLogits(levels, dets.map((d) => d.boxes));
        const cls = concatInt(dets.map((d) => d.classes));
        const c = logits.shape[3];
        const byClass = tf.reshape(tf.transpose(logits, [0, 3, 1, 2]), [total * c, mm]);
        probs = tf.sigmoid(tf.gather(byClass, tf.tensor1d(Int32Array.from(cls, (k, i) => i * c + k), 'int32'))).dataSync() as Float32Array;
      });
    }
    let n0 = 0;
    return dets.map((d) => {
      const n = d.scores.length;
      const maskProbs = probs.slice(n0 * mm, (n0 + n) * mm);
      n0 += n;
      return { ...d, maskProbs, maskSize: this.maskSize };
    });
  }
}
