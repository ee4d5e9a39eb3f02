import * as tf from '@tensorflow/tfjs-core';

/**
 * Sum over elements of BCE-with-logits, the stable form max(x, 0) - x y + log(1 + exp(-|x|)),
 * each element times `weights` when given (0 leaves it out).
 */
export function bceWithLogitsSum(logits: tf.Tensor, targets: tf.Tensor, weights?: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const e = tf.add(tf.sub(tf.relu(logits), tf.mul(logits, targets)), tf.softplus(tf.neg(tf.abs(logits))));
    return tf.sum(weights ? tf.mul(e, weights) : e) as tf.Scalar;
  });
}

/**
 * Sum of smooth-L1 (Huber / beta) over elements: 0.5 d^2 / beta where |d| < beta, else
 * |d| - 0.5 beta; beta 0 is plain L1 (Detectron2's default for both box losses).
 */
export function smoothL1Sum(pred: tf.Tensor, target: tf.Tensor, beta: number): tf.Scalar {
  return tf.tidy(() => {
    const d = tf.abs(tf.sub(pred, target));
    if (beta <= 0) return tf.sum(d) as tf.Scalar;
    // With m = min(d, beta): 0.5 m^2 / beta + (d - m) is both branches at once, built only from
    // differentiable ops (tf.where(tf.less(...)) puts Less on the tape, which has no gradient).
    const m = tf.minimum(d, beta);
    return tf.sum(tf.add(tf.div(tf.mul(tf.square(m), 0.5), beta), tf.sub(d, m))) as tf.Scalar;
  });
}

/** Mean softmax cross-entropy of logits [R, C] against integer labels [R] (0 for R = 0). */
export function crossEntropyMean(logits: tf.Tensor2D, labels: Int32Array): tf.Scalar {
  const [r, c] = logits.shape;
  if (r === 0) return tf.tidy(() => tf.mul(tf.sum(logits), 0) as tf.Scalar);
  return tf.tidy(() => {
    const logp = tf.logSoftmax(logits);
    const onehot = tf.oneHot(tf.tensor1d(labels, 'int32'), c);
    return tf.div(tf.neg(tf.sum(tf.mul(logp, onehot))), r) as tf.Scalar;
  });
}
