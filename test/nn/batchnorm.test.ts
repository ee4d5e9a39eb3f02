import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { Rng } from '../../src/core/rng';
import { BatchNorm1d, BatchNorm2d, RowGroupBatchNorm1d } from '../../src/nn/batchnorm';
import { expectClose } from '../helpers/reference';

/** Per-channel mean, biased and unbiased variance of a channels-last array, in float64. */
function channelStats(data: ArrayLike<number>, c: number): { mean: number[]; biased: number[]; unbiased: number[] } {
  const m = data.length / c;
  const mean = new Array<number>(c).fill(0);
  const sq = new Array<number>(c).fill(0);
  for (let i = 0; i < data.length; i++) mean[i % c] += data[i] / m;
  for (let i = 0; i < data.length; i++) sq[i % c] += (data[i] - mean[i % c]) ** 2;
  return { mean, biased: sq.map((s) => s / m), unbiased: sq.map((s) => s / (m - 1)) };
}

function randomInput(shape: number[], seed: number): tf.Tensor {
  const rng = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = 3 + 2 * rng.normal() + (i % shape[shape.length - 1]);
  return tf.tensor(d, shape);
}

describe('nn/BatchNorm', () => {
  it('has torch parameter and buffer names, kinds and initial values', () => {
    const bn = new BatchNorm2d(3);
    expect(bn.namedParameters().map((p) => [p.name, p.kind])).to.deep.equal([
      ['weight', 'norm'],
      ['bias', 'norm'],
    ]);
    expect(bn.namedBuffers().map((b) => b.name)).to.deep.equal(['running_mean', 'running_var', 'num_batches_tracked']);
    expect(Array.from(bn.weight!.dataSync())).to.deep.equal([1, 1, 1]);
    expect(Array.from(bn.runningVar.dataSync())).to.deep.equal([1, 1, 1]);
    expect(bn.numBatchesTracked.dtype).to.equal('int32');
    bn.dispose();
  });

  it('BatchNorm2d in training normalises with batch stats and updates running stats like torch', () => {
    const c = 3;
    const bn = new BatchNorm2d(c, { momentum: 0.1, eps: 1e-5 });
    bn.weight!.assign(tf.tensor1d([1, 2, 0.5]));
    bn.bias!.assign(tf.tensor1d([0, -1, 3]));
    const x = randomInput([2, 4, 5, c], 1);
    const xd = x.dataSync();
    const s = channelStats(xd, c);
    const y = bn.forward(x as tf.Tensor4D).dataSync();
    const w = [1, 2, 0.5];
    const b = [0, -1, 3];
    const expected = Array.from(xd, (v, i) => ((v - s.mean[i % c]) / Math.sqrt(s.biased[i % c] + 1e-5)) * w[i % c] + b[i % c]);
    expectClose(y, expected, { rtol: 1e-4, atol: 1e-4, what: 'y' });
    // running = 0.9 * old + 0.1 * batch (unbiased variance for running_var)
    expectClose(bn.runningMean.dataSync(), s.mean.map((m) => 0.1 * m), { rtol: 1e-5, what: 'running_mean' });
    expectClose(bn.runningVar.dataSync(), s.unbiased.map((v) => 0.9 + 0.1 * v), { rtol: 1e-5, what: 'running_var' });
    expect(bn.numBatchesTracked.dataSync()[0]).to.equal(1);
    // a second step compounds the update
    bn.forward(x as tf.Tensor4D);
    expectClose(bn.runningMean.dataSync(), s.mean.map((m) => 0.9 * 0.1 * m + 0.1 * m), { rtol: 1e-5 });
    expect(bn.numBatchesTracked.dataSync()[0]).to.equal(2);
    bn.dispose();
  });

  it('BatchNorm2d in eval uses running stats and leaves them alone', () => {
    const c = 2;
    const bn = new BatchNorm2d(c).eval();
    bn.runningMean.assign(tf.tensor1d([1, -2]));
    bn.runningVar.assign(tf.tensor1d([4, 0.25]));
    bn.weight!.assign(tf.tensor1d([3, 1]));
    bn.bias!.assign(tf.tensor1d([0.5, 0]));
    const x = randomInput([2, 3, 3, c], 2);
    const xd = x.dataSync();
    const y = bn.forward(x as tf.Tensor4D).dataSync();
    const rm = [1, -2];
    const rv = [4, 0.25];
    const expected = Array.from(xd, (v, i) => ((v - rm[i % c]) / Math.sqrt(rv[i % c] + 1e-5)) * [3, 1][i % c] + [0.5, 0][i % c]);
    expectClose(y, expected, { rtol: 1e-5, atol: 1e-5 });
    expectClose(bn.runningMean.dataSync(), rm);
    expect(bn.numBatchesTracked.dataSync()[0]).to.equal(0);
    bn.dispose();
  });

  it('train and eval outputs differ until running stats match the batch', () => {
    const bn = new BatchNorm1d(4);
    const x = randomInput([8, 4], 3) as tf.Tensor2D;
    const yTrain = bn.forward(x).dataSync();
    const yEval = bn.eval().forward(x).dataSync();
    expect(Math.abs(yTrain[0] - yEval[0])).to.be.above(0.1);
    bn.dispose();
  });

  it('BatchNorm1d matches the torch formula on [B, C] and rejects batch 1 in training', () => {
    const c = 4;
    const bn = new BatchNorm1d(c, { momentum: 0.3 });
    const x = randomInput([5, c], 4) as tf.Tensor2D;
    const xd = x.dataSync();
    const s = channelStats(xd, c);
    const y = bn.forward(x).dataSync();
    expectClose(y, Array.from(xd, (v, i) => (v - s.mean[i % c]) / Math.sqrt(s.biased[i % c] + 1e-5)), { rtol: 1e-4, atol: 1e-4 });
    expectClose(bn.runningVar.dataSync(), s.unbiased.map((v) => 0.7 + 0.3 * v), { rtol: 1e-5 });
    expect(() => bn.forward(tf.zeros([1, c]) as tf.Tensor2D)).to.throw(/more than 1 value per channel/);
    bn.dispose();
  });

  it('RowGroupBatchNorm1d: each row group normalised with its own statistics; running stats once per group', () => {
    const x = randomInput([10, 3], 11) as tf.Tensor2D;
    const grouped = new RowGroupBatchNorm1d(3, { affine: false });
    const plain = new BatchNorm1d(3, { affine: false });
    grouped.train();
    plain.train();
    grouped.rowGroups = [4, 6];
    const y = grouped.forward(x);
    const parts = tf.split(x, [4, 6], 0).map((p) => plain.forward(p as tf.Tensor2D));
    const expected = tf.concat(parts, 0);
    expectClose(y.dataSync(), expected.dataSync(), { rtol: 1e-5, atol: 1e-6, what: 'grouped forward' });
    expectClose(grouped.runningMean.dataSync(), plain.runningMean.dataSync(), { rtol: 1e-6, atol: 1e-7, what: 'running mean' });
    expect(grouped.numBatchesTracked.dataSync()[0]).to.equal(2);
    // Gradients flow through the split.
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.square(grouped.forward(t as tf.Tensor2D))))(x);
    expect(g.shape).to.deep.equal([10, 3]);
    expect(Array.from(g.dataSync()).every(Number.isFinite)).to.equal(true);
    grouped.rowGroups = [4, 5];
    expect(() => grouped.forward(x)).to.throw(/row groups \[4,5\] do not split a batch of 10 rows/);
    // Eval mode ignores the groups.
    grouped.rowGroups = [4, 6];
    grouped.eval();
    plain.eval();
    plain.runningMean.assign(grouped.runningMean);
    plain.runningVar.assign(grouped.runningVar);
    const ye = grouped.forward(x);
    const pe = plain.forward(x);
    expectClose(ye.dataSync(), pe.dataSync(), { rtol: 1e-6, atol: 1e-7, what: 'eval mode' });
    tf.dispose([x, y, expected, g, ye, pe, ...parts]);
    grouped.dispose();
    plain.dispose();
  });
});
