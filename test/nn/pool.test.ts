import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { globalAvgPool, maxPool2d } from '../../src/nn/pool';
import { expectClose } from '../helpers/reference';

describe('nn/pool', () => {
  it('globalAvgPool averages over H and W per image and channel', () => {
    // [2, 2, 2, 2]: image 0 channel 0 = 0..3 -> 1.5, channel 1 = 10 * that -> 15
    const d: number[] = [];
    for (let b = 0; b < 2; b++) for (let i = 0; i < 4; i++) d.push(i + b * 100, 10 * (i + b * 100));
    const y = globalAvgPool(tf.tensor4d(d, [2, 2, 2, 2]));
    expect(y.shape).to.deep.equal([2, 2]);
    expectClose(y.dataSync(), [1.5, 15, 101.5, 1015]);
  });

  it('maxPool2d(3, 2, 1) follows torch: padding never wins, floor output size', () => {
    // 4x4 all negative: torch output [2, 2]; a zero pad would wrongly give 0s.
    const x = tf.tensor4d(Array.from({ length: 16 }, (_, i) => -1 - i), [1, 4, 4, 1]);
    const y = maxPool2d(x, 3, 2, 1);
    expect(y.shape).to.deep.equal([1, 2, 2, 1]);
    // windows rows/cols {-1..1}, {1..3}: max of -1-(4r+c)
    expectClose(y.dataSync(), [-1, -2, -5, -6]);
  });
});
