import { expect } from 'chai';
import { COCO, COCOeval } from '../../../detection/coco';
import { EPS } from '../../../detection/coco/accumulate';
import { expectClose } from '../../helpers/reference';
import { EvalCase, evalCaseNames, loadData, readFixture } from './fixtures';

/** Runs one fixture case through our COCOeval with the case's parameter overrides. */
function runCase(c: EvalCase): COCOeval {
  const data = loadData(c.data);
  const gt = new COCO(data.gt);
  const dt = gt.loadRes(data.results);
  const E = new COCOeval(gt, dt, c.iouType);
  if (c.params.useCats !== undefined) E.params.useCats = c.params.useCats;
  if (c.params.maxDets) E.params.maxDets = [...c.params.maxDets];
  if (c.params.imgIds) E.params.imgIds = [...c.params.imgIds];
  if (c.params.catIds) E.params.catIds = [...c.params.catIds];
  E.evaluate();
  E.accumulate();
  E.summarize();
  return E;
}

describe('detection/coco COCOeval vs pycocotools', () => {
  const names = evalCaseNames();

  it('has the reference cases', () => {
    expect(names.length).to.be.greaterThanOrEqual(10);
  });

  for (const name of names) {
    describe(name, () => {
      const c = readFixture<EvalCase>(`eval_${name}.json`);
      let E: COCOeval;
      before(() => {
        E = runCase(c);
      });

      it('uses the same IoU and recall thresholds (bit for bit)', () => {
        expect(E.params.iouThrs).to.deep.equal(c.expected.iouThrs);
        expect(E.params.recThrs).to.deep.equal(c.expected.recThrs);
      });

      it('gives the 12 stats to 1e-12', () => {
        expectClose(E.stats, c.expected.stats, { rtol: 0, atol: 1e-12, what: `${name} stats` });
      });

      it('prints the same summary lines', () => {
        expect(E.summaryLines).to.deep.equal(c.expected.lines);
      });

      it('accumulates the same recall array and precision/score samples', () => {
        const acc = E.eval!;
        expect(acc.counts).to.deep.equal(c.expected.counts);
        expectClose(acc.recall, c.expected.recall, { rtol: 0, atol: 1e-12, what: 'recall' });
        const ps = c.expected.precisionSamples;
        expectClose(ps.index.map((i) => acc.precision[i]), ps.value, { rtol: 0, atol: 1e-12, what: 'precision' });
        const ss = c.expected.scoresSamples;
        expectClose(ss.index.map((i) => acc.scores[i]), ss.value, { rtol: 0, atol: 0, what: 'scores' });
      });

      const perCategoryApplies = c.params.useCats !== 0 && c.iouType !== 'keypoints' && c.expected.stats[0] >= 0;
      if (perCategoryApplies) it("per-category AP (Detectron2's) averages to pycocotools' AP over the categories with ground truth", () => {
        const aps = E.perCategoryAp();
        expect(aps.map((a) => a.catId)).to.deep.equal(E.params.catIds);
        const defined = aps.filter((a) => !Number.isNaN(a.ap)).map((a) => a.ap);
        expect(defined.length).to.be.greaterThan(0);
        expect(defined.reduce((x, y) => x + y, 0) / defined.length).to.be.closeTo(c.expected.stats[0] * 100, 1e-9);
      });

      it('produces the same per-image matches (evalImgs)', () => {
        expect(E.evalImgsLength).to.equal(c.expected.evalImgsLength);
        for (const ref of c.expected.evalImgs) {
          const { index, ...want } = ref;
          const got = E.evalImg(index);
          expect(got, `evalImgs[${index}]`).to.not.equal(null);
          expect(got, `evalImgs[${index}]`).to.deep.equal(want);
        }
      });
    });
  }
});

describe('detection/coco COCOeval behaviour', () => {
  const data = loadData('bbox_a');

  it('does not modify the caller\'s result records', () => {
    const results = JSON.parse(JSON.stringify(data.results)) as typeof data.results;
    const before = JSON.stringify(results);
    const gt = new COCO(JSON.parse(JSON.stringify(data.gt)));
    const E = new COCOeval(gt, gt.loadRes(results), 'bbox');
    E.evaluate();
    E.accumulate();
    E.summarize();
    expect(JSON.stringify(results)).to.equal(before);
  });

  it('scores ground truth used as detections at AP 1 (crowd-free categories)', () => {
    const gtData = JSON.parse(JSON.stringify(data.gt));
    gtData.annotations = gtData.annotations.filter((a: { iscrowd: number }) => !a.iscrowd);
    const gt = new COCO(gtData);
    const res = gtData.annotations.map((a: { image_id: number; category_id: number; bbox: number[] }) => ({
      image_id: a.image_id,
      category_id: a.category_id,
      bbox: a.bbox,
      score: 1,
    }));
    const E = new COCOeval(gt, gt.loadRes(res), 'bbox');
    E.evaluate();
    E.accumulate();
    const s = E.summarize();
    expect(s[0]).to.be.closeTo(1, 1e-15);
    expect(s[1]).to.be.closeTo(1, 1e-15);
  });

  it('gives -1 for a category that has detections but no regular ground truth', () => {
    const gt = new COCO({
      images: [{ id: 1, width: 100, height: 100 }],
      categories: [{ id: 1 }, { id: 2 }],
      annotations: [
        { id: 1, image_id: 1, category_id: 1, bbox: [0, 0, 10, 10], area: 100, iscrowd: 0 },
        { id: 2, image_id: 1, category_id: 2, bbox: [50, 50, 10, 10], area: 100, iscrowd: 1 },
      ],
    });
    const res = [
      { image_id: 1, category_id: 1, bbox: [0, 0, 10, 10], score: 0.9 },
      { image_id: 1, category_id: 2, bbox: [50, 50, 10, 10], score: 0.8 },
    ];
    const E = new COCOeval(gt, gt.loadRes(res), 'bbox');
    E.evaluate();
    E.accumulate();
    E.summarize();
    const acc = E.eval!;
    // precision[t=0, r=0, k=1, a=0, m=2] is -1; k=0 is 1.
    const [, R, K, A, M] = acc.counts;
    expect(acc.precision[((0 * R + 0) * K + 1) * A * M + 0 * M + 2]).to.equal(-1);
    // tp / (tp + fp + eps) with tp = 1, fp = 0: just below 1, as in pycocotools.
    expect(acc.precision[((0 * R + 0) * K + 0) * A * M + 0 * M + 2]).to.equal(1 / (1 + EPS));
    expect(E.stats[0]).to.equal(1 / (1 + EPS));
  });
});
