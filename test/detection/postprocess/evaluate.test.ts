import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { COCO, mask } from '../../../detection/coco';
import { CocoDetectionDataset } from '../../../detection/data/coco_dataset';
import { DetectionLoader } from '../../../detection/data/loader';
import { writeShapesDataset } from '../../../detection/data/shapes';
import type { CocoResult } from '../../../detection/coco/types';
import { maskTargets } from '../../../detection/ops/mask_targets';
import { detectAll } from '../../../detection/postprocess/detect_all';
import { InterruptedError } from '../../../src/core/errors';
import { clearStopRequest, requestStop } from '../../../src/core/signals';
import { evaluateAndReport, evaluateDetections, formatApTable, formatPerCategoryTable, writeMetrics } from '../../../detection/postprocess/evaluate';
import { toCocoResults, toOriginalImage, type Detections } from '../../../detection/postprocess/results';

describe('detection/postprocess: results, COCO JSON and evaluation', () => {
  let dir: string;
  let ds: CocoDetectionDataset;
  let gt: COCO;
  /** A "perfect detector": ground truth in resized pixels, masks as the M x M targets of their boxes. */
  let perfect: Array<{ imageId: number; resized: [number, number]; original: [number, number]; det: Detections }>;
  const M = 28;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-post-'));
    const w = await writeShapesDataset(dir, { seed: 9, numImages: 6, size: 96, radius: [0.15, 0.25] });
    ds = new CocoDetectionDataset({ annotations: w.annotations, images: w.images, filterEmpty: false });
    gt = ds.coco;
    const loader = new DetectionLoader(ds, { mode: 'test', batchSize: 2, minSizes: 120, maxSize: 0 });
    perfect = [];
    for await (const b of loader.images()) {
      b.targets.forEach((t, i) => {
        const n = t.classes.length;
        const rec = ds.record(perfect.length);
        perfect.push({
          imageId: b.imageIds[i],
          resized: b.imageSizes[i],
          original: [rec.height, rec.width],
          det: { boxes: t.boxes, scores: Float32Array.from({ length: n }, (_, j) => 0.9 - 0.1 * j), classes: t.classes, maskProbs: maskTargets(t.masks, t.boxes, M) },
        });
      });
      b.dispose();
    }
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const resultsOf = (list: typeof perfect): CocoResult[] =>
    list.flatMap((p) => toCocoResults(p.imageId, toOriginalImage(p.det, p.resized, p.original), (k) => ds.catIdOf(k)));

  it('maps boxes back to the original image as xywh and masks to compressed RLE at the original size', () => {
    const p = perfect[0];
    const res = resultsOf([p]);
    const anns = gt.loadAnns(gt.getAnnIds({ imgIds: p.imageId }));
    expect(res.length).to.equal(anns.length);
    res.forEach((r, j) => {
      expect(r.category_id).to.equal(anns[j].category_id);
      r.bbox!.forEach((v, k) => expect(v).to.be.closeTo(anns[j].bbox![k], 1e-3));
      const seg = r.segmentation as { size: [number, number]; counts: string };
      expect(seg.size).to.deep.equal(p.original);
      expect(typeof seg.counts).to.equal('string');
      const iou = mask.iou([seg], [gt.annToRLE(anns[j])], [0])[0][0];
      expect(iou).to.be.greaterThan(0.85);
    });
  });

  it('perfect detections built from ground truth give AP 1.0 for bbox and segm', () => {
    const m = evaluateDetections(gt, resultsOf(perfect));
    expect(m.stats.bbox![0]).to.equal(1);
    // 28 x 28 targets pasted back at 1.25x keep every mask IoU above 0.95 for these sizes.
    expect(m.stats.segm![0]).to.equal(1);
    expect(m.stats.bbox!.length).to.equal(12);
  });

  it('wrong classes give AP 0 and dropping half the detections lowers recall', () => {
    const wrong = perfect.map((p) => ({ ...p, det: { ...p.det, classes: p.det.classes.map((c) => (c % 3) + 1) } }));
    expect(evaluateDetections(gt, resultsOf(wrong)).stats.bbox![0]).to.equal(0);
    const half = perfect.map((p) => {
      const n = Math.ceil(p.det.scores.length / 2);
      return { ...p, det: { boxes: p.det.boxes.slice(0, 4 * n), scores: p.det.scores.slice(0, n), classes: p.det.classes.slice(0, n), maskProbs: p.det.maskProbs!.slice(0, n * M * M) } };
    });
    const s = evaluateDetections(gt, resultsOf(half)).stats.bbox!;
    expect(s[0]).to.be.lessThan(0.9);
    expect(s[8]).to.be.lessThan(0.9); // AR@100
  });

  it("gives Detectron2's per-category AP: 100 / 0 per class, and their mean is the overall AP", () => {
    const names = gt.loadCats(gt.getCatIds()).map((c) => String(c.name));
    const all = evaluateDetections(gt, resultsOf(perfect));
    for (const t of ['bbox', 'segm'] as const) {
      expect(Object.keys(all.perCategory[t]!)).to.deep.equal(names);
      for (const n of names) expect(all.perCategory[t]![n]).to.equal(100);
    }
    // Only the first category's detections kept: it alone scores, the others are 0.
    const first = gt.getCatIds()[0];
    const one = evaluateDetections(gt, resultsOf(perfect).filter((r) => r.category_id === first), { iouTypes: ['bbox'] });
    expect(one.perCategory.bbox![names[0]]).to.equal(100);
    for (const n of names.slice(1)) expect(one.perCategory.bbox![n]).to.equal(0);
    // Half the detections: per-category values in between, averaging to COCOeval's AP.
    const half = perfect.map((p) => {
      const n = Math.ceil(p.det.scores.length / 2);
      return { ...p, det: { boxes: p.det.boxes.slice(0, 4 * n), scores: p.det.scores.slice(0, n), classes: p.det.classes.slice(0, n) } };
    });
    const h = evaluateDetections(gt, resultsOf(half), { iouTypes: ['bbox'] });
    const aps = Object.values(h.perCategory.bbox!);
    expect(aps.some((v) => v > 0 && v < 100)).to.equal(true);
    expect(aps.reduce((a, b) => a + b, 0) / aps.length).to.be.closeTo(h.stats.bbox![0] * 100, 1e-9);
    // Images without one category: that category is NaN ('nan' in the table, null in metrics.json).
    const withoutFirst = perfect.filter((p) => gt.loadAnns(gt.getAnnIds({ imgIds: p.imageId })).every((a) => a.category_id !== first));
    expect(withoutFirst.length).to.be.greaterThan(0);
    const m = evaluateDetections(gt, resultsOf(withoutFirst), { iouTypes: ['bbox'], imgIds: withoutFirst.map((p) => p.imageId) });
    expect(m.perCategory.bbox![names[0]]).to.be.NaN;
    const table = formatPerCategoryTable(m, 'bbox');
    expect(table.split('\n')[0]).to.equal('| category | AP | category | AP | category | AP |');
    expect(table).to.contain(`| ${names[0]} | nan |`);
    const j = JSON.parse(fs.readFileSync(writeMetrics(path.join(dir, 'per_cat'), m), 'utf8'));
    expect(j.per_category.bbox[names[0]]).to.equal(null);
    expect(j.per_category.bbox[names[1]]).to.equal(100);
  });

  it('drops boxes that are empty after clipping and scales each axis by its own ratio', () => {
    const r = toOriginalImage(
      { boxes: Float32Array.from([10, 10, 30, 20, 200, 5, 220, 9]), scores: Float32Array.from([0.9, 0.8]), classes: Int32Array.from([1, 2]) },
      [50, 100],
      [100, 150],
    );
    expect(Array.from(r.boxes)).to.deep.equal([15, 20, 45, 40]);
    expect(Array.from(r.classes)).to.deep.equal([1]);
    expect(r.masks).to.equal(undefined);
  });

  it('prints the AP table and writes metrics.json with both 12-number stats arrays', () => {
    const m = evaluateDetections(gt, resultsOf(perfect));
    const table = formatApTable(m);
    expect(table).to.match(/\| type \| AP \| AP50 \| AP75 \| APs \| APm \| APl \|/);
    expect(table).to.match(/\| bbox \| 100\.000 \| 100\.000 \| 100\.000 \|/);
    expect(table).to.match(/\| segm \|/);
    const file = writeMetrics(path.join(dir, 'out'), m, { iterations: 3 });
    const j = JSON.parse(fs.readFileSync(file, 'utf8'));
    expect(j.bbox).to.have.length(12);
    expect(j.segm).to.have.length(12);
    expect(j.summary.bbox.AP).to.equal(100);
    expect(j.iterations).to.equal(3);
    expect(j.num_images).to.equal(6);
  });

  it('evaluateAndReport prints the table and writes metrics.json and the results file', () => {
    const lines: string[] = [];
    const out = path.join(dir, 'report');
    const res = resultsOf(perfect);
    const m = evaluateAndReport(gt, res, { outDir: out, log: (l) => lines.push(l), imgIds: perfect.slice(0, 3).map((p) => p.imageId) });
    expect(m.numImages).to.equal(3);
    expect(lines.join('\n')).to.match(/3 images/).and.to.match(/\| segm \| 100\.000/);
    expect(lines).to.include('Per-category bbox AP:').and.to.include('Per-category segm AP:');
    expect(JSON.parse(fs.readFileSync(path.join(out, 'coco_instances_results.json'), 'utf8'))).to.deep.equal(JSON.parse(JSON.stringify(res)));
    expect(JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8')).num_images).to.equal(3);
  });

  it('detectAll runs a detector over the evaluation loader and gives the same results', async () => {
    const before = tf.memory().numTensors;
    const loader = new DetectionLoader(ds, { mode: 'test', batchSize: 4, minSizes: 120, maxSize: 0 });
    const byId = new Map(perfect.map((p) => [p.imageId, p.det]));
    let batches = 0;
    const { results, imageIds } = await detectAll(loader, ds, (b) => b.imageIds.map((id) => byId.get(id)!), { onBatch: () => batches++ });
    expect(batches).to.equal(2);
    expect(imageIds).to.deep.equal(perfect.map((p) => p.imageId));
    expect(results).to.deep.equal(resultsOf(perfect));
    expect(tf.memory().numTensors).to.equal(before);
  });

  it('detectAll stops between batches on SIGINT / SIGTERM (InterruptedError, exit 143) and leaks nothing', async () => {
    const before = tf.memory().numTensors;
    const loader = new DetectionLoader(ds, { mode: 'test', batchSize: 1, minSizes: 120, maxSize: 0 });
    const byId = new Map(perfect.map((p) => [p.imageId, p.det]));
    let batches = 0;
    let err: unknown = null;
    try {
      await detectAll(loader, ds, (b) => {
        if (++batches === 2) requestStop('SIGTERM');
        return b.imageIds.map((id) => byId.get(id)!);
      });
    } catch (e) {
      err = e;
    } finally {
      clearStopRequest();
    }
    expect(err).to.be.instanceOf(InterruptedError);
    expect((err as InterruptedError).exitCode).to.equal(143);
    expect(batches).to.equal(2);
    expect(tf.memory().numTensors).to.equal(before);
  });

  it('no results is a valid (zero) evaluation, and nothing here leaks tensors', () => {
    const before = tf.memory().numTensors;
    const m = evaluateDetections(gt, [], { iouTypes: ['bbox', 'segm'] });
    expect(m.stats.bbox![0]).to.be.at.most(0);
    expect(tf.memory().numTensors).to.equal(before);
  });
});
