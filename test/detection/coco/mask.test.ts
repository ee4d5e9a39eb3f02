import { expect } from 'chai';
import { countsFromString, countsToString, mask, rleDecode, rleEncode, rleEncodeRowMajor, rowToColMajor } from '../../../detection/coco';
import type { CompressedRle, UncompressedRle } from '../../../detection/coco/mask';
import { readFixture } from './fixtures';

interface MaskOps {
  encode: { h: number; w: number; maskRowMajor: number[]; rle: CompressedRle; area: number; bbox: number[] }[];
  frPoly: { h: number; w: number; poly: number[]; rle: CompressedRle; area: number }[];
  frBbox: { h: number; w: number; bbox: number[]; rle: CompressedRle }[];
  merge: { rles: CompressedRle[]; union: CompressedRle; intersection: CompressedRle }[];
  iou: {
    dt: CompressedRle[];
    gt: CompressedRle[];
    iscrowd: number[];
    iou: number[][];
    dtBoxes: number[][];
    gtBoxes: number[][];
    boxIscrowd: number[];
    boxIou: number[][];
  }[];
  toBbox: { size: [number, number]; counts: number[]; rle: CompressedRle; bbox: number[]; area: number }[];
  strings: { counts: number[]; string: string }[];
}

describe('detection/coco mask API vs pycocotools', () => {
  const ref = readFixture<MaskOps>('mask_ops.json');

  it('encodes masks to the same compressed strings, areas and boxes', () => {
    for (const c of ref.encode) {
      const enc = mask.encode(rowToColMajor(c.maskRowMajor, c.h, c.w), c.h, c.w);
      expect(enc).to.deep.equal(c.rle);
      expect(rleEncodeRowMajor(c.maskRowMajor, c.h, c.w).counts).to.deep.equal(rleEncode(rowToColMajor(c.maskRowMajor, c.h, c.w), c.h, c.w).counts);
      expect(mask.area(c.rle)).to.equal(c.area);
      expect(mask.toBbox(c.rle)).to.deep.equal(c.bbox);
    }
  });

  it('decodes compressed strings back to the original masks', () => {
    for (const c of ref.encode) {
      expect(Array.from(mask.decode(c.rle))).to.deep.equal(Array.from(rowToColMajor(c.maskRowMajor, c.h, c.w)));
    }
  });

  it('rasterises polygons exactly like rleFrPoly (odd edges, outside points, zero-length edges)', () => {
    for (const c of ref.frPoly) {
      const r = mask.frPyObjects([c.poly], c.h, c.w)[0];
      expect(r, JSON.stringify(c.poly)).to.deep.equal(c.rle);
      expect(mask.area(r)).to.equal(c.area);
    }
  });

  it('rasterises boxes like frBbox', () => {
    for (const c of ref.frBbox) expect(mask.frPyObjects([c.bbox], c.h, c.w)[0]).to.deep.equal(c.rle);
    for (const c of ref.frBbox) expect(mask.frPyObjects(c.bbox, c.h, c.w)).to.deep.equal(c.rle);
  });

  it('merges by union and intersection', () => {
    for (const c of ref.merge) {
      expect(mask.merge(c.rles)).to.deep.equal(c.union);
      expect(mask.merge(c.rles, true)).to.deep.equal(c.intersection);
    }
  });

  it('computes mask and box IoU with per-ground-truth iscrowd', () => {
    for (const c of ref.iou) {
      expect(mask.iou(c.dt, c.gt, c.iscrowd)).to.deep.equal(c.iou);
      expect(mask.iou(c.dtBoxes, c.gtBoxes, c.boxIscrowd)).to.deep.equal(c.boxIou);
    }
  });

  it('computes toBbox with the PyPI fix for zero-length runs, and area, from uncompressed RLE', () => {
    for (const c of ref.toBbox) {
      const unc: UncompressedRle = { size: c.size, counts: c.counts };
      expect(mask.frPyObjects(unc, c.size[0], c.size[1])).to.deep.equal(c.rle);
      expect(mask.toBbox(c.rle), JSON.stringify(c.counts)).to.deep.equal(c.bbox);
      expect(mask.toBbox(unc)).to.deep.equal(c.bbox);
      expect(mask.area(c.rle)).to.equal(c.area);
    }
  });

  it('writes and reads the LEB128-like string form, including large and negative differences', () => {
    for (const c of ref.strings) {
      expect(countsToString(c.counts)).to.equal(c.string);
      expect(Array.from(countsFromString(c.string))).to.deep.equal(c.counts);
    }
  });

  it('round-trips random masks through encode, string and decode', () => {
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (let n = 0; n < 50; n++) {
      const h = 1 + Math.floor(rand() * 40);
      const w = 1 + Math.floor(rand() * 40);
      const p = rand();
      const m = Uint8Array.from({ length: h * w }, () => (rand() < p ? 1 : 0));
      const r = rleEncode(m, h, w);
      expect(Array.from(countsFromString(countsToString(r.counts)))).to.deep.equal(Array.from(r.counts));
      expect(Array.from(rleDecode(r))).to.deep.equal(Array.from(m));
    }
  });

  it('rejects RLEs whose runs overrun the image', () => {
    expect(() => mask.decode({ size: [2, 2], counts: [1, 5] })).to.throw(/more than h\*w/);
  });

  it('returns an empty IoU for an empty side and checks iscrowd length', () => {
    expect(mask.iou([], [[0, 0, 1, 1]], [0])).to.deep.equal([]);
    expect(() => mask.iou([[0, 0, 1, 1]], [[0, 0, 1, 1]], [])).to.throw(/same length/);
  });
});
