import { expect } from 'chai';
import { boxArea, clipBoxes, nonEmpty, pairwiseIou } from '../../../detection/ops/boxes';
import { expectClose, loadReference, type RefTensor } from '../../helpers/reference';

interface NmsRef {
  inputs: { boxes: RefTensor };
  iou_matrix: { shape: number[]; data: Array<number | null> };
}

describe('detection/ops/boxes', () => {
  it('pairwiseIou matches torchvision box_iou on nms.json (0 where torchvision has 0/0)', function () {
    const ref = loadReference<NmsRef>('nms');
    if (!ref) this.skip();
    const b = Float32Array.from(ref!.inputs.boxes.data);
    const iou = pairwiseIou(b, b);
    const n = b.length / 4;
    expect(ref!.iou_matrix.shape).to.deep.equal([n, n]);
    // Box 8 has zero area: its self-IoU is NaN (null) in the reference, 0 here.
    expectClose(iou, ref!.iou_matrix.data.map((v) => v ?? 0), { atol: 1e-6, rtol: 1e-6, what: 'iou' });
  });

  it('pairwiseIou of N x M is row-major [N, M] and symmetric in its arguments', () => {
    const a = Float32Array.of(0, 0, 10, 10, 5, 5, 15, 15);
    const b = Float32Array.of(0, 0, 10, 10, 20, 20, 30, 30, 0, 5, 10, 15);
    const ab = pairwiseIou(a, b);
    const ba = pairwiseIou(b, a);
    expect(ab.length).to.equal(6);
    for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) expect(ab[i * 3 + j]).to.equal(ba[j * 2 + i]);
    expectClose(ab, [1, 0, 50 / 150, 25 / 175, 0, 50 / 150], { what: 'iou' });
  });

  it('boxArea, clipBoxes (in place) and nonEmpty (strictly larger than minSize)', () => {
    const b = Float32Array.of(-5, 2, 30, 8, 1, 1, 1, 4, 3, 3, 5, 5.5);
    expectClose(boxArea(b), [210, 0, 5], { what: 'area' });
    const same = clipBoxes(b, 6, 20);
    expect(same).to.equal(b);
    expect(Array.from(b)).to.deep.equal([0, 2, 20, 6, 1, 1, 1, 4, 3, 3, 5, 5.5]);
    expect(Array.from(nonEmpty(b))).to.deep.equal([0, 2]);
    expect(Array.from(nonEmpty(b, 1.9))).to.deep.equal([0, 2]);
    expect(Array.from(nonEmpty(b, 2))).to.deep.equal([0]);
    expect(() => boxArea(new Float32Array(3))).to.throw(/4N/);
  });
});
