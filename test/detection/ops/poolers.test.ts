import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { expect } from 'chai';
import { MultiScaleRoIAlign } from '../../../detection/ops/poolers';
import { roiAlign } from '../../../detection/ops/roi_align';
import { expectClose, repoRoot } from '../../helpers/reference';
import { values } from '../../kernels/wasm/compare';

interface Flat {
  shape: number[];
  data: number[];
}
interface PoolerFixture {
  scales: number[];
  rois: Flat;
  features: Flat[];
  upstream: Flat;
  output: Flat;
  grad_features: Flat[];
}

type Shape4 = [number, number, number, number];
const nhwc = (t: Flat) => tf.transpose(tf.tensor4d(t.data, t.shape as Shape4), [0, 2, 3, 1]) as tf.Tensor4D;
const nchw = (t: tf.Tensor) => tf.transpose(t, [0, 3, 1, 2]);

describe('detection/ops/poolers', () => {
  after(async () => {
    await tf.setBackend('cpu');
  });

  it('levelOf: floor(4 + log2(sqrt(area) / 224 + 1e-8)) clamped to the levels, for [K,5] and [K,4] rows', () => {
    const p = new MultiScaleRoIAlign({ outputSize: [7, 7], samplingRatio: 0, aligned: true, scales: [1 / 4, 1 / 8, 1 / 16, 1 / 32] });
    expect([p.minLevel, p.maxLevel]).to.deep.equal([2, 5]);
    // sqrt(area): 10, 111.9, 112, 223.9, 224, 447.9, 448, 2000, empty, inverted.
    const sides = [10, 111.9, 112, 223.9, 224, 447.9, 448, 2000, 0];
    const boxes = sides.flatMap((s) => [5, 7, 5 + s, 7 + s]).concat([10, 10, 0, 20]);
    expect(Array.from(p.levelOf(Float32Array.from(boxes), 4))).to.deep.equal([0, 0, 1, 1, 2, 2, 3, 3, 0, 0]);
    const rois = Float32Array.from(sides.flatMap((s, i) => [i % 2, 5, 7, 5 + s, 7 + s]));
    expect(Array.from(p.levelOf(rois))).to.deep.equal([0, 0, 1, 1, 2, 2, 3, 3, 0]);
    expect(() => new MultiScaleRoIAlign({ outputSize: [7, 7], samplingRatio: 0, aligned: true, scales: [1 / 4, 1 / 16] })).to.throw(/consecutive/);
  });

  for (const backend of ['cpu', 'wasm'] as const) {
    it(`apply matches torchvision MultiScaleRoIAlign forward and gradients (unaligned, sr 2) [${backend}]`, async () => {
      await tf.setBackend(backend);
      const fx = JSON.parse(fs.readFileSync(path.join(repoRoot, 'test/fixtures/detection/multiscale_roi_align.json'), 'utf8')) as PoolerFixture;
      // The fixture uses canonical scale 32 so its small boxes reach both levels.
      const pooler = new MultiScaleRoIAlign({ outputSize: [3, 3], samplingRatio: 2, aligned: false, scales: fx.scales, canonicalScale: 32 });
      const levels = Array.from(pooler.levelOf(Float32Array.from(fx.rois.data)));
      expect(new Set(levels).size, 'both levels used').to.equal(2);
      const before = tf.memory().numTensors;
      const { out, grads } = tf.tidy(() => {
        const feats = fx.features.map(nhwc);
        const rois = tf.tensor2d(fx.rois.data, fx.rois.shape as [number, number]);
        const up = nhwc(fx.upstream);
        const o = nchw(pooler.apply(feats, rois)).dataSync();
        const g = tf.grads((...fs: tf.Tensor[]) => tf.sum(tf.mul(pooler.apply(fs as tf.Tensor4D[], rois), up)))(feats);
        return { out: o, grads: g.map((t) => nchw(t).dataSync()) };
      });
      expect(tf.memory().numTensors).to.equal(before);
      expectClose(out, fx.output.data, { atol: 1e-5, rtol: 0, what: 'output' });
      grads.forEach((g, l) => expectClose(g, fx.grad_features[l].data, { atol: 1e-5, rtol: 0, what: `grad level ${l}` }));
    });
  }

  it('apply equals per-RoI roiAlign on each RoI\'s level (aligned, adaptive), in RoI order', async () => {
    await tf.setBackend('cpu');
    const scales = [1 / 8, 1 / 16];
    const pooler = new MultiScaleRoIAlign({ outputSize: [2, 2], samplingRatio: 0, aligned: true, scales, canonicalScale: 64 });
    const rv = [0, 2, 3, 30, 20, 1, 0, 0, 100, 90, 0, 40, 10, 60, 35, 1, 5, 50, 120, 120, 1, 7, 7, 9, 9];
    const levels = pooler.levelOf(Float32Array.from(rv));
    expect(Array.from(levels)).to.deep.equal([0, 1, 0, 1, 0]);
    tf.tidy(() => {
      const feats = [tf.tensor4d(values(2 * 16 * 16 * 3, 1), [2, 16, 16, 3]), tf.tensor4d(values(2 * 8 * 8 * 3, 2), [2, 8, 8, 3])];
      const got = pooler.apply(feats, tf.tensor2d(rv, [5, 5])).dataSync();
      const want = tf.concat(
        Array.from(levels, (l, k) =>
          roiAlign(feats[l], tf.tensor2d(rv.slice(5 * k, 5 * k + 5), [1, 5]), { outputSize: [2, 2], spatialScale: scales[l], samplingRatio: 0, aligned: true }),
        ),
      ).dataSync();
      expectClose(got, want, { atol: 1e-7, rtol: 0, what: 'pooled' });
      expect(pooler.apply(feats, tf.zeros([0, 5]) as tf.Tensor2D).shape).to.deep.equal([0, 2, 2, 3]);
      expect(() => pooler.apply([feats[0]], tf.tensor2d(rv, [5, 5]))).to.throw(/1 feature maps for 2 scales/);
    });
  });
});
