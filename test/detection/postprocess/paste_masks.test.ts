import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { rleDecode, rleEncode } from '../../../detection/coco/rle';
import { pasteMask, pasteMaskRle, samplePasted } from '../../../detection/postprocess/paste_masks';
import { repoRoot } from '../../helpers/reference';

interface Fixture {
  height: number;
  width: number;
  cases: Array<{ M: number; probs: number[]; box: number[]; values: Array<[number, number]>; mask: string }>;
}
const fx = JSON.parse(fs.readFileSync(path.join(repoRoot, 'test', 'fixtures', 'detection', 'paste_masks.json'), 'utf8')) as Fixture;

describe("detection/postprocess pasteMask (Detectron2's paste_masks_in_image, test/fixtures/detection/paste_masks.json)", () => {
  const { height: H, width: W } = fx;

  it('samples the same values as grid_sample over the box grown by one pixel', () => {
    fx.cases.forEach((c, i) => {
      const want = new Float64Array(H * W);
      for (const [j, v] of c.values) want[j] = v;
      const got = new Float64Array(H * W);
      samplePasted(Float32Array.from(c.probs), c.M, Float32Array.from(c.box), H, W, (x, y, v) => (got[y * W + x] = v));
      for (let j = 0; j < H * W; j++) expect(got[j], `case ${i} pixel ${j}`).to.be.closeTo(want[j], 1e-5);
    });
  });

  it('thresholds at 0.5 into a column-major mask (same pixels as the reference)', () => {
    fx.cases.forEach((c, i) => {
      const m = pasteMask(Float32Array.from(c.probs), c.M, Float32Array.from(c.box), H, W);
      let diff = 0;
      let ones = 0;
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
        const want = c.mask[y * W + x] === '1' ? 1 : 0;
        ones += want;
        if (m[x * H + y] !== want) diff++;
      }
      expect(diff, `case ${i}`).to.equal(0);
      if (i < 2) expect(ones, `case ${i} is not trivial`).to.be.greaterThan(50);
      const r = pasteMaskRle(Float32Array.from(c.probs), c.M, Float32Array.from(c.box), H, W);
      expect(Array.from(r.counts), `case ${i} runs`).to.deep.equal(Array.from(rleEncode(m, H, W).counts));
      expect(Buffer.from(rleDecode(r)).equals(Buffer.from(m))).to.equal(true);
    });
  });

  it('a box entirely outside the image pastes nothing; a wrong-sized mask is refused', () => {
    const probs = new Float32Array(16).fill(1);
    expect(pasteMask(probs, 4, [60, 50, 70, 60], H, W).every((v) => v === 0)).to.equal(true);
    expect(Array.from(pasteMaskRle(probs, 4, [60, 50, 70, 60], H, W).counts)).to.deep.equal([H * W]);
    // A mask reaching the image corners: runs start and end with ones where they should.
    const full = pasteMaskRle(probs, 4, [-10, -10, W + 10, H + 10], H, W);
    expect(Array.from(full.counts)).to.deep.equal([0, H * W]);
    expect(() => pasteMask(new Float32Array(15), 4, [0, 0, 4, 4], H, W)).to.throw(/15 probabilities, expected 4x4/);
  });
});
