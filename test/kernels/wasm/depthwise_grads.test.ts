import * as tf from '@tensorflow/tfjs-core';
import { expectClose } from '../../helpers/reference';
import { inMode, kernelModes, valueAndGrads } from './compare';

interface Case {
  x: [number, number, number, number];
  k: number;
  mult: number;
  stride: number;
  pad: 'same' | 'valid' | number;
}

const cases: Case[] = [];
for (const k of [1, 3]) {
  for (const stride of [1, 2]) {
    for (const pad of ['same', 'valid'] as const) {
      cases.push({ x: [2, 7, 6, 4], k, mult: 1, stride, pad });
    }
  }
}
cases.push({ x: [3, 8, 9, 5], k: 3, mult: 1, stride: 2, pad: 'same' }); // even height, stride 2
cases.push({ x: [2, 6, 5, 3], k: 3, mult: 2, stride: 1, pad: 'same' }); // channel multiplier 2
cases.push({ x: [2, 7, 7, 2], k: 3, mult: 3, stride: 2, pad: 'valid' });
cases.push({ x: [1, 11, 10, 3], k: 5, mult: 1, stride: 2, pad: 'same' });

cases.push({ x: [2, 8, 8, 4], k: 3, mult: 1, stride: 2, pad: 1 }); // torch-style symmetric padding
cases.push({ x: [2, 7, 6, 4], k: 3, mult: 1, stride: 1, pad: 1 });
cases.push({ x: [1, 10, 9, 3], k: 5, mult: 1, stride: 2, pad: 2 });
cases.push({ x: [2, 6, 5, 3], k: 1, mult: 1, stride: 1, pad: 1 }); // padding wider than the filter
cases.push({ x: [1, 7, 7, 2], k: 3, mult: 1, stride: 2, pad: 4 }); // some outputs see only padding
cases.push({ x: [1, 6, 7, 2], k: 3, mult: 2, stride: 1, pad: 3 });
describe('wasm DepthwiseConv2dNative gradients match the cpu backend', () => {
  after(async () => {
    await tf.setBackend('cpu');
  });

  for (const mode of kernelModes()) {
    for (const c of cases) {
      const name = `x ${c.x.join('x')}, ${c.k}x${c.k} x${c.mult}, stride ${c.stride}, ${c.pad}`;
      it(`${name} [${mode}]`, () => inMode(mode, async () => {
        const f = (x: tf.Tensor, w: tf.Tensor) =>
          tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.stride, c.pad);
        const ops = [
          { shape: c.x, seed: 3 },
          { shape: [c.k, c.k, c.x[3], c.mult], seed: 4 },
        ];
        const ref = await valueAndGrads('cpu', f, ops);
        const got = await valueAndGrads('wasm', f, ops);
        expectClose(got.y, ref.y, { rtol: 1e-4, atol: 1e-5, what: 'forward' });
        expectClose(got.grads[0], ref.grads[0], { rtol: 1e-4, atol: 1e-5, what: 'dx (DepthwiseConv2dNativeBackpropInput)' });
        expectClose(got.grads[1], ref.grads[1], { rtol: 1e-4, atol: 1e-5, what: 'dW (DepthwiseConv2dNativeBackpropFilter)' });
      }));
    }
  }
});
