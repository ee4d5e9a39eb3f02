import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import '../../../plugins/optimizers';
import { Sgd, sgdSchema } from '../../../plugins/optimizers/sgd';
import { expectClose } from '../../helpers/reference';
import { depsFor, disposeMap, makeParam, values } from './util';

/** torch.optim.SGD (dampening 0) on plain numbers, written from its documented update rule. */
function torchSgd(p0: number[], grads: number[][], lr: number, wd: number, momentum: number, nesterov: boolean): number[] {
  const p = p0.slice();
  let buf: number[] | null = null;
  for (const g of grads) {
    const d = g.map((gi, i) => gi + wd * p[i]);
    buf = buf === null ? d.slice() : buf.map((b, i) => momentum * b + d[i]);
    const step = nesterov ? d.map((di, i) => di + momentum * buf![i]) : buf;
    for (let i = 0; i < p.length; i++) p[i] -= lr * step[i];
  }
  return p;
}

describe('plugins/optimizers/sgd', () => {
  const p0 = [0.5, -0.25, 0.125, 1.0];
  const grads = [
    [0.1, -0.2, 0.3, 0.05],
    [-0.05, 0.1, 0.2, -0.3],
    [0.2, 0.2, -0.1, 0.0],
  ];
  for (const nesterov of [false, true]) {
    it(`matches torch's SGD formula over 3 steps (momentum 0.9, wd 0.01, nesterov ${nesterov})`, () => {
      const w = makeParam('w', p0, 'weight', [2, 2]);
      const opt = new Sgd(sgdSchema.parse({ momentum: 0.9, nesterov }), depsFor([w]));
      for (const g of grads) {
        const m = new Map([[w, tf.tensor(g, [2, 2])]]);
        opt.apply(m, { lr: 0.1, weightDecay: 0.01 });
        disposeMap(m);
      }
      expectClose(values(w.variable), torchSgd(p0, grads, 0.1, 0.01, 0.9, nesterov), { rtol: 1e-6, atol: 1e-7, what: 'w' });
      expect([...opt.tensorState().keys()]).to.deep.equal(['w.momentum_buffer']);
      opt.dispose();
    });
  }

  it('does not decay biases unless decay_bias_and_norm is set', () => {
    for (const decay of [false, true]) {
      const b = makeParam('b', p0, 'bias', [4]);
      const opt = new Sgd(sgdSchema.parse({ momentum: 0, decay_bias_and_norm: decay }), depsFor([b]));
      const m = new Map([[b, tf.tensor(grads[0])]]);
      opt.apply(m, { lr: 0.1, weightDecay: 0.5 });
      disposeMap(m);
      expectClose(values(b.variable), torchSgd(p0, [grads[0]], 0.1, decay ? 0.5 : 0, 0, false), { rtol: 1e-6, atol: 1e-7 });
      expect(opt.tensorState().size).to.equal(0); // no buffer without momentum
    }
  });

  it('paper semi-supervised defaults: lr 0.03 x batch/256 cosine to 1e-6, no warm-up', () => {
    const opt = new Sgd(sgdSchema.parse({ nesterov: true }), { params: [], batchSize: 1024, epochs: 30, stepsPerEpoch: 10 });
    expect(opt.hyperAt(0).lr).to.be.closeTo(0.12, 1e-12);
    expect(opt.hyperAt(299).lr).to.be.closeTo(1e-6, 1e-5);
    expect(() => sgdSchema.parse({ momentum: 0, nesterov: true })).to.throw(/nesterov/);
  });
});
