import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { expect } from 'chai';
import { BatchNorm2d } from '../../src/nn/batchnorm';
import { ensureGradients } from '../../src/nn/gradients';
import { expectClose } from '../helpers/reference';

/** BN output, input gradient and running stats on one backend, from the same plain arrays. */
function runBn(): { y: Float32Array; dx: Float32Array; rv: Float32Array } {
  const shape: [number, number, number, number] = [4, 6, 6, 5];
  const n = shape.reduce((a, b) => a * b, 1);
  const x = tf.tensor4d(Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * 3 + (i % 5)), shape);
  const r = tf.tensor4d(Float32Array.from({ length: n }, (_, i) => Math.cos(i * 0.11)), shape);
  const bn = new BatchNorm2d(5);
  const y = bn.forward(x).dataSync() as Float32Array;
  const dx = tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(tf.square(bn.forward(xx as tf.Tensor4D)), r)))(x).dataSync() as Float32Array;
  const rv = bn.runningVar.dataSync() as Float32Array;
  bn.dispose();
  return { y, dx, rv };
}

// BN reduces with avgPool over a [1, N*H*W, 1, C] view for speed on wasm (XNNPACK); check
// that formulation gives the cpu backend's numbers there, gradient included.
describe('nn/BatchNorm on wasm', () => {
  after(() => tf.setBackend('cpu'));

  it('matches the cpu backend in output, input gradient and running stats', async () => {
    await ensureGradients();
    await tf.setBackend('cpu');
    const cpu = runBn();
    const ok = await tf.setBackend('wasm');
    expect(ok, 'wasm backend initialises').to.equal(true);
    const wasm = runBn();
    expectClose(wasm.y, cpu.y, { rtol: 1e-4, atol: 1e-5, what: 'y' });
    expectClose(wasm.dx, cpu.dx, { rtol: 1e-3, atol: 1e-5, what: 'dx' });
    expectClose(wasm.rv, cpu.rv, { rtol: 1e-5, what: 'running_var' });
  });
});
