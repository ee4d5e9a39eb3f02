import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { LayerNorm } from '../../src/nn/layernorm';
import { expectClose } from '../helpers/reference';

describe('nn/LayerNorm', () => {
  it('normalises the last axis with biased variance, then scales and shifts', () => {
    const ln = new LayerNorm(4, { eps: 1e-6 });
    ln.weight!.assign(tf.tensor1d([1, 2, 1, 1]));
    ln.bias!.assign(tf.tensor1d([0, 0, 0, 1]));
    const y = ln.forward(tf.tensor2d([[1, 2, 3, 4]]));
    const sd = Math.sqrt(1.25 + 1e-6);
    expectClose(y.dataSync(), [-1.5 / sd, (2 * -0.5) / sd, 0.5 / sd, 1.5 / sd + 1], { rtol: 1e-5 });
    expect(ln.namedParameters().map((p) => [p.name, p.kind])).to.deep.equal([
      ['weight', 'norm'],
      ['bias', 'norm'],
    ]);
    ln.dispose();
  });
});
