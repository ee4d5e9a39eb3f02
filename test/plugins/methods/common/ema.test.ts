import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { EmaUpdater, emaUpdate } from '../../../../plugins/methods/common/ema';
import { Rng } from '../../../../src/core/rng';
import { BatchNorm1d } from '../../../../src/nn/batchnorm';
import { Linear } from '../../../../src/nn/linear';
import { Module } from '../../../../src/nn/module';
import { expectClose } from '../../../helpers/reference';

class Net extends Module {
  constructor(rng: Rng, width = 3) {
    super();
    this.addModule('fc', new Linear(2, width, rng));
    this.addModule('bn', new BatchNorm1d(width));
  }
}

const values = (m: Module) => m.namedParameters().map((p) => Array.from(p.variable.dataSync()));

describe('plugins/methods/common/ema', () => {
  it('target <- m target + (1 - m) online for every parameter; buffers are left to the target', () => {
    const target = new Net(new Rng(1));
    const online = new Net(new Rng(2));
    const bufferOnline = online.namedBuffers().find((b) => b.name === 'bn.running_mean')!;
    bufferOnline.variable.assign(tf.fill([3], 5));
    const t0 = values(target);
    const o0 = values(online);
    new EmaUpdater(target, online).update(0.75);
    values(target).forEach((v, i) => expectClose(v, t0[i].map((t, j) => 0.75 * t + 0.25 * o0[i][j]), { rtol: 1e-6 }));
    expect(Array.from(target.namedBuffers().find((b) => b.name === 'bn.running_mean')!.variable.dataSync())).to.deep.equal([0, 0, 0]);
    target.dispose();
    online.dispose();
  });

  it('m = 1 leaves the target exactly unchanged; m = 0 copies the online network', () => {
    const target = new Net(new Rng(3));
    const online = new Net(new Rng(4));
    const t0 = values(target);
    const ema = new EmaUpdater(target, online);
    ema.update(1);
    expect(values(target)).to.deep.equal(t0);
    ema.update(0);
    expect(values(target)).to.deep.equal(values(online));
    expect(() => ema.update(1.5)).to.throw(/momentum/);
    target.dispose();
    online.dispose();
  });

  it('refuses networks of different architecture and leaks nothing per update', () => {
    const a = new Net(new Rng(5));
    const b = new Net(new Rng(6), 4);
    expect(() => new EmaUpdater(a, b)).to.throw(/EMA/);
    const c = new Net(new Rng(7));
    const before = tf.memory().numTensors;
    emaUpdate(a, c, 0.9);
    expect(tf.memory().numTensors).to.equal(before);
    [a, b, c].forEach((m) => m.dispose());
  });
});
