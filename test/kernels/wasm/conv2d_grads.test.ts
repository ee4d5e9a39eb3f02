import * as tf from '@tensorflow/tfjs-core';
import { expectClose } from '../../helpers/reference';
import { inMode, kernelModes, valueAndGrads } from './compare';

interface Case {
  x: [number, number, number, number];
  k: number;
  co: number;
  stride: number;
  pad: 'same' | 'valid' | number;
  /** Absolute tolerance where dW sums thousands of products (float32 rounding of the cpu reference itself). */
  atol?: number;
}

const cases: Case[] = [];
for (const k of [1, 3]) {
  for (const stride of [1, 2]) {
    for (const pad of ['same', 'valid'] as const) {
      cases.push({ x: [2, 7, 6, 3], k, co: 5, stride, pad });
    }
  }
}
cases.push({ x: [3, 8, 8, 6], k: 1, co: 4, stride: 1, pad: 'same' }); // ci > co: the other GEMM order
cases.push({ x: [1, 9, 5, 2], k: 5, co: 3, stride: 2, pad: 'same' });
cases.push({ x: [2, 6, 7, 4], k: 2, co: 3, stride: 1, pad: 'same' }); // even filter: asymmetric padding

cases.push({ x: [2, 8, 8, 3], k: 3, co: 4, stride: 2, pad: 1 }); // torch-style symmetric padding
cases.push({ x: [2, 7, 6, 3], k: 3, co: 4, stride: 1, pad: 1 });
cases.push({ x: [1, 9, 9, 2], k: 5, co: 3, stride: 2, pad: 2 });
cases.push({ x: [2, 40, 30, 3], k: 1, co: 5, stride: 1, pad: 'same' }); // 2400 rows: chunked GEMM
cases.push({ x: [2, 40, 30, 7], k: 1, co: 2, stride: 1, pad: 'valid' }); // chunked, ci > co
cases.push({ x: [2, 16, 16, 3], k: 1, co: 4, stride: 1, pad: 'same' }); // 512 rows: power-of-two split
cases.push({ x: [2, 24, 24, 128], k: 3, co: 4, stride: 1, pad: 'same' }); // native im2col in several chunks
cases.push({ x: [2, 6, 5, 3], k: 1, co: 4, stride: 1, pad: 1 }); // padding wider than the filter
cases.push({ x: [2, 7, 6, 3], k: 1, co: 4, stride: 2, pad: 1 });
cases.push({ x: [1, 6, 7, 2], k: 3, co: 3, stride: 1, pad: 3 });
cases.push({ x: [1, 7, 7, 2], k: 3, co: 3, stride: 2, pad: 4 }); // some outputs see only padding
// Winograd F(2x2, 3x3) (3x3, stride 1, "same"): odd and even sizes (edge tiles cut), a 1-pixel
// map, channels not a multiple of the vector width, and enough tiles for several chunks per thread.
cases.push({ x: [2, 5, 7, 5], k: 3, co: 6, stride: 1, pad: 'same' });
cases.push({ x: [1, 1, 1, 4], k: 3, co: 3, stride: 1, pad: 1 });
cases.push({ x: [3, 4, 6, 9], k: 3, co: 17, stride: 1, pad: 1 });
cases.push({ x: [2, 33, 31, 24], k: 3, co: 40, stride: 1, pad: 'same', atol: 1e-4 }); // dW: 2046-term sums
describe('wasm Conv2D gradients match the cpu backend', () => {
  after(async () => {
    await tf.setBackend('cpu');
  });

  for (const mode of kernelModes({ threads: true, winograd: true })) {
    for (const c of cases) {
      const name = `x ${c.x.join('x')}, ${c.k}x${c.k} -> ${c.co}, stride ${c.stride}, ${c.pad}`;
      it(`${name} [${mode}]`, () => inMode(mode, async () => {
        const f = (x: tf.Tensor, w: tf.Tensor) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.stride, c.pad);
        const ops = [
          { shape: c.x, seed: 1 },
          { shape: [c.k, c.k, c.x[3], c.co], seed: 2 },
        ];
        const ref = await valueAndGrads('cpu', f, ops);
        const got = await valueAndGrads('wasm', f, ops);
        expectClose(got.y, ref.y, { rtol: 1e-4, atol: 1e-5, what: 'forward' });
        expectClose(got.grads[0], ref.grads[0], { rtol: 1e-4, atol: 1e-5, what: 'dx (Conv2DBackpropInput)' });
        expectClose(got.grads[1], ref.grads[1], { rtol: 1e-4, atol: c.atol ?? 1e-5, what: 'dW (Conv2DBackpropFilter)' });
      }));
    }
  }
});
