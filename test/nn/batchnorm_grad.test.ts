import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { Rng } from '../../src/core/rng';
import { BatchNorm1d, BatchNorm2d } from '../../src/nn/batchnorm';
import { expectClose } from '../helpers/reference';
import { ensureGradients } from '../../src/nn/gradients';

function randomInput(shape: number[], seed: number): tf.Tensor {
  const rng = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = 3 + 2 * rng.normal() + (i % shape[shape.length - 1]);
  return tf.tensor(d, shape);
}

describe('nn/BatchNorm gradients', () => {
  before(() => ensureGradients());

  it('gradients flow through batch statistics but not into the running-stat buffers, without leaks', () => {
    const bn = new BatchNorm2d(3);
    const x = randomInput([2, 3, 3, 3], 5) as tf.Tensor4D;
    const target = randomInput([2, 3, 3, 3], 6);
    const step = () =>
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(tf.sub(bn.forward(x), target))) as tf.Scalar);
        expect(Object.keys(grads).sort()).to.deep.equal([bn.bias!.name, bn.weight!.name].sort());
        // sum of dL/dx-style gradient is not checked here; the weight grad must be non-zero
        expect(Math.abs(grads[bn.weight!.name].dataSync()[0])).to.be.above(0);
        return value;
      });
    step().dispose();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) step().dispose();
    expect(tf.memory().numTensors).to.equal(before);
    expect(bn.numBatchesTracked.dataSync()[0]).to.equal(4);
    bn.dispose();
    tf.dispose([x, target]);
  });

  it('a mean over the batch of the normalised output is zero (gradient of batch mean is consistent)', () => {
    // d/dx of sum(BN(x)) is 0 in training mode: the batch mean absorbs any shift.
    const bn = new BatchNorm1d(2);
    const x = randomInput([6, 2], 7) as tf.Tensor2D;
    const g = tf.grad((xx: tf.Tensor) => tf.sum(bn.forward(xx as tf.Tensor2D)))(x);
    expectClose(g.dataSync(), new Array(12).fill(0), { atol: 1e-5 });
    bn.dispose();
  });
  it('hand-written backward equals autodiff of the plain formula (dx, dweight, dbias; 2-d and 1-d)', async () => {
    await ensureGradients();
    // Independent reference: BN from plain tf ops (tf.moments), differentiated by tfjs.
    const plain = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const axes = x.shape.slice(0, -1).map((_, i) => i);
      const { mean, variance } = tf.moments(x, axes);
      return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), g), b);
    };
    for (const shape of [[2, 3, 4, 5], [6, 5]]) {
      const x = randomInput(shape, 11);
      const r = randomInput(shape, 12);
      const bn = shape.length === 4 ? new BatchNorm2d(5) : new BatchNorm1d(5);
      bn.weight!.assign(tf.tensor1d([0.5, -1, 2, 1.5, 0]));
      bn.bias!.assign(tf.tensor1d([1, 0, -2, 0.5, 3]));
      const loss = (y: tf.Tensor) => tf.sum(tf.mul(tf.square(y), r));
      const g0 = tf.tensor1d([0.5, -1, 2, 1.5, 0]);
      const b0 = tf.tensor1d([1, 0, -2, 0.5, 3]);
      const ref = tf.grads((xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => loss(plain(xx, g, b)))([x, g0, b0]);
      const { grads } = tf.variableGrads(() => loss((bn as BatchNorm2d).forward(x as tf.Tensor4D)) as tf.Scalar);
      const dx = tf.grad((xx: tf.Tensor) => loss((bn as BatchNorm2d).forward(xx as tf.Tensor4D)))(x);
      expectClose(dx.dataSync(), ref[0].dataSync(), { rtol: 1e-3, atol: 1e-4, what: `dx ${shape}` });
      expectClose(grads[bn.weight!.name].dataSync(), ref[1].dataSync(), { rtol: 1e-4, atol: 1e-4, what: `dweight ${shape}` });
      expectClose(grads[bn.bias!.name].dataSync(), ref[2].dataSync(), { rtol: 1e-4, atol: 1e-4, what: `dbias ${shape}` });
      bn.dispose();
    }
  });

  it('trains without affine parameters (gradient reaches the input only)', async () => {
    await ensureGradients();
    const bn = new BatchNorm2d(3, { affine: false });
    expect(bn.namedParameters()).to.deep.equal([]);
    const x = randomInput([2, 2, 2, 3], 13);
    const dx = tf.grad((xx: tf.Tensor) => tf.sum(tf.square(bn.forward(xx as tf.Tensor4D))))(x);
    // sum(xhat^2) = m per channel whatever x is (up to eps), so dx is ~0
    expectClose(dx.dataSync(), new Array(24).fill(0), { atol: 1e-3 });
    bn.dispose();
  });
});
