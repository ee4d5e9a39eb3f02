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
});
