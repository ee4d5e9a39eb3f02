import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { expectClose } from '../../helpers/reference';
import { inMode, kernelModes, valueAndGrads, values } from './compare';

describe('wasm Sum/Mean over leading axes, Relu6 gradient and Slice match the cpu backend', () => {
  after(async () => {
    await tf.setBackend('cpu');
  });

  const reductions: Array<{ shape: number[]; axis: number[]; keepDims: boolean }> = [
    { shape: [3, 5, 4, 6], axis: [0, 1, 2], keepDims: false }, // batch-norm statistics
    { shape: [3, 5, 4, 6], axis: [0, 1, 2], keepDims: true },
    { shape: [2, 7, 5, 3], axis: [1, 2], keepDims: false }, // global average pooling
    { shape: [9, 4], axis: [0], keepDims: false }, // bias gradient
    { shape: [4, 6, 5], axis: [1], keepDims: true },
    { shape: [3, 5, 4, 6], axis: [0, 2], keepDims: false }, // scattered: shipped kernel
    { shape: [3, 5, 4, 6], axis: [3], keepDims: false }, // innermost: shipped kernel
  ];
  for (const r of reductions) {
    for (const op of ['sum', 'mean'] as const) {
      it(`${op} of ${r.shape.join('x')} over [${r.axis}]${r.keepDims ? ' keepDims' : ''}`, async () => {
        const f = (x: tf.Tensor) => (op === 'sum' ? tf.sum : tf.mean)(x, r.axis, r.keepDims);
        const ops = [{ shape: r.shape, seed: 11 }];
        const ref = await valueAndGrads('cpu', f, ops);
        const got = await valueAndGrads('wasm', f, ops);
        const shapeOn = async (b: string) => {
          await tf.setBackend(b);
          return tf.tidy(() => f(tf.zeros(r.shape)).shape);
        };
        expect(await shapeOn('wasm')).to.deep.equal(await shapeOn('cpu'));
        expectClose(got.y, ref.y, { rtol: 1e-5, atol: 1e-6, what: op });
        expectClose(got.grads[0], ref.grads[0], { rtol: 1e-5, atol: 1e-6, what: `d${op}` });
      });
    }
  }

  for (const mode of kernelModes()) {
    it(`relu6 gradient: 1 on (0, 6], 0 elsewhere, as on cpu [${mode}]`, () => inMode(mode, async () => {
      const xs = [-3, -1e-30, 0, 1e-40, 0.5, 5.9999995, 6, 6.0000005, 7, 1e30, -1e30];
      const run = async (b: 'cpu' | 'wasm') => {
        await tf.setBackend(b);
        return tf.tidy(() => Array.from(tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.relu6(x), 3)))(tf.tensor1d(xs)).dataSync()));
      };
      await valueAndGrads('wasm', (x) => x, [{ shape: [1], seed: 1 }]); // registers the wasm kernels
      const cpu = await run('cpu');
      expect(cpu).to.deep.equal([0, 0, 0, 3, 3, 3, 3, 0, 0, 0, 0]);
      expect(await run('wasm')).to.deep.equal(cpu);
    }));

    it(`relu6 gradient on random inputs [${mode}]`, () => inMode(mode, async () => {
      const f = (x: tf.Tensor) => tf.relu6(tf.mul(x, 8));
      const ops = [{ shape: [4, 5, 6], seed: 5 }];
      const ref = await valueAndGrads('cpu', f, ops);
      const got = await valueAndGrads('wasm', f, ops);
      expectClose(got.grads[0], ref.grads[0], { rtol: 1e-6, atol: 0, what: 'drelu6' });
    }));
  }

  const slices: Array<{ shape: number[]; begin: number[]; size: number[] }> = [
    { shape: [4, 5, 6, 3], begin: [1, 2, 0, 0], size: [2, 3, 6, 3] }, // partial rows
    { shape: [4, 5, 6, 3], begin: [0, 1, 2, 1], size: [4, 3, 2, 2] }, // innermost partial
    { shape: [4, 5, 6, 3], begin: [2, 0, 0, 0], size: [1, -1, -1, -1] }, // one contiguous run
    { shape: [7, 9], begin: [3, 4], size: [2, 5] },
    { shape: [10], begin: [3], size: [4] },
  ];
  for (const c of slices) {
    it(`slice ${c.shape.join('x')} from [${c.begin}] size [${c.size}] (and its gradient)`, async () => {
      const f = (x: tf.Tensor) => tf.slice(x, c.begin, c.size);
      const ops = [{ shape: c.shape, seed: 21 }];
      const ref = await valueAndGrads('cpu', f, ops);
      const got = await valueAndGrads('wasm', f, ops);
      expect(Array.from(got.y)).to.deep.equal(Array.from(ref.y));
      expect(Array.from(got.grads[0])).to.deep.equal(Array.from(ref.grads[0]));
    });
  }
});

describe('wasm Tile matches the cpu backend', () => {
  after(async () => {
    await tf.setBackend('cpu');
  });
  const tiles: Array<{ shape: number[]; reps: number[] }> = [
    { shape: [1, 1, 1, 5], reps: [3, 4, 2, 1] }, // batch-norm gradient pattern
    { shape: [3, 1, 1, 6], reps: [1, 2, 3, 1] }, // global-pool gradient pattern
    { shape: [2, 3], reps: [2, 3] }, // repeats inside the innermost axis
    { shape: [4, 1, 3], reps: [1, 5, 1] },
    { shape: [2, 2, 2], reps: [1, 1, 1] },
    { shape: [5], reps: [7] },
  ];
  for (const c of tiles) {
    it(`tile ${c.shape.join('x')} by [${c.reps}]`, async () => {
      const run = async (b: 'cpu' | 'wasm') => {
        await valueAndGrads(b, (x) => x, [{ shape: [1], seed: 1 }]);
        return tf.tidy(() => {
          const t = tf.tile(tf.tensor(values(tf.util.sizeFromShape(c.shape), 41), c.shape), c.reps);
          return { shape: t.shape, data: Array.from(t.dataSync()) };
        });
      };
      expect(await run('wasm')).to.deep.equal(await run('cpu'));
    });
  }
});
