import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { knnAccuracy, knnPredict, l2Normalize, top1 } from '../../src/eval/knn';
import { balancedSubset, extractFeatures, type LabelledImageBatch } from '../../src/eval/features';
import type { Backbone } from '../../src/core/interfaces';
import { Module } from '../../src/nn/module';
import { Rng } from '../../src/core/rng';

const t2 = (rows: number[][]): tf.Tensor2D => tf.tensor2d(rows);

function predict(train: number[][], labels: number[], test: number[][], k: number, temperature: number, numClasses: number, chunk?: number): number[] {
  const a = t2(train);
  const b = t2(test);
  try {
    return Array.from(knnPredict(a, labels, b, { k, temperature, numClasses, chunk }));
  } finally {
    a.dispose();
    b.dispose();
  }
}

/** Straightforward reference: full sort by (similarity desc, index asc), weighted votes, lowest class on ties. */
function reference(train: number[][], labels: number[], test: number[][], k: number, T: number, C: number): number[] {
  const norm = (v: number[]): number[] => {
    const n = Math.max(Math.hypot(...v), 1e-12);
    return v.map((x) => x / n);
  };
  const tr = train.map(norm);
  return test.map((q0) => {
    const q = norm(q0);
    const sims = tr.map((t, j) => ({ s: Math.fround(t.reduce((acc, x, d) => acc + x * q[d], 0)), j }));
    sims.sort((x, y) => y.s - x.s || x.j - y.j);
    const votes = new Array(C).fill(0);
    for (const { s, j } of sims.slice(0, Math.min(k, tr.length))) votes[labels[j]] += Math.exp(s / T);
    let best = 0;
    for (let c = 1; c < C; c++) if (votes[c] > votes[best]) best = c;
    return best;
  });
}

describe('eval: weighted k-NN (DINO protocol)', () => {
  it('classifies by the nearest class, independent of feature scale', () => {
    const train = [[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]];
    const labels = [0, 0, 1, 1];
    expect(predict(train, labels, [[0.8, 0.2], [0.2, 0.8], [90, 10], [1, 30]], 2, 0.07, 2)).to.deep.equal([0, 1, 0, 1]);
  });

  it('weights votes by exp(sim / T): one close neighbour beats two far ones at T = 0.07, not at T = 100', () => {
    // sim(test, a) = 1 for the class-0 point; the two class-1 points are at cosine 0.6.
    const train = [[1, 0], [0.6, 0.8], [0.6, -0.8]];
    const labels = [0, 1, 1];
    expect(predict(train, labels, [[1, 0]], 3, 0.07, 2)).to.deep.equal([0]);
    // exp(1/100) < 2 exp(0.6/100): the majority wins when the weights are nearly equal.
    expect(predict(train, labels, [[1, 0]], 3, 100, 2)).to.deep.equal([1]);
    // k = 1 only ever sees the nearest.
    expect(predict(train, labels, [[1, 0]], 1, 100, 2)).to.deep.equal([0]);
  });

  it('equal similarities: the lower train index is taken first', () => {
    // Two identical train features with different labels; k = 1 keeps the first.
    expect(predict([[0, 1], [0, 1], [1, 0]], [1, 0, 0], [[0, 1]], 1, 0.07, 2)).to.deep.equal([1]);
    expect(predict([[0, 1], [0, 1], [1, 0]], [0, 1, 1], [[0, 1]], 1, 0.07, 2)).to.deep.equal([0]);
    // The k-th slot: a later equal similarity does not displace an earlier one.
    expect(predict([[1, 0], [0, 1], [0, 1]], [0, 2, 1], [[0, 1]], 1, 0.07, 3)).to.deep.equal([2]);
  });

  it('equal vote totals: the lower class wins, whatever the train order', () => {
    // Test (1, 1) is equally similar to (1, 0) and (0, 1).
    expect(predict([[1, 0], [0, 1]], [2, 0], [[1, 1]], 2, 0.07, 3)).to.deep.equal([0]);
    expect(predict([[0, 1], [1, 0]], [0, 2], [[1, 1]], 2, 0.07, 3)).to.deep.equal([0]);
    expect(predict([[0, 1], [1, 0]], [2, 1], [[1, 1]], 2, 0.07, 3)).to.deep.equal([1]);
  });

  it('k larger than the train set uses every train sample', () => {
    const train = [[1, 0], [0.6, 0.8], [0.6, -0.8]];
    const labels = [0, 1, 1];
    expect(predict(train, labels, [[1, 0]], 20, 100, 2)).to.deep.equal([1]);
    expect(predict(train, labels, [[1, 0]], 20, 0.07, 2)).to.deep.equal([0]);
    expect(predict([[3, 4]], [1], [[1, 0], [-1, 0]], 20, 0.07, 3)).to.deep.equal([1, 1]);
  });

  it('matches a full-sort reference on random features, in chunks smaller than the test set, without leaking tensors', () => {
    const rng = new Rng(7);
    const C = 5;
    // Quantised values give many exact similarity ties.
    const feat = (): number[] => Array.from({ length: 6 }, () => Math.round((rng.uniform() - 0.5) * 6) / 2);
    const train = Array.from({ length: 57 }, feat);
    const labels = train.map(() => Math.floor(rng.uniform() * C));
    const test = Array.from({ length: 23 }, feat);
    const before = tf.memory().numTensors;
    for (const k of [1, 4, 20, 100]) {
      for (const T of [0.07, 1]) {
        expect(predict(train, labels, test, k, T, C, 5), `k=${k} T=${T}`).to.deep.equal(reference(train, labels, test, k, T, C));
      }
    }
    expect(tf.memory().numTensors).to.equal(before);
  });

  it('knnAccuracy and top1', () => {
    const a = t2([[1, 0], [0, 1]]);
    const b = t2([[1, 0.1], [0.1, 1], [1, 0]]);
    expect(knnAccuracy(a, [0, 1], b, [0, 1, 1], { k: 1, temperature: 0.07, numClasses: 2 })).to.be.closeTo(2 / 3, 1e-12);
    tf.dispose([a, b]);
    expect(top1([1, 2, 3, 4], [1, 2, 0, 0])).to.equal(0.5);
    expect(() => top1([1], [1, 2])).to.throw(/1 predictions for 2 labels/);
  });

  it('rejects bad input', () => {
    expect(() => predict([[1, 0]], [0], [[1, 0, 0]], 1, 0.07, 2)).to.throw(/2 dims, test features 3/);
    expect(() => predict([[1, 0]], [0, 1], [[1, 0]], 1, 0.07, 2)).to.throw(/2 labels for 1 train/);
    expect(() => predict([[1, 0]], [2], [[1, 0]], 1, 0.07, 2)).to.throw(/label 2 is not in \[0, 2\)/);
    expect(() => predict([[1, 0]], [0], [[1, 0]], 0, 0.07, 2)).to.throw(/k must be a positive integer/);
    expect(() => predict([[1, 0]], [0], [[1, 0]], 1, 0, 2)).to.throw(/temperature must be > 0/);
  });

  it('l2Normalize gives unit rows and leaves zero rows at zero', () => {
    const n = l2Normalize(t2([[3, 4], [0, 0]]));
    expect(Array.from(n.dataSync())).to.deep.equal([0.6, 0.8, 0, 0].map(Math.fround));
    n.dispose();
  });
});

/** Pooled features = per-channel mean + 1 in eval mode, -1 in train mode (so the mode shows in the output). */
class MeanBackbone extends Module implements Backbone {
  readonly featureDim = 3;
  forwards: number[] = [];
  forward(x: tf.Tensor4D): tf.Tensor2D {
    this.forwards.push(x.shape[0]);
    return tf.tidy(() => tf.add(tf.mean(x, [1, 2]), this.training ? -1 : 1) as tf.Tensor2D);
  }
}

describe('eval: extractFeatures', () => {
  async function* batches(sizes: number[]): AsyncGenerator<LabelledImageBatch> {
    let n = 0;
    for (const b of sizes) {
      const data = new Float32Array(b * 2 * 2 * 3);
      for (let i = 0; i < b; i++) data.fill(n + i, i * 12, (i + 1) * 12);
      yield { images: tf.tensor4d(data, [b, 2, 2, 3]), labels: Int32Array.from({ length: b }, (_, i) => (n + i) % 4) };
      n += b;
    }
  }

  it('runs the backbone in eval mode in chunks, concatenates in order, restores the mode and leaks nothing', async () => {
    const bb = new MeanBackbone();
    bb.train();
    const before = tf.memory().numTensors;
    const { features, labels } = await extractFeatures(bb, batches([5, 3, 4]), { chunk: 2 });
    expect(bb.forwards).to.deep.equal([2, 2, 1, 2, 1, 2, 2]);
    expect(bb.training).to.equal(true);
    expect(features.shape).to.deep.equal([12, 3]);
    const got = features.arraySync();
    got.forEach((row, i) => expect(row).to.deep.equal([i + 1, i + 1, i + 1]));
    expect(Array.from(labels)).to.deep.equal([0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3]);
    features.dispose();
    // Every input batch was disposed too.
    expect(tf.memory().numTensors).to.equal(before);
  });

  it('disposes the batch and restores the mode when the backbone throws', async () => {
    const bb = new MeanBackbone();
    bb.forward = () => {
      throw new Error('boom');
    };
    const before = tf.memory().numTensors;
    let err: Error | null = null;
    await extractFeatures(bb, batches([3])).catch((e: Error) => (err = e));
    expect(err!.message).to.equal('boom');
    expect(bb.training).to.equal(true);
    expect(tf.memory().numTensors).to.equal(before);
  });

  it('balancedSubset takes classes in turn, in dataset order, sorted', () => {
    // Labels cycle 0..3 (the generated dataset): a stride of 2 would give classes 0 and 2 only.
    const cyc = (i: number): number => i % 4;
    expect(balancedSubset(16, cyc, 8)).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7]);
    // Class by class (an image folder): 3 of class 0, 2 of class 1, 5 of class 2.
    const folder = [0, 0, 0, 1, 1, 2, 2, 2, 2, 2];
    expect(balancedSubset(10, (i) => folder[i], 4)).to.deep.equal([0, 1, 3, 5]);
    expect(balancedSubset(10, (i) => folder[i], 8)).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7]);
    // A class that runs out leaves the rest to the others.
    expect(balancedSubset(10, (i) => folder[i], 9)).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(balancedSubset(3, cyc, 10)).to.deep.equal([0, 1, 2]);
    expect(balancedSubset(3, cyc, undefined)).to.deep.equal([0, 1, 2]);
    expect(() => balancedSubset(3, cyc, 0)).to.throw(/positive integer/);
  });
});
