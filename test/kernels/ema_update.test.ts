import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { emaAssign } from '../../src/kernels/ema_update';
import { expectClose } from '../helpers/reference';
import { inMode, kernelModes, valueAndGrads, values } from './wasm/compare';

const SHAPES = [[7], [3, 5, 2, 1], [129, 33], [1, 1]];

describe('emaAssign (fused EMA of many parameters) matches target * m + online * (1 - m)', () => {
  after(async () => {
    await tf.setBackend('cpu');
  });

  for (const backend of ['cpu', 'wasm'] as const) {
    for (const mode of backend === 'cpu' ? (['xnnpack'] as const) : kernelModes()) {
      for (const m of [0.996, 0.5, 0]) {
        it(`${SHAPES.length} pairs, m = ${m} on ${backend}${backend === 'wasm' ? ` [${mode}]` : ''}`, () =>
          inMode(mode, async () => {
            if (backend === 'wasm') await valueAndGrads('wasm', (x) => x, [{ shape: [1], seed: 1 }]);
            else await tf.setBackend('cpu');
            const tv = SHAPES.map((s, i) => values(tf.util.sizeFromShape(s), 10 + i));
            const ov = SHAPES.map((s, i) => values(tf.util.sizeFromShape(s), 20 + i));
            const targets = SHAPES.map((s, i) => tf.variable(tf.tensor(tv[i], s), false));
            const online = SHAPES.map((s, i) => tf.tensor(ov[i], s));
            const tensors = tf.memory().numTensors;
            emaAssign(targets.map((t, i) => [t, online[i]] as const), m);
            expect(tf.memory().numTensors, 'no leaked tensors').to.equal(tensors);
            targets.forEach((t, i) => {
              expect(t.shape).to.deep.equal(SHAPES[i]);
              const want = Array.from(tv[i], (v, j) => m * v + (1 - m) * ov[i][j]);
              expectClose(t.dataSync(), want, { rtol: 1e-6, atol: 1e-7, what: `pair ${i}` });
              expect(Array.from(online[i].dataSync())).to.deep.equal(Array.from(ov[i])); // online untouched
            });
            tf.dispose([...targets, ...online]);
          }),
        );
      }
    }
  }

  for (const mode of kernelModes()) {
    it(`runs as ${mode === 'native' ? 'one kernel for all pairs' : 'plain ops'} on wasm; m = 1 runs nothing [${mode}]`, () =>
      inMode(mode, async () => {
        await valueAndGrads('wasm', (x) => x, [{ shape: [1], seed: 1 }]);
        const t = [tf.variable(tf.ones([3])), tf.variable(tf.ones([2, 2]))];
        const o = [tf.zeros([3]), tf.zeros([2, 2])];
        const pairs = t.map((v, i) => [v, o[i]] as const);
        const names = (await tf.profile(() => emaAssign(pairs, 0.9))).kernelNames;
        if (mode === 'native') expect(names).to.deep.equal(['SslightEmaUpdate']);
        else expect(names).to.not.include('SslightEmaUpdate');
        expect((await tf.profile(() => emaAssign(pairs, 1))).kernelNames).to.deep.equal([]);
        expectClose(t[1].dataSync(), [0.9, 0.9, 0.9, 0.9]);
        tf.dispose([...t, ...o]);
      }),
    );
  }

  it('rejects mismatched shapes and a momentum outside [0, 1]', () => {
    const t = tf.variable(tf.zeros([3]));
    const o = tf.zeros([4]);
    expect(() => emaAssign([[t, o]], 0.5)).to.throw(/differ/);
    expect(() => emaAssign([[t, t]], 1.5)).to.throw(/\[0, 1\]/);
    tf.dispose([t, o]);
  });
});
