import * as tf from '@tensorflow/tfjs-core';
import { expectClose } from '../../helpers/reference';
import { inMode, kernelModes, valueAndGrads, values } from './compare';
import { expect } from 'chai';

interface Case {
  a: number[];
  b: number[];
  tA: boolean;
  tB: boolean;
}

const cases: Case[] = [];
for (const tA of [false, true]) {
  for (const tB of [false, true]) {
    cases.push({ a: tA ? [7, 5] : [5, 7], b: tB ? [3, 7] : [7, 3], tA, tB }); // 2-D
    cases.push({ a: tA ? [4, 6, 5] : [4, 5, 6], b: tB ? [4, 3, 6] : [4, 6, 3], tA, tB }); // batched
  }
}
cases.push({ a: [40, 3], b: [3, 50], tA: false, tB: false }); // plain: shipped kernel
cases.push({ a: [2100, 5], b: [2100, 3], tA: true, tB: false }); // long contraction: chunked
cases.push({ a: [2100, 3], b: [2100, 6], tA: true, tB: false });
cases.push({ a: [3, 40], b: [50, 3], tA: true, tB: true }); // cheaper as (B A)^T

describe('wasm BatchMatMul (transposed / batched) matches the cpu backend', () => {
  after(async () => {
    await tf.setBackend('cpu');
  });

  for (const mode of kernelModes({ threads: true })) {
    for (const c of cases) {
      it(`${`${c.a.join('x')}${c.tA ? 'ᵀ' : ''} @ ${c.b.join('x')}${c.tB ? 'ᵀ' : ''}`} [${mode}]`, () => inMode(mode, async () => {
        const f = (a: tf.Tensor, b: tf.Tensor) => tf.matMul(a, b, c.tA, c.tB);
        const ops = [
          { shape: c.a, seed: 7 },
          { shape: c.b, seed: 8 },
        ];
        const ref = await valueAndGrads('cpu', f, ops);
        const got = await valueAndGrads('wasm', f, ops);
        expectClose(got.y, ref.y, { rtol: 1e-4, atol: 1e-5, what: 'product' });
        expectClose(got.grads[0], ref.grads[0], { rtol: 1e-4, atol: 1e-5, what: 'dA' });
        expectClose(got.grads[1], ref.grads[1], { rtol: 1e-4, atol: 1e-5, what: 'dB' });
      }));
    }
  }

  // tfjs's matMul gradient does not reduce broadcast batch dims, so only the product is compared.
  it('2x3x5x6 @ 1x6x4 (broadcast batch)', async () => {
    const run = async (backend: 'cpu' | 'wasm') => {
      await valueAndGrads(backend, (x) => x, [{ shape: [1], seed: 1 }]);
      return tf.tidy(() => {
        const a = tf.tensor(values(180, 9), [2, 3, 5, 6]);
        const b = tf.tensor(values(24, 10), [1, 6, 4]);
        const y = tf.matMul(a, b);
        return { shape: y.shape, data: y.dataSync() };
      });
    };
    const ref = await run('cpu');
    const got = await run('wasm');
    expect(got.shape).to.deep.equal(ref.shape);
    expectClose(got.data, ref.data, { rtol: 1e-4, atol: 1e-5, what: 'product' });
  });
});
