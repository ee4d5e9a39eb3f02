import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { singleImageBatch } from '../../../detection/data/single_image';
import { rleFrPoly } from '../../../detection/coco/polygon';
import { decode, toCompressed } from '../../../detection/coco/mask';
import { rleDecode, rleToBbox } from '../../../detection/coco/rle';
import { countsFromString } from '../../../detection/coco/rle_string';
import { clipAndFilter, transformBoxes, transformMask, transformPolygons, transformTarget } from '../../../detection/data/transforms/geometry';
import { paddedBatchSize, padInto, padTo } from '../../../detection/data/transforms/pad';
import { resizeMaskColMajor, resizeRgb, shortestEdgeSize } from '../../../detection/data/transforms/resize';

describe('detection/data transforms', () => {
  describe('shortestEdgeSize (Detectron2 ResizeShortestEdge.get_output_shape)', () => {
    it('scales the short side to the target and rounds half up', () => {
      expect(shortestEdgeSize(480, 640, 800, 1333)).to.deep.include({ h: 800, w: 1067 });
      expect(shortestEdgeSize(640, 480, 800, 1333)).to.deep.include({ h: 1067, w: 800 });
      expect(shortestEdgeSize(320, 427, 320, 1333)).to.deep.include({ h: 320, w: 427 });
    });
    it('caps the long side at max_size', () => {
      // 800 x 2500 -> factor 1333 / 2500: 426.56 x 1333.
      const s = shortestEdgeSize(320, 1000, 800, 1333);
      expect([s.h, s.w]).to.deep.equal([427, 1333]);
      expect(s.scale).to.be.closeTo(2.5 * (1333 / 2500), 1e-12);
      expect(shortestEdgeSize(320, 1000, 800, 0)).to.deep.include({ h: 800, w: 2500 });
    });
  });

  describe('resizeRgb', () => {
    const h = 5, w = 7;
    const src = Uint8Array.from({ length: h * w * 3 }, (_, i) => (i * 37) % 256);
    it('is the identity (over 255) at the same size', () => {
      const out = resizeRgb(src, h, w, h, w);
      for (let i = 0; i < out.length; i++) expect(out[i]).to.be.closeTo(src[i] / 255, 1e-6);
    });
    it('keeps a constant image constant when shrinking and growing', () => {
      const c = new Uint8Array(h * w * 3).fill(51);
      for (const [nh, nw] of [[3, 4], [11, 13]]) for (const v of resizeRgb(c, h, w, nh, nw)) expect(v).to.be.closeTo(0.2, 1e-6);
    });
    it('with flip equals the mirrored unflipped resize', () => {
      const a = resizeRgb(src, h, w, 4, 9);
      const b = resizeRgb(src, h, w, 4, 9, true);
      for (let y = 0; y < 4; y++) for (let x = 0; x < 9; x++) for (let c = 0; c < 3; c++) {
        expect(b[(y * 9 + x) * 3 + c]).to.equal(a[(y * 9 + (8 - x)) * 3 + c]);
      }
    });
    it('averages 2x2 blocks when halving (antialiased triangle filter)', () => {
      const s = Uint8Array.from([0, 0, 0, 100, 100, 100, 200, 200, 200, 40, 40, 40]); // 2x2
      const out = resizeRgb(s, 2, 2, 1, 1);
      expect(out[0]).to.be.closeTo(85 / 255, 1e-6);
    });
  });

  it('resizeMaskColMajor: nearest 2x upsampling repeats pixels, flip mirrors columns', () => {
    // 2x2 column-major: (y0,x0)=1 (y1,x0)=0 (y0,x1)=0 (y1,x1)=1
    const m = Uint8Array.from([1, 0, 0, 1]);
    const up = resizeMaskColMajor(m, 2, 2, 4, 4);
    expect(Array.from(up)).to.deep.equal([1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1]);
    const fl = resizeMaskColMajor(m, 2, 2, 2, 2, true);
    expect(Array.from(fl)).to.deep.equal([0, 1, 1, 0]);
  });

  describe('geometry', () => {
    const g = { h: 40, w: 60, newH: 40, newW: 60, flip: true };
    it('flipping boxes, polygons and RLE twice gives them back', () => {
      const boxes = Float32Array.from([1, 2, 11, 22, 30.5, 0, 60, 40]);
      expect(Array.from(transformBoxes(transformBoxes(boxes, g), g))).to.deep.equal(Array.from(boxes));
      const polys = [[1, 2, 11, 2, 11, 22], [30.5, 0, 60, 40, 30.5, 40]];
      const back = transformPolygons(transformPolygons(polys, g), g);
      back.flat().forEach((v, i) => expect(v).to.be.closeTo(polys.flat()[i], 1e-9));
      const rle = toCompressed(rleFrPoly([3, 4, 20, 4, 20, 30, 3, 30], 40, 60));
      const twice = transformMask(transformMask({ rle }, g), g);
      expect(twice).to.deep.equal({ rle });
    });
    it('boxes, polygons and RLE flip consistently', () => {
      const poly = [10, 5, 25, 5, 25, 30, 10, 30];
      const boxes = Float32Array.from([10, 5, 25, 30]);
      const fb = transformBoxes(boxes, g);
      expect(Array.from(fb)).to.deep.equal([35, 5, 50, 30]);
      const fp = transformPolygons([poly], g)[0];
      expect(fp).to.deep.equal([50, 5, 35, 5, 35, 30, 50, 30]);
      const fr = transformMask({ rle: toCompressed(rleFrPoly(poly, 40, 60)) }, g) as { rle: { size: [number, number]; counts: string } };
      // Pixel-aligned rectangle: the mask's tight box is exactly the flipped box.
      const [x, y, bw, bh] = rleToBbox({ h: 40, w: 60, counts: rleFromObj(fr.rle) });
      expect([x, y, x + bw, y + bh]).to.deep.equal([35, 5, 50, 30]);
      // And the flipped polygon rasterises to the flipped mask.
      expect(Array.from(decode(fr.rle))).to.deep.equal(Array.from(rleDecode(rleFrPoly(fp, 40, 60))));
    });
    it('resizing scales x and y separately', () => {
      const t = transformTarget(
        { boxes: Float32Array.from([10, 10, 20, 30]), classes: Int32Array.from([2]), masks: [{ polygons: [[10, 10, 20, 10, 20, 30]] }] },
        { h: 40, w: 60, newH: 20, newW: 90, flip: false },
      );
      expect(Array.from(t.boxes)).to.deep.equal([15, 5, 30, 15]);
      expect((t.masks[0] as { polygons: number[][] }).polygons[0]).to.deep.equal([15, 5, 30, 5, 30, 15]);
    });
    it('clipAndFilter clips to the image and drops empty boxes', () => {
      const t = clipAndFilter(
        { boxes: Float32Array.from([-5, 2, 10, 50, 3, 3, 3, 9, 70, 1, 80, 5]), classes: Int32Array.from([1, 2, 3]), masks: [{ polygons: [] }, { polygons: [] }, { polygons: [] }] },
        40,
        60,
      );
      expect(Array.from(t.boxes)).to.deep.equal([0, 2, 10, 40]);
      expect(Array.from(t.classes)).to.deep.equal([1]);
    });
  });

  describe('padding', () => {
    it('rounds up to multiples of the divisibility', () => {
      expect(padTo(320, 32)).to.equal(320);
      expect(padTo(321, 32)).to.equal(352);
      expect(padTo(17, 1)).to.equal(17);
      expect(paddedBatchSize([[320, 427], [333, 400]], 32)).to.deep.equal([352, 448]);
      expect(paddedBatchSize([[30, 50]], 16)).to.deep.equal([32, 64]);
    });
    it('copies images top-left and fills the rest with zeros', () => {
      const a = { data: new Float32Array(2 * 3 * 3).fill(1), h: 2, w: 3 };
      const b = { data: new Float32Array(4 * 1 * 3).fill(2), h: 4, w: 1 };
      const out = padInto([a, b], 4, 4);
      const at = (n: number, y: number, x: number) => out[((n * 4 + y) * 4 + x) * 3];
      expect(at(0, 1, 2)).to.equal(1);
      expect(at(0, 2, 0)).to.equal(0);
      expect(at(0, 0, 3)).to.equal(0);
      expect(at(1, 3, 0)).to.equal(2);
      expect(at(1, 0, 1)).to.equal(0);
      expect(out.reduce((s, v) => s + v, 0)).to.equal(6 * 3 + 8 * 3);
    });
  });
});

function rleFromObj(o: { counts: string }): Uint32Array {
  return countsFromString(o.counts);
}

describe('detection/data singleImageBatch', () => {
  it('resizes one image at test size, pads to 32 and owns one tensor', async () => {
    const before = tf.memory().numTensors;
    const image = { width: 50, height: 30, data: new Uint8Array(50 * 30 * 3).fill(255) };
    const b = singleImageBatch(image, { shortEdge: 60, maxSize: 90, imageId: 5 });
    expect(b.images.shape).to.deep.equal([1, 64, 96, 3]);
    expect(b.imageSizes).to.deep.equal([[54, 90]]);
    expect(b.scales[0]).to.be.closeTo(1.8, 1e-12);
    expect(b.imageIds).to.deep.equal([5]);
    const px = (await b.images.data()) as Float32Array;
    expect(px[0]).to.be.closeTo((1 - 0.485) / 0.229, 1e-5);
    expect(px[(63 * 96 + 95) * 3]).to.equal(0);
    b.dispose();
    expect(tf.memory().numTensors).to.equal(before);
  });
});
