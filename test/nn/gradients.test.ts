import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { ensureGradients, gradientsRegistered } from '../../src/nn/gradients';
import { expectClose } from '../helpers/reference';

describe('nn/gradients', () => {
  it('registers tfjs-core kernel gradients that the CommonJS bundle lacks (idempotent)', async () => {
    await ensureGradients();
    await ensureGradients();
    expect(gradientsRegistered()).to.equal(true);
    // d/dx mean(x^2) = 2x / n
    const g = tf.grad((x: tf.Tensor) => tf.mean(tf.square(x)))(tf.tensor1d([1, 2, 3]));
    expectClose(g.dataSync(), [2 / 3, 4 / 3, 2]);
  });
});
