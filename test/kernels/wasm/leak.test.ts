import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { inMode, kernelModes, valueAndGrads, values } from './compare';

/** A tiny MobileNetV2-like block touching every custom kernel: conv, depthwise s1/s2, BN, relu6, dense. */
function loss(x: tf.Tensor4D, w: { expand: tf.Tensor4D; dw1: tf.Tensor4D; dw2: tf.Tensor4D; project: tf.Tensor4D; stem: tf.Tensor4D; dense: tf.Tensor2D }): tf.Scalar {
  const bn = (t: tf.Tensor4D) => {
    const { mean, variance } = tf.moments(t, [0, 1, 2]);
    const c = t.shape[3];
    // tfjs's batchNorm gradient needs offset and scale tensors (it saves them unconditionally).
    return tf.batchNorm(t, mean, variance, tf.zeros([c]), tf.ones([c]), 1e-5) as tf.Tensor4D;
  };
  let h = tf.relu6(bn(tf.conv2d(x, w.stem, 2, 'same')));
  h = tf.relu6(bn(tf.conv2d(h, w.expand, 1, 'same')));
  h = tf.relu6(bn(tf.depthwiseConv2d(h, w.dw1, 1, 'same')));
  h = tf.relu6(bn(tf.depthwiseConv2d(h, w.dw2, 2, 'same')));
  h = bn(tf.conv2d(h, w.project, 1, 'valid'));
  const pooled = tf.mean(h, [1, 2]) as tf.Tensor2D;
  const logits = tf.matMul(pooled, w.dense);
  return tf.mean(tf.square(logits));
}

describe('wasm training kernels do not leak', () => {
  after(async () => {
    await tf.setBackend('cpu');
  });

  for (const mode of kernelModes()) {
    it(`tensor count, backend buffers and heap stay flat over repeated gradient steps [${mode}]`, () => inMode(mode, async () => {
      await valueAndGrads('wasm', (x) => x, [{ shape: [1], seed: 1 }]); // registers the kernels, selects wasm
      const mk = (shape: number[], seed: number) => tf.variable(tf.mul(tf.tensor(values(tf.util.sizeFromShape(shape), seed), shape), 0.3));
      const w = {
        stem: mk([3, 3, 3, 8], 1),
        expand: mk([1, 1, 8, 16], 2),
        dw1: mk([3, 3, 16, 1], 3),
        dw2: mk([3, 3, 16, 1], 4),
        project: mk([1, 1, 16, 6], 5),
        dense: mk([6, 4], 6),
      };
      const x = tf.tensor(values(2 * 15 * 13 * 3, 9), [2, 15, 13, 3]) as tf.Tensor4D;
      const backend = tf.backend();
      const step = () =>
        tf.tidy(() => {
          const { value, grads } = tf.variableGrads(() => loss(x, w as never));
          for (const g of Object.values(grads)) expect(Array.from(g.dataSync()).every(Number.isFinite)).to.equal(true);
          value.dataSync();
        });
      step();
      step();
      const tensors = tf.memory().numTensors;
      const buffers = backend.numDataIds();
      const heap = (backend as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length;
      for (let i = 0; i < 5; i++) step();
      expect(tf.memory().numTensors).to.equal(tensors);
      expect(backend.numDataIds()).to.equal(buffers);
      expect((backend as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length).to.equal(heap);
      x.dispose();
      for (const v of Object.values(w)) v.dispose();
    }));
  }
});
