import type { Rng } from '../../../src/core/rng';
import type { BoxCoder } from '../../ops/box_coder';
import { pairwiseIou } from '../../ops/boxes';
import type { Matcher } from '../../ops/matcher';
import { sampleBalanced } from '../../ops/sampler';
import { concat } from '../arrays';

/** One image's sampled RoIs: the numFg foreground ones first, then background. */
export interface SampledRois {
  /** [R*4] */
  boxes: Float32Array;
  /** [R] 1..K for foreground, 0 for background. */
  classes: Int32Array;
  numFg: number;
  /** [numFg] index of each foreground RoI's ground-truth instance. */
  matchedGt: Int32Array;
  /** [numFg*4] box-coder targets of the foreground RoIs. */
  regTargets: Float32Array;
}

export interface RoiSamplingOptions {
  matcher: Matcher;
  coder: BoxCoder;
  batchSizePerImage: number;
  positiveFraction: number;
  appendGt: boolean;
  rng: Rng;
}

/**
 * Detectron2's label_and_sample_proposals (torchvision's select_training_samples): the ground
 * truth appended to the proposals, each matched to its best ground truth at the IoU threshold,
 * a balanced sample drawn, class labels and box targets attached.
 */
export function labelAndSampleProposals(
  proposals: Float32Array,
  gtBoxes: Float32Array,
  gtClasses: Int32Array,
  o: RoiSamplingOptions,
): SampledRois {
  const boxes = o.appendGt ? concat([proposals, gtBoxes]) : proposals;
  const n = boxes.length / 4;
  const nGt = gtBoxes.length / 4;
  const { matches, labels } = o.matcher.match(pairwiseIou(gtBoxes, boxes), nGt, n);
  const { positive, negative } = sampleBalanced(labels, o.batchSizePerImage, o.positiveFraction, o.rng);
  const r = positive.length + negative.length;
  const out = new Float32Array(r * 4);
  const classes = new Int32Array(r);
  const matchedGt = new Int32Array(positive.length);
  const matchedBoxes = new Float32Array(positive.length * 4);
  positive.forEach((k, j) => {
    out.set(boxes.subarray(4 * k, 4 * k + 4), 4 * j);
    classes[j] = gtClasses[matches[k]];
    matchedGt[j] = matches[k];
    matchedBoxes.set(gtBoxes.subarray(4 * matches[k], 4 * matches[k] + 4), 4 * j);
  });
  negative.forEach((k, j) => out.set(boxes.subarray(4 * k, 4 * k + 4), 4 * (positive.length + j)));
  const regTargets = o.coder.encode(matchedBoxes, out.slice(0, positive.length * 4));
  return { boxes: out, classes, numFg: positive.length, matchedGt, regTargets };
}
