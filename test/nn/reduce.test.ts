import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { Rng } from '../../src/core/rng';
import { meanOverHW, meanOverLeading } from '../../src/nn/reduce';
import { ensureGradients } from '../../src/nn/gradients';
import { expectClose } from '../helpers/reference';

function rand(shape: number[], seed: number): tf.Tensor {
  const rng = new Rng(seed);
  return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()), shape);
}

describe('nn/reduce', () => {
  before(() => ensureGradients());

  it('meanOverLeading equals tf.mean over the leading axes, value and gradient', () => {
    const x = rand([2, 3, 4, 5], 1);
    const w = rand([5], 2);
    expectClose(meanOverLeading(x).dataSync(), tf.mean(x, [0, 1, 2]).dataSync(), { rtol: 1e-5, atol: 1e-6 });
    const ours = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.square(meanOverLeading(t)), w)))(x);
    const ref = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.square(tf.mean(t, [0, 1, 2])), w)))(x);
    expect(ours.shape).to.deep.equal(x.shape);
    expectClose(ours.dataSync(), ref.dataSync(), { rtol: 1e-5, atol: 1e-7 });
  });

  it('meanOverHW equals tf.mean over H and W, value and gradient', () => {
    const x = rand([2, 3, 4, 5], 3) as tf.Tensor4D;
    const w = rand([2, 5], 4);
    expectClose(meanOverHW(x).dataSync(), tf.mean(x, [1, 2]).dataSync(), { rtol: 1e-5, atol: 1e-6 });
    const ours = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.square(meanOverHW(t as tf.Tensor4D)), w)))(x);
    const ref = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.square(tf.mean(t, [1, 2])), w)))(x);
    expectClose(ours.dataSync(), ref.dataSync(), { rtol: 1e-5, atol: 1e-7 });
  });

  it('backward is linear in the row count (AvgPoolGrad would be quadratic: minutes here)', () => {
    const x = tf.ones([200000, 2]);
    const t0 = Date.now();
    const g = tf.grad((t: tf.Tensor) => tf.sum(meanOverLeading(t)))(x);
    expect(g.dataSync()[123]).to.be.closeTo(1 / 200000, 1e-12);
    expect(Date.now() - t0).to.be.below(5000);
    tf.dispose([x, g]);
  });
});
