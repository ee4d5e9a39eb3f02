import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { Rng } from '../../src/core/rng';
import { Conv2d } from '../../src/nn/conv2d';
import { ensureGradients } from '../../src/nn/gradients';
import { expectClose } from '../helpers/reference';

function rand(shape: number[], seed: number): tf.Tensor {
  const rng = new Rng(seed);
  const d = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < d.length; i++) d[i] = rng.range(-1, 1);
  return tf.tensor(d, shape);
}

/**
 * Torch-semantics convolution by a direct loop: zero padding p on every side, output
 * floor((H + 2p - d(k-1) - 1) / s) + 1. x NHWC, w HWIO (depth-wise: [k, k, C, 1]).
 */
function naiveConv(
  x: tf.Tensor, w: tf.Tensor, s: number, p: number, d: number, depthwise: boolean,
): { data: Float64Array; shape: number[] } {
  const [n, h, wd, ci] = x.shape;
  const [k, , , wo] = w.shape;
  const co = depthwise ? ci : wo;
  const oh = Math.floor((h + 2 * p - d * (k - 1) - 1) / s) + 1;
  const ow = Math.floor((wd + 2 * p - d * (k - 1) - 1) / s) + 1;
  const xd = x.dataSync();
  const wdata = w.dataSync();
  const out = new Float64Array(n * oh * ow * co);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < oh; y++)
      for (let xx = 0; xx < ow; xx++)
        for (let o = 0; o < co; o++) {
          let acc = 0;
          for (let ky = 0; ky < k; ky++)
            for (let kx = 0; kx < k; kx++) {
              const iy = y * s - p + ky * d;
              const ix = xx * s - p + kx * d;
              if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
              if (depthwise) {
                acc += xd[((b * h + iy) * wd + ix) * ci + o] * wdata[(ky * k + kx) * ci + o];
              } else {
                for (let i = 0; i < ci; i++) acc += xd[((b * h + iy) * wd + ix) * ci + i] * wdata[((ky * k + kx) * ci + i) * co + o];
              }
            }
          out[((b * oh + y) * ow + xx) * co + o] = acc;
        }
  return { data: out, shape: [n, oh, ow, co] };
}

describe('nn/Conv2d', () => {
  const cases: Array<{ name: string; hw: number; ci: number; co: number; k: number; s: number; p: number; d?: number; dw?: boolean }> = [
    { name: 'k3 s2 p1, even input (torch pads both sides, tfjs "same" would not)', hw: 6, ci: 3, co: 4, k: 3, s: 2, p: 1 },
    { name: 'k3 s2 p1, odd input', hw: 7, ci: 2, co: 3, k: 3, s: 2, p: 1 },
    { name: 'k3 s1 p1', hw: 5, ci: 2, co: 3, k: 3, s: 1, p: 1 },
    { name: 'k1 s2 p0 (downsample shortcut)', hw: 6, ci: 4, co: 2, k: 1, s: 2, p: 0 },
    { name: 'k7 s2 p3 (ResNet stem)', hw: 8, ci: 3, co: 2, k: 7, s: 2, p: 3 },
    { name: 'k3 s1 p2 dilation 2', hw: 6, ci: 2, co: 2, k: 3, s: 1, p: 2, d: 2 },
    { name: 'depth-wise k3 s2 p1, even input', hw: 6, ci: 4, co: 4, k: 3, s: 2, p: 1, dw: true },
    { name: 'depth-wise k3 s1 p1', hw: 5, ci: 3, co: 3, k: 3, s: 1, p: 1, dw: true },
  ];
  for (const c of cases) {
    it(`matches torch padding semantics: ${c.name}`, () => {
      const conv = new Conv2d(c.ci, c.co, c.k, new Rng(1), { stride: c.s, padding: c.p, dilation: c.d, groups: c.dw ? c.ci : 1 });
      const x = rand([2, c.hw, c.hw, c.ci], 2) as tf.Tensor4D;
      const y = conv.forward(x);
      const ref = naiveConv(x, conv.weight, c.s, c.p, c.d ?? 1, !!c.dw);
      expect(y.shape).to.deep.equal(ref.shape);
      expectClose(y.dataSync(), ref.data, { rtol: 1e-4, atol: 1e-5 });
      conv.dispose();
      tf.dispose([x, y]);
    });
  }

  it('registers weight layouts and kinds for dense and depth-wise convs', () => {
    const dense = new Conv2d(3, 8, 3, new Rng(0), { bias: true });
    expect(dense.namedParameters().map((p) => [p.name, p.kind, p.layout, p.variable.shape])).to.deep.equal([
      ['weight', 'weight', 'conv', [3, 3, 3, 8]],
      ['bias', 'bias', 'same', [8]],
    ]);
    const dw = new Conv2d(8, 8, 3, new Rng(0), { groups: 8 });
    expect(dw.namedParameters().map((p) => [p.name, p.kind, p.layout, p.variable.shape])).to.deep.equal([
      ['weight', 'depthwise', 'depthwise', [3, 3, 8, 1]],
    ]);
    expect(() => new Conv2d(8, 16, 3, new Rng(0), { groups: 4 })).to.throw(/groups must be 1 or inChannels/);
    dense.dispose();
    dw.dispose();
  });

  it('adds the bias', () => {
    const conv = new Conv2d(1, 2, 1, new Rng(0), { bias: true });
    conv.weight.assign(tf.tensor4d([1, 2], [1, 1, 1, 2]));
    conv.bias!.assign(tf.tensor1d([10, 20]));
    const y = conv.forward(tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]));
    expectClose(y.dataSync(), [11, 22, 12, 24, 13, 26, 14, 28]);
    conv.dispose();
  });

  it('kaiming_normal init has std sqrt(2 / fan_out) (torchvision), depth-wise fan_out = C k^2', () => {
    const conv = new Conv2d(16, 64, 3, new Rng(3), { init: 'kaiming_normal' });
    const d = Array.from(conv.weight.dataSync());
    const std = Math.sqrt(d.reduce((a, v) => a + v * v, 0) / d.length);
    expect(std).to.be.closeTo(Math.sqrt(2 / (64 * 9)), 0.004);
    const dw = new Conv2d(64, 64, 3, new Rng(3), { groups: 64, init: 'kaiming_normal' });
    const e = Array.from(dw.weight.dataSync());
    expect(Math.sqrt(e.reduce((a, v) => a + v * v, 0) / e.length)).to.be.closeTo(Math.sqrt(2 / (64 * 9)), 0.01);
    conv.dispose();
    dw.dispose();
  });

  it('gradients with explicit padding equal those of pad-then-valid (dense and depth-wise, stride 2)', async () => {
    await ensureGradients();
    for (const dwise of [false, true]) {
      const conv = new Conv2d(4, 4, 3, new Rng(5), { stride: 2, padding: 1, groups: dwise ? 4 : 1 });
      const x = rand([2, 6, 6, 4], 6) as tf.Tensor4D;
      const t = rand([2, 3, 3, 4], 7);
      const w = conv.weight as tf.Tensor4D;
      const loss1 = (xx: tf.Tensor, ww: tf.Tensor) => {
        const yy = dwise
          ? tf.depthwiseConv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, 2, 1)
          : tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, 2, 1);
        return tf.sum(tf.mul(yy, t));
      };
      const loss2 = (xx: tf.Tensor, ww: tf.Tensor) => {
        const xp = tf.pad(xx as tf.Tensor4D, [[0, 0], [1, 1], [1, 1], [0, 0]]);
        const yy = dwise ? tf.depthwiseConv2d(xp, ww as tf.Tensor4D, 2, 'valid') : tf.conv2d(xp, ww as tf.Tensor4D, 2, 'valid');
        return tf.sum(tf.mul(yy, t));
      };
      // and our module's forward goes through the same path as loss1
      const viaModule = tf.grads((xx: tf.Tensor) => tf.sum(tf.mul(conv.forward(xx as tf.Tensor4D), t)))([x])[0];
      const [gx1, gw1] = tf.grads(loss1)([x, w]);
      const [gx2, gw2] = tf.grads(loss2)([x, w]);
      expectClose(gx1.dataSync(), gx2.dataSync(), { rtol: 1e-4, atol: 1e-5, what: `dx (depthwise=${dwise})` });
      expectClose(gw1.dataSync(), gw2.dataSync(), { rtol: 1e-4, atol: 1e-5, what: `dw (depthwise=${dwise})` });
      expectClose(viaModule.dataSync(), gx2.dataSync(), { rtol: 1e-4, atol: 1e-5, what: 'module dx' });
      conv.dispose();
    }
  });
});
