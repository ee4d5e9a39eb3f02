import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { COCO, COCOeval, CocoResult, mask } from '../../../detection/coco';
import { expectClose, sharedDataset } from '../../helpers/reference';
import { fixtureDir, readFixture } from './fixtures';

interface MiniFixture {
  bbox: { stats: number[]; numResults: number };
  segm: { stats: number[]; numResults: number };
  maskAreaSum: number;
  maskAreaFirst50: number[];
}

/** Detections derived from the real annotations; the same rule as make_reference.py's mini_results. */
function miniResults(gt: COCO, iouType: 'bbox' | 'segm'): CocoResult[] {
  const res: CocoResult[] = [];
  const catIds = gt.getCatIds();
  const anns = [...(gt.dataset.annotations ?? [])].sort((a, b) => a.id - b.id);
  for (const ann of anns) {
    const aid = ann.id;
    if (ann.iscrowd || aid % 10 === 0) continue;
    const [x, y, w, h] = ann.bbox!;
    const score = ((aid * 7919) % 1000) / 1000.0;
    const box = [x + (aid % 7) - 3.0, y + (aid % 5) - 2.0, w * (0.8 + (aid % 5) * 0.1), h * (0.8 + (aid % 3) * 0.1)];
    const rec: CocoResult = { image_id: ann.image_id, category_id: ann.category_id, score };
    if (iouType === 'bbox') rec.bbox = box;
    else {
      const img = gt.imgs.get(ann.image_id)!;
      rec.segmentation = aid % 3 === 0 ? mask.frPyObjects([box], img.height!, img.width!)[0] : gt.annToRLE(ann);
    }
    res.push(rec);
    if (aid % 4 === 1) res.push({ ...rec, category_id: catIds[Math.floor(aid / 4) % 80], score: score / 2 });
  }
  return res;
}

describe('detection/coco on real COCO annotations (coco-mini val)', () => {
  // ../shared beside the checkout (located from the fixtures too, for builds outside dist/).
  const beside = path.resolve(fixtureDir, '..', '..', '..', '..', 'shared', 'datasets', 'coco-mini');
  const root = sharedDataset('coco-mini') ?? (fs.existsSync(beside) ? beside : null);
  const have = root !== null && fs.existsSync(path.join(fixtureDir, 'coco_mini_val.json'));

  before(function () {
    if (!have) this.skip();
  });

  for (const iouType of ['bbox', 'segm'] as const) {
    it(`matches pycocotools' 12 ${iouType} stats`, () => {
      const ref = readFixture<MiniFixture>('coco_mini_val.json');
      const gt = new COCO(path.join(root!, 'annotations', 'instances_val.json'));
      const res = miniResults(gt, iouType);
      expect(res.length).to.equal(ref[iouType].numResults);
      const E = new COCOeval(gt, gt.loadRes(res), iouType);
      E.evaluate();
      E.accumulate();
      E.summarize();
      expectClose(E.stats, ref[iouType].stats, { rtol: 0, atol: 1e-12, what: `${iouType} stats` });
    });
  }

  it('rasterises every real polygon / crowd RLE to pycocotools\' areas', () => {
    const ref = readFixture<MiniFixture>('coco_mini_val.json');
    const gt = new COCO(path.join(root!, 'annotations', 'instances_val.json'));
    const areas = (gt.dataset.annotations ?? []).map((a) => mask.area(gt.annToRLE(a)));
    expect(areas.slice(0, 50)).to.deep.equal(ref.maskAreaFirst50);
    expect(areas.reduce((s, v) => s + v, 0)).to.equal(ref.maskAreaSum);
  });
});
