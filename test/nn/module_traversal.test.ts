import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { Rng } from '../../src/core/rng';
import { BatchNorm2d } from '../../src/nn/batchnorm';
import { Conv2d } from '../../src/nn/conv2d';
import { ModuleList } from '../../src/nn/container';

describe('nn/Module: modules() and setTrainable()', () => {
  it('lists descendants depth-first and freezes / unfreezes a subtree', () => {
    const root = new ModuleList();
    const conv = root.push(new Conv2d(3, 4, 3, new Rng(0), { bias: true }));
    const inner = root.push(new ModuleList());
    const bn = inner.push(new BatchNorm2d(4));
    expect(root.modules()).to.deep.equal([root, conv, inner, bn]);
    inner.setTrainable(false);
    expect(root.namedParameters().map((p) => [p.name, p.trainable])).to.deep.equal([
      ['0.weight', true], ['0.bias', true], ['1.0.weight', false], ['1.0.bias', false],
    ]);
    expect(root.trainableVariables()).to.have.length(2);
    expect(bn.weight!.trainable).to.equal(false);
    // frozen variables get no gradient from variableGrads' default list
    const { grads } = tf.tidy(() => {
      const x = tf.ones([1, 5, 5, 3]) as tf.Tensor4D;
      return tf.variableGrads(() => tf.sum(bn.forward(conv.forward(x))) as tf.Scalar);
    });
    expect(Object.keys(grads).sort()).to.deep.equal([conv.weight.name, conv.bias!.name].sort());
    Object.values(grads).forEach((g) => g.dispose());
    root.setTrainable(true);
    expect(root.trainableVariables()).to.have.length(4);
    root.dispose();
  });
});
