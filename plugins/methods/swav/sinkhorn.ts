import * as tf from '@tensorflow/tfjs-core';

/**
 * SwAV's Sinkhorn-Knopp (distributed_sinkhorn with world_size 1): soft assignments ("codes") of
 * B samples to K prototypes under an equipartition constraint. A pure function of the scores.
 *
 * With Q = exp(scores / epsilon)^T [K, B] (SwAV's notation), Q /= sum(Q), then per iteration
 * Q /= rowsum(Q); Q /= K; Q /= colsum(Q); Q /= B; finally Q *= B and Q^T is returned, so every
 * returned row sums to 1. We keep the [B, K] layout throughout: SwAV's row sums (over samples)
 * are our sums over axis 0, its column sums (over prototypes) our sums over axis 1.
 *
 * One departure, exact in real arithmetic: the global maximum is subtracted before exp. It
 * cancels in the first normalisation and keeps exp finite for scores that are not cosines
 * (|scores / epsilon| > 88 overflows float32); for cosines it changes nothing but rounding.
 */

export interface SinkhornOptions {
  /** Entropic regularisation (SwAV default 0.05). */
  epsilon?: number;
  /** Normalisation rounds (SwAV default 3). */
  iterations?: number;
}

function check(scores: tf.Tensor, epsilon: number, iterations: number): void {
  if (scores.rank !== 2) throw new Error(`sinkhorn: expected scores [B, K], got [${scores.shape}]`);
  if (!(epsilon > 0)) throw new RangeError(`sinkhorn: epsilon must be > 0, got ${epsilon}`);
  if (!(Number.isInteger(iterations) && iterations >= 0)) {
    throw new RangeError(`sinkhorn: iterations must be a non-negative integer, got ${iterations}`);
  }
}

/**
 * Runs the algorithm, handing each normalisation state to `visit` ([0] after Q /= sum(Q), [i] after
 * iteration i, before the final *B). Each state is freed once the next exists, so at most two
 * [B, K] matrices live at a time (with a queue, B is thousands of rows and K thousands of
 * prototypes). Returns the codes [B, K].
 */
function run(scores: tf.Tensor2D, opts: SinkhornOptions, visit?: (q: tf.Tensor2D) => void): tf.Tensor2D {
  const { epsilon = 0.05, iterations = 3 } = opts;
  check(scores, epsilon, iterations);
  const [b, k] = scores.shape;
  let q = tf.tidy(() => {
    const e = tf.exp(tf.div(tf.sub(scores, tf.max(scores)), epsilon));
    return tf.div(e, tf.sum(e)) as tf.Tensor2D;
  });
  visit?.(q);
  for (let it = 0; it < iterations; it++) {
    const prev = q;
    q = tf.tidy(() => {
      // Each prototype gets total weight 1/K ...
      const r = tf.div(tf.div(prev, tf.sum(prev, 0, true)), k);
      // ... and each sample total weight 1/B.
      return tf.div(tf.div(r, tf.sum(r, 1, true)), b) as tf.Tensor2D;
    });
    prev.dispose();
    visit?.(q);
  }
  const codes = tf.mul(q, b) as tf.Tensor2D;
  q.dispose();
  return codes;
}

/** Codes [B, K] (rows sum to 1) for scores [B, K]. Takes no gradient: call it off the tape. */
export function sinkhorn(scores: tf.Tensor2D, opts: SinkhornOptions = {}): tf.Tensor2D {
  return run(scores, opts);
}

/** The normalisation states (copies), [0] after Q /= sum(Q), [i] after iteration i; for tests. */
export function sinkhornTrace(scores: tf.Tensor2D, opts: SinkhornOptions = {}): tf.Tensor2D[] {
  const trace: tf.Tensor2D[] = [];
  run(scores, opts, (q) => trace.push(tf.clone(q))).dispose();
  return trace;
}
