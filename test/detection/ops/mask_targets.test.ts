import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { rleFrPoly } from '../../../detection/coco/polygon';
import { rleMerge } from '../../../detection/coco/rle';
import { maskTargets, maskTargetsForProposals } from '../../../detection/ops/mask_targets';
import { repoRoot } from '../../helpers/reference';

interface Case {
  box: number[];
  M: number;
  mask: string;
}
interface Fixture {
  polygon: Array<Case & { polygons: number[][] }>;
  rle: Array<Case & { size: [number, number]; counts: number[] }>;
}

const fixture = JSON.parse(fs.readFileSync(path.join(repoRoot, 'test', 'fixtures', 'detection', 'mask_targets.json'), 'utf8')) as Fixture;
const bits = (t: Float32Array) => Array.from(t, (v) => (v ? '1' : '0')).join('');

describe('detection/ops maskTargets (Detectron2 mask targets, test/fixtures/detection/mask_targets.json)', () => {
  it("rasterises polygons inside gt and proposal boxes like rasterize_polygons_within_box", () => {
    for (const [i, c] of fixture.polygon.entries()) {
      const t = maskTargets([{ polygons: c.polygons }], Float32Array.from(c.box), c.M);
      expect(bits(t), `polygon case ${i}`).to.equal(c.mask);
    }
  });

  it('crops and resizes bitmasks (RLE) like BitMasks.crop_and_resize (RoIAlign aligned, adaptive, >= 0.5)', () => {
    for (const [i, c] of fixture.rle.entries()) {
      const t = maskTargets([{ rle: { size: c.size, counts: c.counts } }], Float32Array.from(c.box), c.M);
      expect(bits(t), `bitmask case ${i}`).to.equal(c.mask);
    }
  });

  it("the fixture script's polygon rasteriser agrees with detection/coco's (pycocotools-exact) one", () => {
    // The script re-implements maskApi.c because pycocotools is not installed where it ran;
    // its full-image bitmasks were made from the fixture's first three shapes.
    fixture.rle.forEach((c, i) => {
      const polys = fixture.polygon[i % 3].polygons;
      const [h, w] = c.size;
      const ours = rleMerge(polys.map((p) => rleFrPoly(p, h, w)));
      expect(Array.from(ours.counts), `bitmask case ${i}`).to.deep.equal(c.counts);
    });
  });

  it('batches several instances and picks gt masks per proposal', () => {
    const a = fixture.polygon[3];
    const b = fixture.rle[0];
    const M = 28;
    if (a.M !== M || b.M !== M) throw new Error('fixture cases 3 / 0 are expected at M = 28');
    const gt = [{ polygons: a.polygons }, { rle: { size: b.size, counts: b.counts } }];
    const t = maskTargetsForProposals(gt, Int32Array.from([1, 0, 1]), Float32Array.from([...b.box, ...a.box, ...b.box]), M);
    expect(t.length).to.equal(3 * M * M);
    expect(bits(t.subarray(0, M * M))).to.equal(b.mask);
    expect(bits(t.subarray(M * M, 2 * M * M))).to.equal(a.mask);
    expect(bits(t.subarray(2 * M * M))).to.equal(b.mask);
    expect(() => maskTargets(gt, new Float32Array(4), M)).to.throw(/2 masks but 1 boxes/);
    expect(() => maskTargetsForProposals(gt, Int32Array.from([2]), new Float32Array(4), M)).to.throw(/gt index 2/);
  });
});

describe("detection/ops maskTargets, torchvision style (project_masks_on_boxes)", () => {
  const tv = (fixture as unknown as { torchvision: Array<{ polygons: number[][]; size: [number, number]; box: number[]; M: number; values: number[] }> }).torchvision;

  it('gives soft targets from unaligned RoIAlign of the full-image masks', () => {
    expect(tv.length).to.be.greaterThan(0);
    tv.forEach((c, i) => {
      const t = maskTargets([{ polygons: c.polygons }], Float32Array.from(c.box), c.M, { style: 'torchvision', imageSize: c.size });
      expect(t.length).to.equal(c.M * c.M);
      t.forEach((v, j) => expect(v, `case ${i} [${j}]`).to.be.closeTo(c.values[j], 1e-6));
      if (i < 3) expect(c.values.some((v) => v > 0 && v < 1), `case ${i} has soft values`).to.equal(true);
    });
  });

  it('needs the image size for polygons', () => {
    expect(() => maskTargets([{ polygons: tv[0].polygons }], Float32Array.from(tv[0].box), 28, { style: 'torchvision' })).to.throw(/imageSize/);
  });
});
