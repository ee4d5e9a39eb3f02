import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { rleDecode } from '../../../detection/coco/rle';
import { rleFrPoly } from '../../../detection/coco/polygon';
import { CocoDetectionDataset } from '../../../detection/data/coco_dataset';
import { DetectionLoader } from '../../../detection/data/loader';
import { generateShapes, writeShapesDataset } from '../../../detection/data/shapes';
import type { DetectionBatch } from '../../../detection/data/types';

async function hostOf(b: DetectionBatch): Promise<unknown> {
  const images = Array.from(await b.images.data());
  return { images, shape: b.images.shape, sizes: b.imageSizes, ids: b.imageIds, scales: b.scales, targets: b.targets };
}

describe('detection/data shapes dataset and DetectionLoader', () => {
  let dir: string;
  let ds: CocoDetectionDataset;
  const opts = { seed: 3, numImages: 7, size: 64 };
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-shapes-'));
    const w = await writeShapesDataset(dir, opts);
    ds = new CocoDetectionDataset({ annotations: w.annotations, images: w.images });
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('generates the same dataset from the same seed, a different one from another seed', () => {
    const a = generateShapes(opts);
    const b = generateShapes(opts);
    const c = generateShapes({ ...opts, seed: 4 });
    expect(a.dataset).to.deep.equal(b.dataset);
    expect(Buffer.from(a.pixels[0]).equals(Buffer.from(b.pixels[0]))).to.equal(true);
    expect(a.dataset.annotations).to.not.deep.equal(c.dataset.annotations);
    expect(a.dataset.categories!.map((k) => k.name)).to.deep.equal(['rectangle', 'circle', 'triangle']);
  });

  it('writes PNGs that decode to the generated pixels, and masks cover exactly the painted shapes', async () => {
    const { dataset, pixels } = generateShapes(opts);
    expect(ds.length).to.equal(7);
    for (let i = 0; i < 2; i++) {
      const im = await ds.loadImage(i);
      expect(Buffer.from(im.data).equals(Buffer.from(pixels[i]))).to.equal(true);
      const rec = ds.record(i);
      const anns = dataset.annotations!.filter((a) => a.image_id === rec.imageId);
      expect(rec.target.classes.length).to.equal(anns.length).and.to.be.greaterThan(0);
      for (const a of anns) {
        const poly = (a.segmentation as number[][])[0];
        const bits = rleDecode(rleFrPoly(poly, im.height, im.width));
        let n = 0;
        for (let j = 0; j < bits.length; j++) n += bits[j];
        expect(n).to.equal(a.area);
      }
    }
  });

  it('writes JPEGs on request (lossy, so close to the generated pixels, same annotations)', async () => {
    const jdir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-shapes-jpg-'));
    try {
      const w = await writeShapesDataset(jdir, { ...opts, numImages: 2, format: 'jpg' });
      expect(w.dataset.images![0].file_name).to.match(/\.jpg$/);
      const jds = new CocoDetectionDataset({ annotations: w.annotations, images: w.images });
      const im = await jds.loadImage(0);
      const { pixels } = generateShapes({ ...opts, numImages: 2 });
      let err = 0;
      for (let j = 0; j < im.data.length; j++) err += Math.abs(im.data[j] - pixels[0][j]);
      expect(err / im.data.length).to.be.lessThan(12);
      expect(w.dataset.annotations).to.deep.equal(generateShapes({ ...opts, numImages: 2 }).dataset.annotations);
    } finally {
      fs.rmSync(jdir, { recursive: true, force: true });
    }
  });

  it('pads each batch to a multiple of 32 and reports sizes, scales and targets in resized pixels', async () => {
    const loader = new DetectionLoader(ds, { mode: 'train', batchSize: 3, minSizes: [48, 80], maxSize: 100 }, 1);
    const b = await loader.loadBatch(0, 1);
    try {
      const [B, H, W, C] = b.images.shape;
      expect([B, C]).to.deep.equal([3, 3]);
      expect(H % 32).to.equal(0);
      expect(W % 32).to.equal(0);
      expect(H).to.equal(Math.ceil(Math.max(...b.imageSizes.map((s) => s[0])) / 32) * 32);
      expect(W).to.equal(Math.ceil(Math.max(...b.imageSizes.map((s) => s[1])) / 32) * 32);
      b.imageSizes.forEach(([h, w], i) => {
        expect([48, 80]).to.include(Math.min(h, w));
        expect(Math.max(h, w)).to.be.at.most(100);
        expect(b.scales[i]).to.be.closeTo(Math.min(h, w) / 64, 1e-9);
        const t = b.targets[i];
        for (let j = 0; j < t.boxes.length; j += 4) {
          expect(t.boxes[j]).to.be.at.least(0);
          expect(t.boxes[j + 2]).to.be.at.most(w);
          expect(t.boxes[j + 3]).to.be.at.most(h);
        }
      });
      // Padding is zero.
      const [h0, w0] = b.imageSizes[0];
      const all = (await b.images.data()) as Float32Array;
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
        if (y >= h0 || x >= w0) expect(all[(y * W + x) * 3]).to.equal(0);
      }
    } finally {
      b.dispose();
    }
  });

  it('batch (epoch, k) is a pure function of seed, epoch and k: resume and prefetch change nothing', async () => {
    const o = { mode: 'train' as const, batchSize: 2, minSizes: [48, 64, 80], maxSize: 120, prefetch: 0, concurrency: 1 };
    const before = tf.memory().numTensors;
    const a = new DetectionLoader(ds, o, 11);
    const full: unknown[] = [];
    for await (const b of a.batchesForEpoch(1)) {
      full.push(await hostOf(b));
      b.dispose();
    }
    expect(full.length).to.equal(3);
    const r = new DetectionLoader(ds, { ...o, prefetch: 3, concurrency: 4 }, 11);
    const resumed: unknown[] = [];
    for await (const b of r.batchesForEpoch(1, 1)) {
      resumed.push(await hostOf(b));
      b.dispose();
    }
    expect(resumed).to.deep.equal(full.slice(1));
    const other = new DetectionLoader(ds, o, 12);
    const ob = await other.loadBatch(1, 0);
    expect(await hostOf(ob)).to.not.deep.equal(full[0]);
    ob.dispose();
    // Epochs differ in order.
    expect(Array.from(a.batchIndices(0, 0)).concat(Array.from(a.batchIndices(0, 1)))).to.not.deep.equal(
      Array.from(a.batchIndices(1, 0)).concat(Array.from(a.batchIndices(1, 1))),
    );
    expect(tf.memory().numTensors).to.equal(before);
  });

  it('flips some images and the flip is applied to pixels and targets alike', async () => {
    const o = { mode: 'train' as const, batchSize: 1, minSizes: [64], maxSize: 0, flipP: 1 };
    const flipped = await new DetectionLoader(ds, o, 5).loadBatch(0, 0);
    const plain = await new DetectionLoader(ds, { ...o, flipP: 0 }, 5).loadBatch(0, 0);
    try {
      const [h, w] = plain.imageSizes[0];
      const a = (await plain.images.data()) as Float32Array;
      const b = (await flipped.images.data()) as Float32Array;
      const W = plain.images.shape[2];
      for (let y = 0; y < h; y += 7) for (let x = 0; x < w; x++) expect(b[(y * W + x) * 3]).to.equal(a[(y * W + (w - 1 - x)) * 3]);
      const pb = plain.targets[0].boxes;
      const fb = flipped.targets[0].boxes;
      for (let j = 0; j < pb.length; j += 4) {
        expect(fb[j]).to.be.closeTo(w - pb[j + 2], 1e-4);
        expect(fb[j + 2]).to.be.closeTo(w - pb[j], 1e-4);
        expect(fb[j + 1]).to.equal(pb[j + 1]);
      }
    } finally {
      flipped.dispose();
      plain.dispose();
    }
  });

  it("test mode visits every image once in dataset order at one size, without flips, keeping the last partial batch", async () => {
    const loader = new DetectionLoader(ds, { mode: 'test', batchSize: 3, minSizes: 64, maxSize: 0 });
    expect(loader.stepsPerEpoch).to.equal(3);
    const ids: number[] = [];
    for await (const b of loader.images()) {
      ids.push(...b.imageIds);
      b.imageSizes.forEach(([h, w]) => expect(Math.min(h, w)).to.equal(64));
      b.dispose();
    }
    expect(ids).to.deep.equal([1, 2, 3, 4, 5, 6, 7]);
    expect(() => new DetectionLoader(ds, { mode: 'test', batchSize: 1, minSizes: [64, 80], maxSize: 0 })).to.throw(/min_size_test/);
  });

  it('stopping early or disposing leaves no tensors behind', async () => {
    const before = tf.memory().numTensors;
    const loader = new DetectionLoader(ds, { mode: 'train', batchSize: 2, minSizes: [64], maxSize: 0, prefetch: 2 }, 0);
    for await (const b of loader.batchesForEpoch(0)) {
      b.dispose();
      b.dispose();
      break;
    }
    loader.dispose();
    let n = 0;
    for await (const b of loader.batchesForEpoch(0)) {
      b.dispose();
      n++;
    }
    expect(n).to.equal(0);
    expect(tf.memory().numTensors).to.equal(before);
  });
});
