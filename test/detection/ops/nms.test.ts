import { expect } from 'chai';
import { batchedNms, nms } from '../../../detection/ops/nms';
import { loadReference, type RefTensor } from '../../helpers/reference';

interface NmsRef {
  inputs: { boxes: RefTensor; scores: RefTensor; class_idxs: RefTensor };
  outputs: Record<string, { iou_threshold: number; nms_keep: RefTensor; batched_nms_keep: RefTensor }>;
}

describe('detection/ops/nms', () => {
  const ref = loadReference<NmsRef>('nms');
  const cases = ref ? Object.entries(ref.outputs) : [];

  it('has the nms.json reference (else the parity cases below are skipped)', function () {
    if (!ref) this.skip();
    expect(cases.length).to.be.greaterThan(0);
  });

  for (const [name, c] of cases) {
    it(`nms and batchedNms keep torchvision's indices in its order [${name}]`, () => {
      const boxes = Float32Array.from(ref!.inputs.boxes.data);
      const scores = Float32Array.from(ref!.inputs.scores.data);
      const groups = Int32Array.from(ref!.inputs.class_idxs.data);
      expect(Array.from(nms(boxes, scores, c.iou_threshold))).to.deep.equal(c.nms_keep.data);
      expect(Array.from(batchedNms(boxes, scores, groups, c.iou_threshold))).to.deep.equal(c.batched_nms_keep.data);
    });
  }

  it('suppresses strictly above the threshold, breaks score ties by index, handles no boxes', () => {
    // IoU of the two boxes is exactly 0.5.
    const boxes = Float32Array.of(0, 0, 10, 10, 0, 0, 10, 5);
    const scores = Float32Array.of(0.5, 0.5);
    expect(Array.from(nms(boxes, scores, 0.5))).to.deep.equal([0, 1]);
    expect(Array.from(nms(boxes, scores, 0.49))).to.deep.equal([0]);
    expect(Array.from(nms(boxes, Float32Array.of(0.4, 0.6), 0.49))).to.deep.equal([1]);
    expect(Array.from(batchedNms(boxes, Float32Array.of(0.4, 0.6), Int32Array.of(3, 7), 0.49))).to.deep.equal([1, 0]);
    expect(nms(new Float32Array(0), new Float32Array(0), 0.5).length).to.equal(0);
    expect(() => nms(boxes, Float32Array.of(1), 0.5)).to.throw(/4 x scores/);
  });
});
