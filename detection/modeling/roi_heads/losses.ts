import * as tf from '@tensorflow/tfjs-core';
import { bceWithLogitsSum, crossEntropyMean, smoothL1Sum } from '../losses';
import type { LossVariant } from '../rpn/losses';

/**
 * Fast R-CNN losses over the sampled RoIs of the batch (foreground rows listed in fgRows):
 * loss_cls = mean softmax cross-entropy over all RoIs; loss_box_reg = the class-specific deltas
 * of each foreground RoI against its targets, L1 ('detectron2') or smooth-L1 beta 1/9
 * ('torchvision'), summed and divided by the number of RoIs (both libraries).
 * classLogits [R, K+1], boxDeltas [R, (K+1)*4], classes [R], regTargets [F*4] in fgRows order.
 */
export function fastRcnnLosses(
  classLogits: tf.Tensor2D,
  boxDeltas: tf.Tensor2D,
  classes: Int32Array,
  fgRows: Int32Array,
  regTargets: Float32Array,
  variant: LossVariant,
): { loss_cls: tf.Scalar; loss_box_reg: tf.Scalar } {
  const [r, c] = classLogits.shape;
  // dense mask over [R, C*4] (tf.gather's gradient needs UnsortedSegmentSum, absent on wasm)
  const weight = new Float32Array(r * c * 4);
  const target = new Float32Array(r * c * 4);
  fgRows.forEach((row, j) => {
    const o = (row * c + classes[row]) * 4;
    weight.fill(1, o, o + 4);
    target.set(regTargets.subarray(4 * j, 4 * j + 4), o);
  });
  return tf.tidy(() => {
    const lossCls = crossEntropyMean(classLogits, classes);
    const pred = tf.mul(boxDeltas, tf.tensor2d(weight, [r, c * 4]));
    const sum = smoothL1Sum(pred, tf.tensor2d(target, [r, c * 4]), variant === 'torchvision' ? 1 / 9 : 0);
    return { loss_cls: lossCls, loss_box_reg: tf.div(sum, Math.max(r, 1)) as tf.Scalar };
  });
}

/**
 * Mask R-CNN's mask loss: mean BCE-with-logits over the M x M logits of each foreground RoI's
 * ground-truth class channel. maskLogits [F, M, M, K+1], classes [F], targets [F*M*M] in [0, 1].
 * No foreground RoI: 0 (still on the tape, as Detectron2's mask_logits.sum() * 0).
 */
export function maskLoss(maskLogits: tf.Tensor4D, classes: Int32Array, targets: Float32Array): tf.Scalar {
  const [f, m, , c] = maskLogits.shape;
  if (f === 0) return tf.tidy(() => tf.mul(tf.sum(maskLogits), 0) as tf.Scalar);
  return tf.tidy(() => {
    // the class channel as a batched product with a one-hot column ([F, M*M, C] x [F, C, 1]):
    // differentiable on every backend, no transposed or broadcast copy of the logits
    const onehot = tf.reshape(tf.oneHot(tf.tensor1d(classes, 'int32'), c), [f, c, 1]);
    const picked = tf.matMul(tf.reshape(maskLogits, [f, m * m, c]), onehot);
    return tf.div(bceWithLogitsSum(picked, tf.tensor3d(targets, [f, m * m, 1])), f * m * m) as tf.Scalar;
  });
}
