import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { expectClose } from '../../helpers/reference';
import { inMode, kernelModes, valueAndGrads } from './compare';

describe('wasm MaxPoolGrad matches the cpu backend', () => {
  after(async () => {
    await tf.setBackend('cpu');
  });

  const cases: Array<{ shape: number[]; k: number | [number, number]; s: number | [number, number]; pad: 'valid' | 'same' | number }> = [
    { shape: [2, 9, 11, 5], k: 3, s: 2, pad: 1 }, // ResNet stem pool, odd sizes
    { shape: [3, 8, 8, 4], k: 2, s: 2, pad: 'valid' },
    { shape: [1, 7, 6, 3], k: 3, s: 1, pad: 'same' }, // overlapping windows, stride 1
    { shape: [2, 10, 7, 6], k: [3, 2], s: [2, 3], pad: 'same' },
  ];
  for (const mode of kernelModes()) {
    for (const c of cases) {
      for (const ties of [false, true]) {
        it(`${c.shape.join('x')} k${c.k} s${c.s} pad ${c.pad}${ties ? ', ReLU zeros (ties)' : ''} [${mode}]`, () =>
          inMode(mode, async () => {
            // With ties, most windows hold several equal zeros: the first one in scan order takes dy on cpu.
            const f = (x: tf.Tensor) => tf.maxPool((ties ? tf.relu(tf.sub(x, 0.5)) : x) as tf.Tensor4D, c.k, c.s, c.pad);
            const ops = [{ shape: c.shape, seed: 31 }];
            const ref = await valueAndGrads('cpu', f, ops);
            const got = await valueAndGrads('wasm', f, ops);
            expectClose(got.y, ref.y, { rtol: 0, atol: 0, what: 'y' });
            expectClose(got.grads[0], ref.grads[0], { rtol: 1e-6, atol: 1e-7, what: 'dx' });
          }),
        );
      }
    }
    it(`a window of negative values sends dy to its maximum, not its first pixel [${mode}]`, () =>
      inMode(mode, async () => {
        await valueAndGrads('wasm', (x) => x, [{ shape: [1], seed: 1 }]);
        const g = tf.tidy(() => Array.from(tf.grad((t: tf.Tensor) => tf.sum(tf.maxPool(t as tf.Tensor4D, 2, 2, 'valid')))(tf.tensor4d([-3, -1, -2, -4], [1, 2, 2, 1])).dataSync()));
        expect(g).to.deep.equal([0, 1, 0, 0]);
      }),
    );
    it(`no leaked tensors or buffers [${mode}]`, () =>
      inMode(mode, async () => {
        await valueAndGrads('wasm', (x) => x, [{ shape: [1], seed: 1 }]);
        const x = tf.randomNormal([2, 9, 9, 4]);
        const step = () => tf.tidy(() => tf.grad((t: tf.Tensor) => tf.sum(tf.maxPool(t as tf.Tensor4D, 3, 2, 1)))(x).dataSync());
        step();
        const tensors = tf.memory().numTensors;
        const buffers = tf.backend().numDataIds();
        step();
        expect(tf.memory().numTensors).to.equal(tensors);
        expect(tf.backend().numDataIds()).to.equal(buffers);
        x.dispose();
      }),
    );
  }
});
