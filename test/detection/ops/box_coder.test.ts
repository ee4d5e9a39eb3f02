import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { BoxCoder } from '../../../detection/ops/box_coder';
import { expectClose, loadReference, type RefTensor } from '../../helpers/reference';

interface CoderCase {
  weights: [number, number, number, number];
  encode_gt_wrt_proposals: RefTensor;
  decode_roundtrip: RefTensor;
  decode_given_deltas: RefTensor;
}
interface CoderRef {
  formulas: { clip: number };
  inputs: { proposals: RefTensor; gt_boxes: RefTensor; deltas_for_decode: RefTensor };
  outputs: Record<string, CoderCase>;
}

describe('detection/ops/box_coder', () => {
  const ref = loadReference<CoderRef>('box_coder');
  const cases = ref ? Object.entries(ref.outputs) : [];

  it('has the box_coder.json reference (else the parity cases below are skipped)', function () {
    if (!ref) this.skip();
    expect(cases.length).to.equal(2);
    expect(new BoxCoder([1, 1, 1, 1]).scaleClamp).to.be.closeTo(ref!.formulas.clip, 1e-6);
  });

  for (const [name, c] of cases) {
    it(`encode / decode / decodeTensor match torchvision BoxCoder [${name}]`, () => {
      const { proposals, gt_boxes: gt, deltas_for_decode: deltas } = ref!.inputs;
      const coder = new BoxCoder(c.weights);
      const p = Float32Array.from(proposals.data);
      // Tolerance per box_coder.json: rtol 1e-6, 1e-5 where exp amplifies (clamped rows).
      expectClose(coder.encode(Float32Array.from(gt.data), p), c.encode_gt_wrt_proposals.data, { rtol: 1e-6, atol: 1e-6, what: 'encode' });
      expectClose(coder.decode(Float32Array.from(c.encode_gt_wrt_proposals.data), p), c.decode_roundtrip.data, { rtol: 1e-5, atol: 1e-5, what: 'roundtrip' });
      expectClose(coder.decode(Float32Array.from(deltas.data), p), c.decode_given_deltas.data, { rtol: 1e-5, atol: 1e-5, what: 'decode' });
      const before = tf.memory().numTensors;
      const t = tf.tidy(() => coder.decodeTensor(tf.tensor2d(deltas.data, [6, 4]), tf.tensor2d(proposals.data, [6, 4])));
      expectClose(t.dataSync(), c.decode_given_deltas.data, { rtol: 1e-5, atol: 1e-4, what: 'decodeTensor' });
      t.dispose();
      expect(tf.memory().numTensors).to.equal(before);
    });
  }

  it('decodes K class-specific delta rows per box, host and tensor alike', () => {
    const coder = new BoxCoder([10, 10, 5, 5]);
    const boxes = Float32Array.of(10, 10, 50, 30, 0, 0, 8, 4);
    const deltas = Float32Array.from({ length: 2 * 3 * 4 }, (_, i) => Math.sin(i) * 2);
    const host = coder.decode(deltas, boxes);
    expect(host.length).to.equal(24);
    // Row (box 1, class 2) equals decoding that delta alone against box 1.
    expectClose(host.subarray(20, 24), coder.decode(deltas.subarray(20, 24), boxes.subarray(4, 8)), { what: 'row' });
    const t = tf.tidy(() => coder.decodeTensor(tf.tensor2d(deltas, [2, 12]), tf.tensor2d(boxes, [2, 4])));
    expect(t.shape).to.deep.equal([2, 12]);
    expectClose(t.dataSync(), host, { rtol: 1e-5, atol: 1e-4, what: 'decodeTensor' });
    t.dispose();
    expect(() => coder.decode(new Float32Array(6), boxes)).to.throw(/multiple of 4/);
    expect(() => new BoxCoder([1, 0, 1, 1])).to.throw(/positive/);
  });
});
