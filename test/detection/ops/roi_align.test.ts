import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { expect } from 'chai';
import { roiAlign, type RoiAlignOptions } from '../../../detection/ops/roi_align';
import { expectClose, loadReference, type RefTensor } from '../../helpers/reference';
import { values } from '../../kernels/wasm/compare';

interface RoiRef {
  inputs: { features: RefTensor; rois: RefTensor; spatial_scale: number; output_size: [number, number]; upstream_grad: RefTensor };
  outputs: Record<string, { sampling_ratio: number; aligned: boolean; output: RefTensor; grad_features: RefTensor }>;
}

const NCHW_TO_NHWC = [0, 2, 3, 1];
const NHWC_TO_NCHW = [0, 3, 1, 2];

/** Output and d(sum(output * upstream))/d(features) in NHWC, on the current backend. */
function forwardBackward(features: tf.Tensor4D, rois: tf.Tensor2D, upstream: tf.Tensor4D, o: RoiAlignOptions): { y: Float32Array; dx: Float32Array } {
  return tf.tidy(() => {
    const y = roiAlign(features, rois, o);
    const dx = tf.grad((f: tf.Tensor) => tf.sum(tf.mul(roiAlign(f as tf.Tensor4D, rois, o), upstream)))(features);
    return { y: y.dataSync() as Float32Array, dx: dx.dataSync() as Float32Array };
  });
}

describe('detection/ops/roi_align', () => {
  const ref = loadReference<RoiRef>('roi_align');
  after(async () => {
    await tf.setBackend('cpu');
  });

  it('has the roi_align.json reference with its three variants (else the parity cases are skipped)', function () {
    if (!ref) this.skip();
    expect(Object.keys(ref!.outputs).sort()).to.deep.equal(['aligned_false_sr2', 'aligned_true_sr0_adaptive', 'aligned_true_sr2']);
  });

  for (const backend of ['cpu', 'wasm'] as const) {
    for (const variant of ['aligned_true_sr2', 'aligned_true_sr0_adaptive', 'aligned_false_sr2']) {
      it(`forward and grad_features match torchvision roi_align [${variant}, ${backend}]`, async function () {
        if (!ref) this.skip();
        await tf.setBackend(backend);
        const c = ref!.outputs[variant];
        const { features, rois, upstream_grad: up } = ref!.inputs;
        const before = tf.memory().numTensors;
        const f = tf.tidy(() => tf.transpose(tf.tensor4d(features.data, features.shape as [number, number, number, number]), NCHW_TO_NHWC)) as tf.Tensor4D;
        const r = tf.tensor2d(rois.data, rois.shape as [number, number]);
        const u = tf.tidy(() => tf.transpose(tf.tensor4d(up.data, up.shape as [number, number, number, number]), NCHW_TO_NHWC)) as tf.Tensor4D;
        const o: RoiAlignOptions = {
          outputSize: ref!.inputs.output_size,
          spatialScale: ref!.inputs.spatial_scale,
          samplingRatio: c.sampling_ratio,
          aligned: c.aligned,
        };
        const { y, dx } = forwardBackward(f, r, u, o);
        const [k, ch, oh, ow] = c.output.shape;
        const yNchw = tf.tidy(() => tf.transpose(tf.tensor(y, [k, oh, ow, ch]), NHWC_TO_NCHW).dataSync());
        const [n, , h, w] = features.shape;
        const dxNchw = tf.tidy(() => tf.transpose(tf.tensor(dx, [n, h, w, ch]), NHWC_TO_NCHW).dataSync());
        // roi_align.json: float32 atol 1e-5.
        expectClose(yNchw, c.output.data, { atol: 1e-5, rtol: 0, what: `${variant} output` });
        expectClose(dxNchw, c.grad_features.data, { atol: 1e-5, rtol: 0, what: `${variant} grad_features` });
        tf.dispose([f, r, u]);
        expect(tf.memory().numTensors).to.equal(before);
      });
    }
  }

  for (const aligned of [true, false]) {
    it(`gradient equals central finite differences on a tiny case [aligned ${aligned}, adaptive sampling]`, async () => {
      await tf.setBackend('cpu');
      const shape: [number, number, number, number] = [2, 5, 6, 2];
      const fv = values(2 * 5 * 6 * 2, 11);
      // Boxes inside, overlapping the border, and degenerate, on both images.
      const rv = [0, 1.5, 2.2, 17.3, 13.9, 1, -3, -2, 9, 7, 1, 10, 4, 23.5, 19.5, 0, 6, 6, 6.5, 6.2];
      const o: RoiAlignOptions = { outputSize: [2, 3], spatialScale: 0.25, samplingRatio: 0, aligned };
      const up = values(4 * 2 * 3 * 2, 5);
      const loss = (x: Float32Array): number =>
        tf.tidy(() => tf.sum(tf.mul(roiAlign(tf.tensor4d(x, shape), tf.tensor2d(rv, [4, 5]), o), tf.tensor(up, [4, 2, 3, 2]))).dataSync()[0]);
      const { dx } = tf.tidy(() => {
        const f = tf.tensor4d(fv, shape);
        return forwardBackward(f, tf.tensor2d(rv, [4, 5]), tf.tensor4d(up, [4, 2, 3, 2]), o);
      });
      const eps = 0.5; // the op is linear in the features: differences are exact up to rounding
      const numeric = new Float32Array(fv.length);
      for (let i = 0; i < fv.length; i++) {
        const plus = fv.slice();
        const minus = fv.slice();
        plus[i] += eps;
        minus[i] -= eps;
        numeric[i] = (loss(plus) - loss(minus)) / (2 * eps);
      }
      expect(Array.from(dx).some((v) => Math.abs(v) > 0.05)).to.equal(true);
      expectClose(dx, numeric, { atol: 2e-5, rtol: 1e-4, what: 'dL/dfeatures' });
    });
  }

  it('wasm and cpu agree on a larger random case, and wasm leaks neither tensors nor buffers', async () => {
    const shape: [number, number, number, number] = [2, 13, 17, 8];
    const fv = values(tf.util.sizeFromShape(shape), 3);
    const rv: number[] = [];
    const rand = values(40 * 4, 9);
    for (let i = 0; i < 40; i++) {
      const x1 = (rand[4 * i] + 1) * 60;
      const y1 = (rand[4 * i + 1] + 1) * 45;
      rv.push(i % 2, x1, y1, x1 + (rand[4 * i + 2] + 1.1) * 30, y1 + (rand[4 * i + 3] + 1.1) * 25);
    }
    const o: RoiAlignOptions = { outputSize: [7, 7], spatialScale: 1 / 8, samplingRatio: 0, aligned: true };
    const up = values(40 * 7 * 7 * 8, 4);
    const run = async (b: 'cpu' | 'wasm') => {
      await tf.setBackend(b);
      return forwardBackward(tf.tensor4d(fv, shape), tf.tensor2d(rv, [40, 5]), tf.tensor4d(up, [40, 7, 7, 8]), o);
    };
    const cpu = await run('cpu');
    const wasm = await run('wasm');
    expectClose(wasm.y, cpu.y, { atol: 1e-6, rtol: 1e-6, what: 'forward' });
    expectClose(wasm.dx, cpu.dx, { atol: 1e-6, rtol: 1e-6, what: 'backward' });
    const be = tf.backend();
    const step = () =>
      tf.tidy(() => {
        const f = tf.tensor4d(fv, shape);
        const g = tf.grad((x: tf.Tensor) => tf.sum(tf.square(roiAlign(x as tf.Tensor4D, tf.tensor2d(rv, [40, 5]), o))))(f);
        g.dataSync();
      });
    step();
    const tensors = tf.memory().numTensors;
    const buffers = be.numDataIds();
    for (let i = 0; i < 3; i++) step();
    expect(tf.memory().numTensors).to.equal(tensors);
    expect(be.numDataIds()).to.equal(buffers);
  });

  for (const backend of ['cpu', 'wasm'] as const) {
    it(`handles no RoIs and names bad input without leaking tensors or buffers [${backend}]`, async () => {
      await tf.setBackend(backend);
      const before = tf.memory().numTensors;
      const buffers = tf.backend().numDataIds();
      tf.tidy(() => {
        const f = tf.zeros([1, 4, 4, 3]) as tf.Tensor4D;
        const o: RoiAlignOptions = { outputSize: [2, 2], spatialScale: 1, samplingRatio: 2, aligned: true };
        expect(roiAlign(f, tf.zeros([0, 5]) as tf.Tensor2D, o).shape).to.deep.equal([0, 2, 2, 3]);
        expect(() => roiAlign(f, tf.tensor2d([[1, 0, 0, 2, 2]]), o)).to.throw(/roi 0 has batch index 1/);
        expect(() => roiAlign(f, tf.tensor2d([[0, 0, 0, 2, 2], [0.5, 0, 0, 2, 2]]), o)).to.throw(/roi 1 has batch index 0.5/);
        expect(() => roiAlign(f, tf.tensor2d([[0, 0, 0, 2]]), o)).to.throw(/\[K, 5\]/);
        expect(() => roiAlign(f, tf.tensor2d([[0, 0, 0, 2, 2]]), { ...o, outputSize: [0, 2] })).to.throw(/outputSize/);
      });
      expect(tf.memory().numTensors).to.equal(before);
      expect(tf.backend().numDataIds()).to.equal(buffers);
    });
  }
});
