import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../../../src/core/rng';
import type { BoxCoder } from '../../ops/box_coder';
import { pairwiseIou } from '../../ops/boxes';
import type { Matcher } from '../../ops/matcher';
import { sampleBalanced } from '../../ops/sampler';
import { bceWithLogitsSum, smoothL1Sum } from '../losses';

export type LossVariant = 'detectron2' | 'torchvision';

export interface RpnLossOptions {
  matcher: Matcher;
  coder: BoxCoder;
  batchSizePerImage: number;
  positiveFraction: number;
  variant: LossVariant;
  rng: Rng;
}

/**
 * The RPN losses. Anchors are labelled by the matcher (IoU with the ground truth), sampled per
 * image (batchSizePerImage, positiveFraction), and
 *  - 'detectron2': loss_rpn_cls = BCE sum over sampled anchors, loss_rpn_loc = L1 sum of the
 *    positives' deltas, both / (batchSizePerImage x images) (Detectron2's StandardRPNHead losses);
 *  - 'torchvision': BCE mean over sampled anchors, smooth-L1 (beta 1/9) sum / sampled anchors.
 * logits[l] [N, H, W, A] and deltas[l] [N, H, W, 4A] per level; anchors[l] one image's grid.
 */
export function rpnLosses(
  logits: tf.Tensor4D[],
  deltas: tf.Tensor4D[],
  anchors: Float32Array[],
  gtBoxes: Float32Array[],
  o: RpnLossOptions,
): { loss_rpn_cls: tf.Scalar; loss_rpn_loc: tf.Scalar } {
  const n = gtBoxes.length;
  const total = anchors.reduce((s, a) => s + a.length / 4, 0);
  const all = new Float32Array(total * 4);
  let off = 0;
  for (const a of anchors) {
    all.set(a, off);
    off += a.length;
  }
  // Dense per-anchor weights and targets instead of gathering the sampled rows: tf.gather's
  // gradient needs UnsortedSegmentSum, which the wasm backend lacks; the masked sums are cheap.
  const clsWeight = new Float32Array(n * total);
  const clsTarget = new Float32Array(n * total);
  const locWeight = new Float32Array(n * total);
  const locTarget = new Float32Array(n * total * 4);
  let sampledCount = 0;
  for (let i = 0; i < n; i++) {
    const gt = gtBoxes[i];
    const nGt = gt.length / 4;
    const { matches, labels } = o.matcher.match(pairwiseIou(gt, all), nGt, total);
    const { positive, negative } = sampleBalanced(labels, o.batchSizePerImage, o.positiveFraction, o.rng);
    sampledCount += positive.length + negative.length;
    for (const k of negative) clsWeight[i * total + k] = 1;
    if (positive.length === 0) continue;
    const matched = new Float32Array(positive.length * 4);
    const anc = new Float32Array(positive.length * 4);
    positive.forEach((k, j) => {
      clsWeight[i * total + k] = 1;
      clsTarget[i * total + k] = 1;
      locWeight[i * total + k] = 1;
      matched.set(gt.subarray(4 * matches[k], 4 * matches[k] + 4), 4 * j);
      anc.set(all.subarray(4 * k, 4 * k + 4), 4 * j);
    });
    const enc = o.coder.encode(matched, anc);
    positive.forEach((k, j) => locTarget.set(enc.subarray(4 * j, 4 * j + 4), 4 * (i * total + k)));
  }
  return tf.tidy(() => {
    const flatLogits = tf.reshape(tf.concat(logits.map((l) => tf.reshape(l, [n, -1])), 1), [-1]);
    const flatDeltas = tf.reshape(tf.concat(deltas.map((d) => tf.reshape(d, [n, -1, 4])), 1), [-1, 4]);
    const cls = bceWithLogitsSum(flatLogits, tf.tensor1d(clsTarget), tf.tensor1d(clsWeight));
    const w = tf.tensor2d(locWeight, [n * total, 1]);
    const target = tf.tensor2d(locTarget, [n * total, 4]);
    // non-positive rows: prediction and target both masked to 0, so they add nothing
    const pred = tf.mul(flatDeltas, w);
    if (o.variant === 'torchvision') {
      const m = Math.max(sampledCount, 1);
      return { loss_rpn_cls: tf.div(cls, m) as tf.Scalar, loss_rpn_loc: tf.div(smoothL1Sum(pred, target, 1 / 9), m) as tf.Scalar };
    }
    const norm = o.batchSizePerImage * n;
    return { loss_rpn_cls: tf.div(cls, norm) as tf.Scalar, loss_rpn_loc: tf.div(smoothL1Sum(pred, target, 0), norm) as tf.Scalar };
  });
}
