import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { expectClose } from '../../helpers/reference';
import { inMode, kernelModes, valueAndGrads } from './compare';

describe('wasm Exp matches the cpu backend', () => {
  after(async () => {
    await tf.setBackend('cpu');
  });

  for (const mode of kernelModes()) {
    it(`values and gradient on odd sizes, |x| up to 30 [${mode}]`, () =>
      inMode(mode, async () => {
        const f = (x: tf.Tensor) => tf.exp(tf.mul(x, 30));
        for (const shape of [[7], [3, 5, 13], [257, 33]]) {
          const ops = [{ shape, seed: 41 }];
          const ref = await valueAndGrads('cpu', f, ops);
          const got = await valueAndGrads('wasm', f, ops);
          expectClose(got.y, ref.y, { rtol: 3e-7, atol: 0, what: `exp ${shape}` });
          expectClose(got.grads[0], ref.grads[0], { rtol: 1e-6, atol: 0, what: `dexp ${shape}` });
        }
      }),
    );

    it(`edge values: overflow, underflow, infinities, NaN [${mode}]`, () =>
      inMode(mode, async () => {
        const xs = [-Infinity, -1000, -87.3, -20, -1e-8, 0, 1e-8, 1, 20, 88, 88.72, 88.73, 1000, Infinity, NaN];
        const run = async (b: 'cpu' | 'wasm') => {
          if (b === 'wasm') await valueAndGrads('wasm', (x) => x, [{ shape: [1], seed: 1 }]);
          else await tf.setBackend('cpu');
          return tf.tidy(() => Array.from(tf.exp(tf.tensor1d(xs)).dataSync()));
        };
        const cpu = await run('cpu');
        const wasm = await run('wasm');
        expect(Number.isNaN(wasm[xs.length - 1])).to.equal(true);
        const finite = xs.length - 4; // the last four give Infinity x3, NaN
        expectClose(wasm.slice(0, finite), cpu.slice(0, finite), { rtol: 3e-7, atol: 1.2e-38, what: 'exp edges' });
        expect(wasm.slice(finite, -1)).to.deep.equal([Infinity, Infinity, Infinity]);
        expect(cpu.slice(finite, -1)).to.deep.equal([Infinity, Infinity, Infinity]);
      }),
    );
  }
});
