import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../../src/core/rng';
import { Module } from '../../../src/nn/module';
import type { DetectionTarget } from '../../data/types';
import { BackboneWithFpn, type PyramidLevel } from '../backbone/backbone_with_fpn';
import { parseMaskRcnnConfig, type MaskRcnnConfig } from '../config';
import { Rpn } from '../rpn/rpn';
import { RoiHeads, type Detections } from '../roi_heads/roi_heads';

export interface MaskRcnnLosses {
  loss_rpn_cls: tf.Scalar;
  loss_rpn_loc: tf.Scalar;
  loss_cls: tf.Scalar;
  loss_box_reg: tf.Scalar;
  /** Absent when the mask branch is disabled. */
  loss_mask?: tf.Scalar;
}

/**
 * Mask R-CNN with FPN (He et al. 2017; Detectron2's GeneralizedRCNN, torchvision's MaskRCNN):
 * children `backbone` (body + fpn), `rpn`, `roi_heads`, so the state dict carries torchvision's
 * Mask R-CNN names. Images are NHWC, normalised and padded; imageSizes the (h, w) of each image
 * before padding; boxes in those pixels.
 */
export class MaskRcnn extends Module {
  readonly cfg: MaskRcnnConfig;
  readonly backbone: BackboneWithFpn;
  readonly rpn: Rpn;
  readonly roiHeads: RoiHeads;
  /** Draws the RPN's and RoI heads' training samples. */
  readonly samplingRng: Rng;

  /** `config` is parsed by maskRcnnSchema (defaults filled in); `rng` draws the initial weights. */
  constructor(config: unknown, rng: Rng, samplingRng?: Rng) {
    super();
    this.cfg = parseMaskRcnnConfig(config);
    this.backbone = this.addModule('backbone', new BackboneWithFpn(this.cfg.backbone, this.cfg.fpn, rng));
    const levels = this.backbone.outputInfo();
    this.rpn = this.addModule('rpn', new Rpn(this.cfg.rpn, this.cfg.anchors, levels, rng));
    this.roiHeads = this.addModule('roi_heads', new RoiHeads(this.cfg.roi_heads, levels, rng));
    this.samplingRng = samplingRng ?? new Rng(rng.nextU32());
  }

  /** The FPN levels of a batch; the caller disposes the tensors. */
  features(images: tf.Tensor4D): PyramidLevel[] {
    return this.backbone.forward(images);
  }

  /**
   * The five loss terms of one batch, on the gradient tape (call inside tf.variableGrads).
   * Put the model in train mode first for the training pre/post-NMS top-k.
   */
  forwardTrain(images: tf.Tensor4D, imageSizes: Array<[number, number]>, targets: DetectionTarget[], rng: Rng = this.samplingRng): MaskRcnnLosses {
    if (targets.length !== images.shape[0] || imageSizes.length !== images.shape[0]) {
      throw new Error(`MaskRcnn.forwardTrain: ${images.shape[0]} images, ${imageSizes.length} sizes, ${targets.length} targets`);
    }
    return tf.tidy(() => {
      const levels = this.features(images);
      const { proposals, losses: rpnLosses } = this.rpn.forward(levels, imageSizes, { gtBoxes: targets.map((t) => t.boxes), rng });
      const roi = this.roiHeads.forwardTrain(levels, proposals.map((p) => p.boxes), targets, rng, imageSizes);
      return { ...rpnLosses!, ...roi } as unknown as Record<string, tf.Scalar>;
    }) as unknown as MaskRcnnLosses;
  }

  /** Detections per image: boxes, scores, classes 1..K and each one's M x M mask probabilities. */
  inference(images: tf.Tensor4D, imageSizes: Array<[number, number]>): Detections[] {
    const levels = this.features(images);
    try {
      const { proposals } = this.rpn.forward(levels, imageSizes);
      return this.roiHeads.inference(levels, proposals.map((p) => p.boxes), imageSizes);
    } finally {
      for (const l of levels) l.tensor.dispose();
    }
  }
}
