import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { Rng } from '../../src/core/rng';
import { Linear } from '../../src/nn/linear';
import { expectClose } from '../helpers/reference';

describe('nn/Linear', () => {
  it('stores the weight [in, out] with torch names, kinds and layout', () => {
    const lin = new Linear(6, 4, new Rng(0));
    const ps = lin.namedParameters();
    expect(ps.map((p) => [p.name, p.kind, p.layout, p.variable.shape])).to.deep.equal([
      ['weight', 'weight', 'linear', [6, 4]],
      ['bias', 'bias', 'same', [4]],
    ]);
    expect(lin.numParameters()).to.equal(28);
    lin.dispose();
  });

  it('computes x W + b', () => {
    const lin = new Linear(3, 2, new Rng(0));
    lin.weight.assign(tf.tensor2d([[1, 2], [3, 4], [5, 6]]));
    lin.bias!.assign(tf.tensor1d([0.5, -1]));
    const y = lin.forward(tf.tensor2d([[1, 0, -1], [2, 1, 0]]));
    expectClose(y.dataSync(), [1 - 5 + 0.5, 2 - 6 - 1, 2 + 3 + 0.5, 4 + 4 - 1]);
    expect(y.shape).to.deep.equal([2, 2]);
    lin.dispose();
  });

  it('torch init is U(±1/sqrt(in)) for weight and bias; trunc_normal init has zero bias', () => {
    const lin = new Linear(16, 300, new Rng(1));
    const w = lin.weight.dataSync();
    const b = lin.bias!.dataSync();
    expect(Math.max(...Array.from(w).map(Math.abs))).to.be.at.most(0.25);
    expect(Math.max(...Array.from(w).map(Math.abs))).to.be.above(0.24);
    expect(Math.max(...Array.from(b).map(Math.abs))).to.be.at.most(0.25);
    const tn = new Linear(16, 300, new Rng(1), { init: 'trunc_normal' });
    expect(Array.from(tn.bias!.dataSync()).every((v) => v === 0)).to.equal(true);
    expect(Math.max(...Array.from(tn.weight.dataSync()).map(Math.abs))).to.be.below(0.15);
    lin.dispose();
    tn.dispose();
  });

  it('can be built without bias', () => {
    const lin = new Linear(5, 3, new Rng(0), { bias: false });
    expect(lin.bias).to.equal(null);
    expect(lin.namedParameters().map((p) => p.name)).to.deep.equal(['weight']);
    lin.dispose();
  });

  it('rejects an input with the wrong width', () => {
    const lin = new Linear(5, 3, new Rng(0));
    expect(() => lin.forward(tf.zeros([2, 4]) as tf.Tensor2D)).to.throw(/expected input \[B, 5\]/);
    lin.dispose();
  });
});
