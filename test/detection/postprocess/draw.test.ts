import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { rleFrBbox } from '../../../detection/coco/polygon';
import { decodeImage } from '../../../data/datasets/decode';
import { classColour, drawDetections, renderDetections } from '../../../detection/postprocess/draw';
import type { ImageResults } from '../../../detection/postprocess/results';

describe('detection/postprocess drawDetections', () => {
  const h = 60, w = 80;
  const image = { width: w, height: h, data: new Uint8Array(h * w * 3).fill(100) };
  const r: ImageResults = {
    boxes: Float32Array.from([10, 10, 40, 50, 50, 5, 70, 20]),
    scores: Float32Array.from([0.9, 0.3]),
    classes: Int32Array.from([2, 1]),
    masks: [rleFrBbox([15, 15, 10, 10], h, w), rleFrBbox([52, 7, 5, 5], h, w)],
  };

  it('blends masks in the class colour, skips low scores and escapes names in the SVG', () => {
    const { rgb, svg, drawn } = renderDetections(image, r, { classNames: ['a<b', 'circle'] });
    expect(drawn).to.equal(1);
    const [cr] = classColour(2);
    expect(rgb[(20 * w + 20) * 3]).to.equal(Math.round(100 * 0.5 + cr * 0.5));
    expect(rgb[(2 * w + 2) * 3]).to.equal(100);
    expect(rgb[(10 * w + 54) * 3]).to.equal(100); // the 0.3-score mask is not drawn
    expect(svg).to.contain('circle 90%');
    expect(svg).to.not.contain('a<b');
    const all = renderDetections(image, r, { classNames: ['a<b', 'circle'], scoreThreshold: 0 });
    expect(all.svg).to.contain('a&lt;b 30%');
  });

  it('writes a PNG of the image size with the box outline in the class colour', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-draw-'));
    try {
      const out = path.join(dir, 'out.png');
      const { drawn } = await drawDetections(image, r, out, { classNames: ['rectangle', 'circle'] });
      expect(drawn).to.equal(1);
      const back = await decodeImage(out);
      expect([back.width, back.height]).to.deep.equal([w, h]);
      const c = classColour(2);
      // Left edge of box 0 at x = 10, halfway down (well away from the label).
      const p = (35 * w + 10) * 3;
      const d = Math.abs(back.data[p] - c[0]) + Math.abs(back.data[p + 1] - c[1]) + Math.abs(back.data[p + 2] - c[2]);
      expect(d).to.be.lessThan(60);
      expect(Array.from(back.data.subarray((58 * w + 78) * 3, (58 * w + 78) * 3 + 3))).to.deep.equal([100, 100, 100]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
