import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { Rng } from '../../src/core/rng';
import { Conv2d } from '../../src/nn/conv2d';
import { Linear } from '../../src/nn/linear';
import { countMacs } from '../../src/nn/macs';

describe('nn/macs', () => {
  it('counts conv, depth-wise conv and linear MACs (out elements x fan-in)', () => {
    const conv = new Conv2d(3, 8, 3, new Rng(0), { stride: 2, padding: 1 });
    const dw = new Conv2d(8, 8, 3, new Rng(0), { groups: 8, padding: 1 });
    const lin = new Linear(8, 5, new Rng(0));
    const x = tf.zeros([2, 8, 8, 3]) as tf.Tensor4D;
    let inner = 0;
    const total = countMacs(() => {
      const y = conv.forward(x); // [2, 4, 4, 8]: 256 outputs x 27
      inner = countMacs(() => dw.forward(y)); // 256 outputs x 9
      lin.forward(tf.zeros([2, 8]) as tf.Tensor2D); // 10 outputs x 8
    });
    expect(inner).to.equal(256 * 9);
    expect(total).to.equal(256 * 27 + 256 * 9 + 80);
    // nothing is counted outside countMacs
    conv.forward(x);
    expect(countMacs(() => undefined)).to.equal(0);
    [conv, dw, lin].forEach((m) => m.dispose());
  });
});
