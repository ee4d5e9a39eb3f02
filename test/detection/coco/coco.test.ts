import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { COCO, CocoFormatError, CocoResult } from '../../../detection/coco';
import type { CompressedRle } from '../../../detection/coco/mask';
import { loadData, readFixture } from './fixtures';

interface IndexFixture {
  queries: { fn: 'getAnnIds' | 'getCatIds' | 'getImgIds'; args: Record<string, unknown>; result: number[] }[];
  loadResBbox: { input: CocoResult[]; anns: Record<string, unknown>[] };
  loadResSegm: { input: CocoResult[]; anns: Record<string, unknown>[] };
  loadResBoth: { input: CocoResult[]; anns: Record<string, unknown>[] };
  annToRLE: { id: number; rle: CompressedRle; maskSum: number; rowSums: number[] }[];
}

describe('detection/coco COCO index vs pycocotools', () => {
  const ref = readFixture<IndexFixture>('index_api.json');
  const bbox = loadData('bbox_a');
  const segm = loadData('segm_a');

  it('answers getAnnIds / getCatIds / getImgIds with the same filters', () => {
    const c = new COCO(bbox.gt);
    for (const q of ref.queries) {
      const got = (c[q.fn] as (a: Record<string, unknown>) => number[]).call(c, q.args);
      expect(got, `${q.fn}(${JSON.stringify(q.args)})`).to.deep.equal(q.result);
    }
  });

  it('loads from a file path like from an object', () => {
    const file = path.join(os.tmpdir(), `coco-index-${process.pid}.json`);
    fs.writeFileSync(file, JSON.stringify(bbox.gt));
    try {
      const a = new COCO(file);
      const b = new COCO(bbox.gt);
      expect(a.getAnnIds()).to.deep.equal(b.getAnnIds());
      expect(a.loadImgs([7, 10])).to.deep.equal(b.loadImgs([7, 10]));
      expect(a.loadCats(3)[0].name).to.equal('c3');
      const ids = a.getAnnIds({ imgIds: 7 });
      expect(a.loadAnns(ids).map((x) => x.image_id)).to.deep.equal(ids.map(() => 7));
    } finally {
      fs.unlinkSync(file);
    }
  });

  it('loadRes fills box results like pycocotools (area, box polygon, ids, iscrowd)', () => {
    const c = new COCO(bbox.gt);
    expect(c.loadRes(ref.loadResBbox.input).dataset.annotations).to.deep.equal(ref.loadResBbox.anns);
  });

  it('loadRes fills mask results with area and bbox from the RLE', () => {
    const c = new COCO(segm.gt);
    expect(c.loadRes(ref.loadResSegm.input).dataset.annotations).to.deep.equal(ref.loadResSegm.anns);
  });

  it('loadRes takes the box path when the first record has a bbox, even with a segmentation', () => {
    const c = new COCO(segm.gt);
    expect(c.loadRes(ref.loadResBoth.input).dataset.annotations).to.deep.equal(ref.loadResBoth.anns);
  });

  it('converts polygon, uncompressed and compressed segmentations with annToRLE / annToMask', () => {
    const c = new COCO(segm.gt);
    const byId = new Map(segm.gt.annotations!.map((a) => [a.id, a]));
    for (const r of ref.annToRLE) {
      const ann = byId.get(r.id)!;
      expect(c.annToRLE(ann), `annotation ${r.id}`).to.deep.equal(r.rle);
      const m = c.annToMask(ann);
      let sum = 0;
      const rowSums = new Array<number>(m.h).fill(0);
      for (let y = 0; y < m.h; y++) for (let x = 0; x < m.w; x++) rowSums[y] += m.data[y * m.w + x];
      for (const v of rowSums) sum += v;
      expect(sum).to.equal(r.maskSum);
      expect(rowSums).to.deep.equal(r.rowSums);
    }
  });

  describe('malformed results name the record', () => {
    const c = new COCO(bbox.gt);
    const ok = { image_id: 7, category_id: 1, bbox: [1, 2, 3, 4], score: 0.5 };
    const cases: [string, unknown[], RegExp][] = [
      ['unknown image id', [ok, { ...ok, image_id: 12345 }], /results\[1\]: image_id 12345 is not an image/],
      ['missing image_id', [ok, { category_id: 1, bbox: [1, 2, 3, 4], score: 1 }], /results\[1\]: missing "image_id"/],
      ['missing score', [{ image_id: 7, category_id: 1, bbox: [1, 2, 3, 4] }], /results\[0\]: missing "score"/],
      ['wrong bbox length', [ok, ok, { ...ok, bbox: [1, 2, 3] }], /results\[2\]: "bbox" must be \[x, y, width, height\]/],
      ['missing category', [{ image_id: 7, bbox: [1, 2, 3, 4], score: 1 }], /results\[0\]: missing "category_id"/],
      ['not an array', [], /./],
    ];
    for (const [what, list, re] of cases) {
      it(what, () => {
        const input = what === 'not an array' ? ({ results: [] } as unknown as CocoResult[]) : (list as CocoResult[]);
        expect(() => c.loadRes(input)).to.throw(CocoFormatError, re);
      });
    }
    it('mask results need compressed RLE', () => {
      expect(() => c.loadRes([{ image_id: 7, category_id: 1, score: 1, segmentation: { size: [2, 2], counts: [4] } }])).to.throw(
        CocoFormatError,
        /results\[0\]: "segmentation" of a mask result must be a compressed RLE/,
      );
    });
  });
});
