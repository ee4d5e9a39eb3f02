import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../../../src/core/rng';
import { ConfigError } from '../../../src/core/errors';
import { Module } from '../../../src/nn/module';
import { AnchorGenerator } from '../../ops/anchors';
import { BoxCoder } from '../../ops/box_coder';
import { Matcher } from '../../ops/matcher';
import type { PyramidLevel } from '../backbone/backbone_with_fpn';
import type { StageInfo } from '../backbone/body';
import type { AnchorConfig, RpnConfig } from '../config';
import { buildDetectionPart, type RpnHeadPart } from '../registry';
import './head';
import { rpnLosses } from './losses';
import { findTopProposals, type Proposals } from './proposals';

export interface RpnOutput {
  proposals: Proposals[];
  /** Training only. */
  losses?: { loss_rpn_cls: tf.Scalar; loss_rpn_loc: tf.Scalar };
}

/**
 * Region proposal network over the configured pyramid levels: the shared head, anchors per level,
 * proposals (top-k, decode, clip, NMS per level, top-k per image) and, given ground truth, the
 * matching / sampling / losses. Child `head` gives torchvision's `rpn.head.*` names.
 */
export class Rpn extends Module {
  readonly head: RpnHeadPart;
  readonly anchorGenerator: AnchorGenerator;
  readonly coder: BoxCoder;
  readonly matcher: Matcher;
  readonly levelNames: string[];

  constructor(readonly cfg: RpnConfig, anchors: AnchorConfig, available: StageInfo[], rng: Rng) {
    super();
    const levels = cfg.in_features.map((name) => {
      const s = available.find((a) => a.name === name);
      if (!s) throw new ConfigError('model.rpn.in_features', `no pyramid level '${name}' (the FPN gives ${available.map((a) => a.name).join(', ')})`);
      return s;
    });
    if (anchors.sizes.length !== levels.length) {
      throw new ConfigError('model.anchors.sizes', `${anchors.sizes.length} levels of sizes for ${levels.length} RPN levels (${cfg.in_features.join(', ')})`);
    }
    if (anchors.aspect_ratios.length !== 1 && anchors.aspect_ratios.length !== levels.length) {
      throw new ConfigError('model.anchors.aspect_ratios', `give one list or one per RPN level (${levels.length})`);
    }
    this.levelNames = levels.map((l) => l.name);
    this.anchorGenerator = new AnchorGenerator({
      sizes: anchors.sizes,
      aspectRatios: anchors.aspect_ratios,
      strides: levels.map((l) => l.stride),
      offset: anchors.offset,
      round: anchors.round,
    });
    const perCell = levels.map((_, l) => this.anchorGenerator.numCellAnchors(l));
    if (perCell.some((a) => a !== perCell[0])) {
      throw new ConfigError('model.anchors', `the shared RPN head needs the same number of anchors per location on every level, got [${perCell}]`);
    }
    const channels = levels[0].channels;
    this.head = this.addModule('head', buildDetectionPart('rpn_head', cfg.head, { rng, channels, numAnchors: perCell[0] }, 'model.rpn.head'));
    this.coder = new BoxCoder(cfg.bbox_reg_weights);
    const [bg, fg] = cfg.iou_thresholds;
    this.matcher = new Matcher([bg, fg], [0, -1, 1], cfg.allow_low_quality_matches);
  }

  /** The anchors of one image for maps of these sizes, per level. */
  anchorsFor(levels: PyramidLevel[]): Float32Array[] {
    return this.anchorGenerator.gridAnchors(this.pick(levels).map((l) => [l.tensor.shape[1], l.tensor.shape[2]] as [number, number]));
  }

  private pick(levels: PyramidLevel[]): PyramidLevel[] {
    return this.levelNames.map((n) => {
      const l = levels.find((x) => x.name === n);
      if (!l) throw new Error(`Rpn: pyramid level '${n}' missing from the input`);
      return l;
    });
  }

  /**
   * Proposals per image (host arrays, not differentiated) and, in training with gtBoxes, the
   * losses as scalars on the gradient tape.
   */
  forward(levels: PyramidLevel[], imageSizes: Array<[number, number]>, o: { gtBoxes?: Float32Array[]; rng?: Rng } = {}): RpnOutput {
    const picked = this.pick(levels);
    const anchors = this.anchorsFor(levels);
    let proposals: Proposals[] = [];
    const losses = tf.tidy((): Record<string, tf.Scalar> => {
      const { logits, deltas } = this.head.forward(picked.map((l) => l.tensor));
      proposals = findTopProposals(
        logits.map((t) => t.dataSync() as Float32Array),
        deltas.map((t) => t.dataSync() as Float32Array),
        anchors,
        imageSizes,
        {
          preNmsTopK: this.training ? this.cfg.pre_nms_topk_train : this.cfg.pre_nms_topk_test,
          postNmsTopK: this.training ? this.cfg.post_nms_topk_train : this.cfg.post_nms_topk_test,
          nmsThresh: this.cfg.nms_thresh,
          minSize: this.cfg.min_size,
          coder: this.coder,
        },
      );
      if (!o.gtBoxes) return {};
      if (!o.rng) throw new Error('Rpn.forward: losses need an rng for anchor sampling');
      const l = rpnLosses(logits, deltas, anchors, o.gtBoxes, {
        matcher: this.matcher,
        coder: this.coder,
        batchSizePerImage: this.cfg.batch_size_per_image,
        positiveFraction: this.cfg.positive_fraction,
        variant: this.cfg.loss,
        rng: o.rng,
      });
      const w = this.cfg.loss_weight;
      return w === 1 ? l : { loss_rpn_cls: tf.mul(l.loss_rpn_cls, w) as tf.Scalar, loss_rpn_loc: tf.mul(l.loss_rpn_loc, w) as tf.Scalar };
    });
    return losses.loss_rpn_cls ? { proposals, losses: { loss_rpn_cls: losses.loss_rpn_cls, loss_rpn_loc: losses.loss_rpn_loc } } : { proposals };
  }
}
