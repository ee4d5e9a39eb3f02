import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { batchNormTrain } from '../../src/kernels/batchnorm_train';
import { expectClose } from '../helpers/reference';
import { inMode, kernelModes, valueAndGrads, values } from './wasm/compare';

const EPS = 1e-5;

/** Reference: tfjs autodiff through tf.moments + tf.batchNorm. */
function reference(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor {
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const { mean, variance } = tf.moments(x, axes);
  return tf.batchNorm(x, mean, variance, beta as tf.Tensor1D, gamma as tf.Tensor1D, EPS);
}

const shapes = [
  [3, 5, 4, 6],
  [2, 7, 3, 1],
  [9, 4],
];

describe('batchNormTrain matches autodiff of moments + batchNorm', () => {
  after(async () => {
    await tf.setBackend('cpu');
  });

  for (const backend of ['cpu', 'wasm'] as const) {
    for (const mode of backend === 'cpu' ? (['xnnpack'] as const) : kernelModes()) {
      for (const shape of shapes) {
        const c = shape[shape.length - 1];
        it(`${shape.join('x')} on ${backend}${backend === 'wasm' ? ` [${mode}]` : ''}`, () =>
          inMode(mode, async () => {
            const ops = [
              { shape, seed: 51 },
              { shape: [c], seed: 52 },
              { shape: [c], seed: 53 },
            ];
            // Inputs with an offset, so the centring matters.
            const shifted = (f: (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.Tensor) => (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
              f(tf.add(tf.mul(x, 3), 5), tf.add(g, 1.5), b);
            const ref = await valueAndGrads('cpu', shifted(reference), ops);
            const got = await valueAndGrads(backend, shifted((x, g, b) => batchNormTrain(x, g as tf.Tensor1D, b as tf.Tensor1D, EPS)), ops);
            expectClose(got.y, ref.y, { rtol: 1e-4, atol: 1e-4, what: 'y' });
            expectClose(got.grads[0], ref.grads[0], { rtol: 1e-3, atol: 1e-4, what: 'dx' });
            expectClose(got.grads[1], ref.grads[1], { rtol: 1e-4, atol: 1e-4, what: 'dgamma' });
            expectClose(got.grads[2], ref.grads[2], { rtol: 1e-4, atol: 1e-4, what: 'dbeta' });
          }),
        );
      }
    }
  }

  for (const mode of kernelModes()) {
    it(`reports the batch mean and biased variance [${mode}]`, () =>
      inMode(mode, async () => {
        await valueAndGrads('wasm', (x) => x, [{ shape: [1], seed: 1 }]);
        const stats = tf.tidy(() => {
          const x = tf.tensor(values(60, 61), [5, 3, 4]);
          let got: number[][] = [];
          batchNormTrain(x, tf.ones([4]), tf.zeros([4]), EPS, (m, v) => {
            got = [Array.from(m.dataSync()), Array.from(v.dataSync())];
          });
          const { mean, variance } = tf.moments(x, [0, 1]);
          return { got, want: [Array.from(mean.dataSync()), Array.from(variance.dataSync())] };
        });
        expectClose(stats.got[0], stats.want[0], { rtol: 1e-5, atol: 1e-6, what: 'mean' });
        expectClose(stats.got[1], stats.want[1], { rtol: 1e-4, atol: 1e-6, what: 'variance' });
        expect(stats.got[0].length).to.equal(4);
      }),
    );
  }

  // tfjs runs a customGrad's gradFunc outside any per-node tidy: intermediates made there live
  // until the whole backward pass ends unless the gradFunc tidies them (it does).
  for (const backend of ['cpu', 'wasm'] as const) {
    for (const mode of backend === 'cpu' ? (['xnnpack'] as const) : kernelModes()) {
      it(`frees its backward intermediates before the backward pass moves on (${backend}${backend === 'wasm' ? ` [${mode}]` : ''})`, () =>
        inMode(mode, async () => {
          if (backend === 'wasm') await valueAndGrads('wasm', (x) => x, [{ shape: [1], seed: 1 }]);
          else await tf.setBackend('cpu');
          /** Live tensors when the backward pass reaches the op below `layer`, relative to the start. */
          const liveBelow = (layer: (x: tf.Tensor, g: tf.Tensor1D, b: tf.Tensor1D) => tf.Tensor): number => {
            let seen = -1;
            const probe = tf.customGrad((...a: Array<tf.Tensor | tf.GradSaveFunc>) => ({
              value: tf.clone(a[0] as tf.Tensor),
              gradFunc: (dy: tf.Tensor) => {
                seen = tf.memory().numTensors;
                return tf.clone(dy);
              },
            }));
            const x = tf.tensor(values(4 * 3 * 3 * 5, 71), [4, 3, 3, 5]);
            const g = tf.tensor1d([1, 2, 0.5, -1, 3]);
            const b = tf.tensor1d([0, 1, -1, 2, 0.5]);
            const base = tf.memory().numTensors;
            const dx = tf.grad((xx: tf.Tensor) => tf.sum(tf.square(layer(probe(xx) as tf.Tensor, g, b))))(x);
            tf.dispose([dx, x, g, b]);
            return seen - base;
          };
          const plain = liveBelow((x, g, b) => tf.add(tf.mul(x, g), b));
          const bn = liveBelow((x, g, b) => batchNormTrain(x, g, b, EPS));
          // BN holds its 4 saved tensors (x, mean, variance, gamma) until the pass ends, nothing else
          expect(bn - plain).to.be.at.most(4);
        }),
      );
    }
  }
});
