import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { MocoHead } from '../../../../plugins/methods/mocov2/head';
import { Rng } from '../../../../src/core/rng';
import { moduleStateDict } from '../../../../src/nn/state_dict';
import { expectClose } from '../../../helpers/reference';

describe('plugins/methods/mocov2/head', () => {
  it('MoCo-v2 MLP: Linear(in, hidden) - ReLU - Linear(hidden, out), torch names mlp.0 / mlp.2 and torch shapes', () => {
    const h = new MocoHead({ inDim: 6, outDim: 4, hiddenDim: 10 }, new Rng(0));
    const sd = moduleStateDict(h);
    expect([...sd.keys()]).to.deep.equal(['mlp.0.weight', 'mlp.0.bias', 'mlp.2.weight', 'mlp.2.bias']);
    expect(['mlp.0.weight', 'mlp.0.bias', 'mlp.2.weight', 'mlp.2.bias'].map((n) => sd.get(n)!.shape)).to.deep.equal([[10, 6], [10], [4, 10], [4]]);
    h.dispose();
    // SSLight's _init_weights: trunc_normal_(std=.02) weights (truncated at +-2, i.e. a plain
    // N(0, 0.02^2) in practice), zero biases.
    const big = new MocoHead({ inDim: 64, outDim: 32, hiddenDim: 128 }, new Rng(0));
    const [w0, b0, w2, b2] = big.namedParameters().map((p) => Array.from(p.variable.dataSync()));
    expect(b0.concat(b2).every((v) => v === 0)).to.equal(true);
    const w = w0.concat(w2);
    const std = Math.sqrt(w.reduce((a, v) => a + v * v, 0) / w.length);
    expect(std).to.be.within(0.019, 0.021);
    big.dispose();
  });

  it('forward = relu(x W1 + b1) W2 + b2, without normalisation', () => {
    const h = new MocoHead({ inDim: 3, outDim: 2, hiddenDim: 4 }, new Rng(1));
    const [w1, b1, w2, b2] = h.namedParameters().map((p) => p.variable);
    tf.tidy(() => {
      b1.assign(tf.tensor1d([0.5, -0.5, 0.1, -2]));
      b2.assign(tf.tensor1d([1, -1]));
      w1.assign(tf.mul(w1, 50));
      const x = tf.tensor2d([[1, -2, 3], [0.5, 0.2, -1]]);
      const want = tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(x, w1), b1)), w2), b2);
      const got = h.forward(x);
      expect(got.shape).to.deep.equal([2, 2]);
      expectClose(got.dataSync(), want.dataSync(), { rtol: 1e-6, atol: 1e-7, what: 'head output' });
      // Some hidden unit is cut by the ReLU, so the check is not of an affine map.
      expect(Array.from(tf.add(tf.matMul(x, w1), b1).dataSync()).some((v) => v < 0)).to.equal(true);
    });
    h.dispose();
  });

  it('n_layers 1 is a single Linear (mlp.weight); BN in the head adds mlp.1 and shifts the last Linear to mlp.3', () => {
    const one = new MocoHead({ inDim: 5, outDim: 3, nLayers: 1 }, new Rng(2));
    expect(one.namedParameters().map((p) => p.name)).to.deep.equal(['mlp.weight', 'mlp.bias']);
    const bn = new MocoHead({ inDim: 5, outDim: 3, hiddenDim: 8, useBn: true }, new Rng(2));
    expect([...moduleStateDict(bn).keys()]).to.deep.equal([
      'mlp.0.weight', 'mlp.0.bias', 'mlp.1.weight', 'mlp.1.bias', 'mlp.3.weight', 'mlp.3.bias',
      'mlp.1.running_mean', 'mlp.1.running_var', 'mlp.1.num_batches_tracked',
    ]);
    const three = new MocoHead({ inDim: 5, outDim: 3, hiddenDim: 8, nLayers: 3 }, new Rng(2));
    expect(three.namedParameters().map((p) => p.name)).to.deep.equal(['mlp.0.weight', 'mlp.0.bias', 'mlp.2.weight', 'mlp.2.bias', 'mlp.4.weight', 'mlp.4.bias']);
    tf.tidy(() => {
      expect(three.forward(tf.ones([2, 5]) as tf.Tensor2D).shape).to.deep.equal([2, 3]);
    });
    [one, bn, three].forEach((m) => m.dispose());
  });

  it('last_bn: BN without affine after the output Linear; each batch of outputs is centred', () => {
    const h = new MocoHead({ inDim: 5, outDim: 3, hiddenDim: 8, lastBn: true }, new Rng(4));
    expect([...moduleStateDict(h).keys()]).to.deep.equal([
      'mlp.0.weight', 'mlp.0.bias', 'mlp.2.weight', 'mlp.2.bias',
      'mlp.3.running_mean', 'mlp.3.running_var', 'mlp.3.num_batches_tracked',
    ]);
    h.train();
    tf.tidy(() => {
      const y = h.forward(tf.add(tf.randomNormal([16, 5], 0, 1, 'float32', 3), 2) as tf.Tensor2D);
      const { mean, variance } = tf.moments(y, 0);
      for (const m of mean.dataSync()) expect(Math.abs(m)).to.be.below(1e-5);
      // var / (var + eps): below 1 for the tiny outputs of the std-0.02 initialisation.
      for (const v of variance.dataSync()) expect(v).to.be.within(0.01, 1);
    });
    const single = new MocoHead({ inDim: 5, outDim: 3, nLayers: 1, lastBn: true }, new Rng(4));
    expect([...moduleStateDict(single).keys()].slice(0, 3)).to.deep.equal(['mlp.0.weight', 'mlp.0.bias', 'mlp.1.running_mean']);
    [h, single].forEach((m) => m.dispose());
  });
});
