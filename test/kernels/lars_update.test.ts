import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { larsStep, type LarsStepOptions } from '../../src/kernels/lars_update';
import { expectClose } from '../helpers/reference';
import { inMode, kernelModes, valueAndGrads, values } from './wasm/compare';

/** Independent float64 reference of one LARS step (DINO's utils.LARS). */
function reference(p: Float32Array, g: Float32Array, mu: Float32Array, o: LarsStepOptions): { p: number[]; mu: number[] } {
  const d = Array.from(g, (gi, i) => gi + o.weightDecay * p[i]);
  let q = 1;
  if (o.adapt) {
    const pn = Math.sqrt(p.reduce((a, v) => a + v * v, 0));
    const dn = Math.sqrt(d.reduce((a, v) => a + v * v, 0));
    if (pn > 0 && dn > 0) q = (o.eta * pn) / dn;
  }
  const m = d.map((di, i) => o.momentum * mu[i] + q * di);
  return { p: m.map((mi, i) => p[i] - o.lr * mi), mu: m };
}

const cases: Array<{ shape: number[]; o: LarsStepOptions; zeroP?: boolean; zeroG?: boolean }> = [
  { shape: [7], o: { lr: 0.3, weightDecay: 0.05, momentum: 0.9, eta: 0.001, adapt: true } },
  { shape: [3, 5, 2, 1], o: { lr: 0.7, weightDecay: 0, momentum: 0.9, eta: 0.02, adapt: true } },
  { shape: [257, 13], o: { lr: 0.1, weightDecay: 1e-2, momentum: 0.5, eta: 0.001, adapt: false } },
  { shape: [33], o: { lr: 0.2, weightDecay: 0, momentum: 0.9, eta: 0.001, adapt: false } },
  // zero parameter -> q = 1; zero update (no decay, zero grad) -> q = 1 and only momentum moves p
  { shape: [4, 9], o: { lr: 0.5, weightDecay: 0.1, momentum: 0.9, eta: 0.001, adapt: true }, zeroP: true },
  { shape: [11], o: { lr: 0.5, weightDecay: 0, momentum: 0.9, eta: 0.001, adapt: true }, zeroG: true },
];

describe('larsStep (fused LARS update) matches a float64 reference', () => {
  after(async () => {
    await tf.setBackend('cpu');
  });

  for (const backend of ['cpu', 'wasm'] as const) {
    for (const mode of backend === 'cpu' ? (['xnnpack'] as const) : kernelModes()) {
      cases.forEach(({ shape, o, zeroP, zeroG }, ci) => {
        const tag = `${shape.join('x')} adapt=${o.adapt} wd=${o.weightDecay}${zeroP ? ' zero p' : ''}${zeroG ? ' zero g' : ''}`;
        it(`${tag} on ${backend}${backend === 'wasm' ? ` [${mode}]` : ''}`, () =>
          inMode(mode, async () => {
            if (backend === 'wasm') await valueAndGrads('wasm', (x) => x, [{ shape: [1], seed: 1 }]); // registers kernels, selects wasm
            else await tf.setBackend('cpu');
            const n = tf.util.sizeFromShape(shape);
            const pv = zeroP ? new Float32Array(n) : values(n, 100 + ci);
            const gv = zeroG ? new Float32Array(n) : values(n, 200 + ci).map((v) => v * 0.1);
            const mv = values(n, 300 + ci).map((v) => v * 0.01);
            const want = reference(pv, gv, mv, o);
            const p = tf.tensor(pv, shape);
            const g = tf.tensor(gv, shape);
            const mu = tf.tensor(mv, shape);
            const tensors = tf.memory().numTensors;
            const [p2, mu2] = larsStep(p, g, mu, o);
            expect(tf.memory().numTensors, 'only the two results are new').to.equal(tensors + 2);
            expect(p2.shape).to.deep.equal(shape);
            expectClose(p2.dataSync(), want.p, { rtol: 1e-6, atol: 1e-8, what: 'p' });
            expectClose(mu2.dataSync(), want.mu, { rtol: 1e-5, atol: 1e-9, what: 'mu' });
            // inputs untouched (tensors are immutable; the native kernel writes new buffers)
            expect(Array.from(p.dataSync())).to.deep.equal(Array.from(pv));
            expect(Array.from(mu.dataSync())).to.deep.equal(Array.from(mv));
            tf.dispose([p, g, mu, p2, mu2]);
          }),
        );
      });
    }
  }

  for (const mode of kernelModes()) {
    it(`runs as ${mode === 'native' ? 'one fused kernel' : 'plain ops'} on wasm [${mode}]`, () =>
      inMode(mode, async () => {
        await valueAndGrads('wasm', (x) => x, [{ shape: [1], seed: 1 }]);
        const p = tf.tensor(values(50, 1), [5, 10]);
        const info = await tf.profile(() => {
          const [a, b] = larsStep(p, p, p, { lr: 0.1, weightDecay: 0.01, momentum: 0.9, eta: 0.001, adapt: true });
          tf.dispose([a, b]);
        });
        const names = info.kernelNames;
        if (mode === 'native') expect(names).to.deep.equal(['SslightLarsUpdate']);
        else expect(names).to.not.include('SslightLarsUpdate');
        expect(names).to.not.include('Pow');
        p.dispose();
      }),
    );
  }

  it('rejects mismatched shapes', () => {
    const a = tf.zeros([3]);
    const b = tf.zeros([4]);
    expect(() => larsStep(a, b, a, { lr: 1, weightDecay: 0, momentum: 0.9, eta: 0.001, adapt: true })).to.throw(/differ/);
    tf.dispose([a, b]);
  });
});
