import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { expect } from 'chai';
import { BatchNorm1d, BatchNorm2d } from '../../src/nn/batchnorm';
import { registerWasmTrainingKernels } from '../../src/kernels/wasm';
import { ensureGradients } from '../../src/nn/gradients';
import { expectClose } from '../helpers/reference';
import { inMode, kernelModes } from '../kernels/wasm/compare';

interface BnRun {
  y: Float32Array;
  dx: Float32Array;
  dw: Float32Array;
  db: Float32Array;
  rm: Float32Array;
  rv: Float32Array;
}

/**
 * BN output, gradients (input, weight, bias) and running stats on one backend, from the same
 * plain arrays. No tidy: every tensor made here is disposed by hand, so a tensor BN leaks shows
 * up in the caller's count.
 */
function runBn(shape: number[]): BnRun {
  const n = shape.reduce((a, b) => a * b, 1);
  const c = shape[shape.length - 1];
  const x = tf.tensor(Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * 3 + (i % c)), shape);
  const r = tf.tensor(Float32Array.from({ length: n }, (_, i) => Math.cos(i * 0.11)), shape);
  const bn = shape.length === 4 ? new BatchNorm2d(c) : new BatchNorm1d(c);
  const w0 = tf.tensor1d(Array.from({ length: c }, (_, i) => 0.5 + 0.25 * i));
  const b0 = tf.tensor1d(Array.from({ length: c }, (_, i) => 0.1 * i - 0.2));
  bn.weight!.assign(w0);
  bn.bias!.assign(b0);
  const fwd = (xx: tf.Tensor) => (bn as BatchNorm2d).forward(xx as tf.Tensor4D);
  const yt = fwd(x);
  const loss = (xx: tf.Tensor) => tf.sum(tf.mul(tf.square(fwd(xx)), r)) as tf.Scalar;
  const dxt = tf.grad(loss)(x);
  const { value, grads } = tf.variableGrads(() => loss(x));
  const out = {
    y: yt.dataSync() as Float32Array,
    dx: dxt.dataSync() as Float32Array,
    dw: grads[bn.weight!.name].dataSync() as Float32Array,
    db: grads[bn.bias!.name].dataSync() as Float32Array,
    rm: bn.runningMean.dataSync() as Float32Array,
    rv: bn.runningVar.dataSync() as Float32Array,
  };
  tf.dispose([x, r, w0, b0, yt, dxt, value, grads]);
  bn.dispose();
  return out;
}

// Training-mode BN is batchNormTrain: on wasm with the kernel pack it is the native fused kernel
// when the addon is built, otherwise plain ops reducing with avgPool over a [1, M, 1, C] view.
// Both must give the cpu backend's numbers, gradients and running stats included.
describe('nn/BatchNorm on wasm', () => {
  after(() => tf.setBackend('cpu'));

  const shapes = [
    [4, 6, 6, 5],
    [3, 5, 7, 9],
    [12, 7],
  ];
  for (const mode of kernelModes()) {
    for (const shape of shapes) {
      it(`${shape.join('x')} matches the cpu backend in output, gradients and running stats [${mode}]`, () =>
        inMode(mode, async () => {
          await ensureGradients();
          await tf.setBackend('cpu');
          const cpu = runBn(shape);
          registerWasmTrainingKernels();
          const ok = await tf.setBackend('wasm');
          expect(ok, 'wasm backend initialises').to.equal(true);
          runBn(shape); // first run sets up kernels
          const before = tf.memory().numTensors;
          const wasm = runBn(shape);
          expect(tf.memory().numTensors, 'no leaked tensors').to.equal(before);
          expectClose(wasm.y, cpu.y, { rtol: 1e-4, atol: 1e-5, what: 'y' });
          expectClose(wasm.dx, cpu.dx, { rtol: 1e-3, atol: 1e-4, what: 'dx' });
          expectClose(wasm.dw, cpu.dw, { rtol: 1e-4, atol: 1e-4, what: 'dweight' });
          expectClose(wasm.db, cpu.db, { rtol: 1e-4, atol: 1e-4, what: 'dbias' });
          expectClose(wasm.rm, cpu.rm, { rtol: 1e-5, atol: 1e-6, what: 'running_mean' });
          expectClose(wasm.rv, cpu.rv, { rtol: 1e-5, what: 'running_var' });
        }),
      );
    }
  }
});
