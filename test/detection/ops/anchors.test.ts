import * as fs from 'fs';
import * as path from 'path';
import { expect } from 'chai';
import { AnchorGenerator } from '../../../detection/ops/anchors';
import { repoRoot } from '../../helpers/reference';

interface AnchorFixture {
  sizes: number[][];
  aspect_ratios: number[][];
  feature_hw: Array<[number, number]>;
  strides: number[];
  anchors: number[][];
}

describe('detection/ops/anchors', () => {
  it("gridAnchors equals torchvision's AnchorGenerator (order and rounding) on the committed fixture", () => {
    const fx = JSON.parse(fs.readFileSync(path.join(repoRoot, 'test/fixtures/detection/anchors.json'), 'utf8')) as AnchorFixture;
    const gen = new AnchorGenerator({ sizes: fx.sizes, aspectRatios: fx.aspect_ratios, strides: fx.strides });
    const out = gen.gridAnchors(fx.feature_hw);
    expect(out.length).to.equal(fx.anchors.length);
    fx.anchors.forEach((expected, l) => {
      expect(gen.numCellAnchors(l)).to.equal(fx.sizes[l].length * fx.aspect_ratios[l].length);
      expect(Array.from(out[l]), `level ${l}`).to.deep.equal(expected);
    });
  });

  it('offset shifts every anchor by offset x stride; round=false keeps exact sizes; bad options are named', () => {
    const o = { sizes: [[32]], aspectRatios: [[0.5]], strides: [8] };
    const base = new AnchorGenerator({ ...o, round: false }).gridAnchors([[2, 3]])[0];
    const shifted = new AnchorGenerator({ ...o, round: false, offset: 0.5 }).gridAnchors([[2, 3]])[0];
    expect(base.length).to.equal(2 * 3 * 4);
    for (let i = 0; i < base.length; i++) expect(shifted[i] - base[i]).to.be.closeTo(4, 1e-5);
    // Ratio 0.5 (h / w): width 32 * sqrt(2), height 32 / sqrt(2), unrounded.
    expect(base[2] - base[0]).to.be.closeTo(32 * Math.SQRT2, 1e-4);
    expect(base[3] - base[1]).to.be.closeTo(32 / Math.SQRT2, 1e-4);
    // Row (y=1, x=2) is centred at (16, 8).
    expect((base[20] + base[22]) / 2).to.be.closeTo(16, 1e-5);
    expect((base[21] + base[23]) / 2).to.be.closeTo(8, 1e-5);
    expect(() => new AnchorGenerator({ sizes: [[32], [64]], aspectRatios: [[1]], strides: [8] })).to.throw(/sizes has 2 levels/);
    expect(() => new AnchorGenerator(o).gridAnchors([])).to.throw(/feature sizes/);
  });
});
