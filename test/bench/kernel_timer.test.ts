import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { KernelTimer } from '../../bench/kernel_timer';

describe('bench KernelTimer', () => {
  it('counts top-level kernel calls only while measuring, and restores the kernels', () => {
    const before = tf.getKernel('Add', 'cpu')?.kernelFunc;
    const timer = new KernelTimer('cpu');
    try {
      const a = tf.tensor1d([1, 2, 3]);
      tf.add(a, a).dispose(); // not measuring: not counted
      timer.measuring = true;
      tf.add(a, a).dispose();
      tf.add(a, a).dispose();
      tf.mul(a, a).dispose();
      timer.measuring = false;
      a.dispose();
      const shares = timer.report(2, 1000);
      const byName = new Map(shares.map((s) => [s.kernel, s]));
      expect(byName.get('Add')?.calls).to.equal(1); // 2 calls over 2 steps
      expect(byName.get('Multiply')?.calls).to.equal(0.5);
      expect(shares.reduce((s, k) => s + k.share, 0)).to.be.within(0, 1);
    } finally {
      timer.restore();
    }
    expect(tf.getKernel('Add', 'cpu')?.kernelFunc).to.equal(before);
  });
});
