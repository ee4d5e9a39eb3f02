import * as tf from '@tensorflow/tfjs-core';
import { throwIfStopRequested } from '../core/signals';

export interface KnnOptions {
  /** Neighbours that vote (DINO: 20). More than the train set means all of it. */
  k: number;
  /** Vote weight exp(similarity / temperature) (DINO: 0.07). */
  temperature: number;
  numClasses: number;
  /** Test rows per similarity matrix (default 256): a [chunk, nTrain] block at a time. */
  chunk?: number;
}

export const KNN_DEFAULTS = { k: 20, temperature: 0.07 } as const;

/** Rows scaled to unit L2 norm (norm clamped at 1e-12, as torch's F.normalize). */
export function l2Normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.div(x, tf.maximum(tf.norm(x, 2, 1, true), 1e-12)) as tf.Tensor2D);
}

/**
 * DINO's weighted k-NN classifier (eval_knn.py `knn_classifier`): features are L2-normalised,
 * similarity is the cosine, the k most similar train samples vote for their label with weight
 * exp(sim / T), and the class with the largest total wins. Deterministic tie rules (DINO leaves
 * them to torch.topk/argmax): among equal similarities the lower train index is taken first;
 * among equal vote totals the lower class index wins. Returns the predicted class per test row.
 */
export function knnPredict(
  trainFeats: tf.Tensor2D,
  trainLabels: ArrayLike<number>,
  testFeats: tf.Tensor2D,
  opts: KnnOptions,
): Int32Array {
  const { temperature, numClasses } = opts;
  const chunk = opts.chunk ?? 256;
  const [nTrain, dim] = trainFeats.shape;
  const [nTest, testDim] = testFeats.shape;
  if (!(Number.isInteger(opts.k) && opts.k >= 1)) throw new RangeError(`k-NN: k must be a positive integer, got ${opts.k}`);
  if (!(temperature > 0)) throw new RangeError(`k-NN: temperature must be > 0, got ${temperature}`);
  if (!(Number.isInteger(numClasses) && numClasses >= 1)) throw new RangeError(`k-NN: numClasses must be a positive integer, got ${numClasses}`);
  if (!(Number.isInteger(chunk) && chunk >= 1)) throw new RangeError(`k-NN: chunk must be a positive integer, got ${chunk}`);
  if (nTrain === 0) throw new RangeError('k-NN: the train set is empty');
  if (testDim !== dim) throw new RangeError(`k-NN: train features have ${dim} dims, test features ${testDim}`);
  if (trainLabels.length !== nTrain) throw new RangeError(`k-NN: ${trainLabels.length} labels for ${nTrain} train features`);
  const labels = Int32Array.from(trainLabels);
  for (const l of labels) {
    if (!(l >= 0 && l < numClasses)) throw new RangeError(`k-NN: train label ${l} is not in [0, ${numClasses})`);
  }
  const k = Math.min(opts.k, nTrain);

  const out = new Int32Array(nTest);
  const train = l2Normalize(trainFeats);
  try {
    const topSim = new Float64Array(k);
    const topIdx = new Int32Array(k);
    const votes = new Float64Array(numClasses);
    for (let start = 0; start < nTest; start += chunk) {
      throwIfStopRequested('k-NN');
      const rows = Math.min(chunk, nTest - start);
      const simT = tf.tidy(() => {
        const q = l2Normalize(tf.slice(testFeats, [start, 0], [rows, dim]));
        return tf.matMul(q, train, false, true);
      });
      const sims = simT.dataSync() as Float32Array;
      simT.dispose();
      for (let r = 0; r < rows; r++) {
        const row = sims.subarray(r * nTrain, (r + 1) * nTrain);
        // Top k by insertion into a sorted (descending) list; strict '>' keeps the earlier index
        // ahead of a later equal one, and a later equal value never displaces the k-th.
        let filled = 0;
        for (let j = 0; j < nTrain; j++) {
          const s = row[j];
          if (filled === k && !(s > topSim[k - 1])) continue;
          let p = filled < k ? filled++ : k - 1;
          while (p > 0 && s > topSim[p - 1]) {
            topSim[p] = topSim[p - 1];
            topIdx[p] = topIdx[p - 1];
            p--;
          }
          topSim[p] = s;
          topIdx[p] = j;
        }
        votes.fill(0);
        for (let i = 0; i < k; i++) votes[labels[topIdx[i]]] += Math.exp(topSim[i] / temperature);
        let best = 0;
        for (let c = 1; c < numClasses; c++) if (votes[c] > votes[best]) best = c;
        out[start + r] = best;
      }
    }
  } finally {
    train.dispose();
  }
  return out;
}

/** Fraction of predictions equal to the labels, in [0, 1]. */
export function top1(pred: ArrayLike<number>, labels: ArrayLike<number>): number {
  if (pred.length !== labels.length) throw new RangeError(`top1: ${pred.length} predictions for ${labels.length} labels`);
  if (pred.length === 0) return NaN;
  let c = 0;
  for (let i = 0; i < pred.length; i++) if (pred[i] === labels[i]) c++;
  return c / pred.length;
}

/** knnPredict then top-1 accuracy against the test labels. */
export function knnAccuracy(
  trainFeats: tf.Tensor2D,
  trainLabels: ArrayLike<number>,
  testFeats: tf.Tensor2D,
  testLabels: ArrayLike<number>,
  opts: KnnOptions,
): number {
  return top1(knnPredict(trainFeats, trainLabels, testFeats, opts), testLabels);
}
