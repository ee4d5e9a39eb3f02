import * as fs from 'fs';
import * as path from 'path';
import { expect } from 'chai';
import { resizedCrop } from '../../../data/transforms/resize';
import { gaussianBlur } from '../../../data/transforms/gaussian_blur';
import { repoRoot } from '../../helpers/reference';

interface Fixture {
  src: { width: number; height: number; data: number[] };
  box: { top: number; left: number; height: number; width: number };
  resize: Record<string, number[]>;
  blur_src: { width: number; height: number; data: number[] };
  blur: Record<string, number[]>;
}

function maxAbsDiff(ours: Float32Array, pil: number[]): number {
  expect(ours.length).to.equal(pil.length);
  let m = 0;
  for (let i = 0; i < pil.length; i++) m = Math.max(m, Math.abs(ours[i] * 255 - pil[i]));
  return m;
}

// test/data/fixtures/pil_resample.json holds Pillow 12.3's own outputs (make_pil_resample.py),
// which is what torchvision's PIL path and DINO's GaussianBlur compute. PIL stores uint8 between
// its passes, so we allow the rounding that adds: ~1 level for the two resize passes, ~3 for the
// six blur passes.
describe('data/transforms: parity with Pillow (fixtures/pil_resample.json)', () => {
  const fx = JSON.parse(fs.readFileSync(path.join(repoRoot, 'test/data/fixtures/pil_resample.json'), 'utf8')) as Fixture;

  for (const key of Object.keys(fx.resize)) {
    it(`crop + resize ${key} matches Image.crop().resize() within uint8 rounding`, () => {
      const [interp, size] = key.split('_');
      const out = resizedCrop(Uint8Array.from(fx.src.data), fx.src.width, { ...fx.box, attempts: 1 }, Number(size), interp as 'bicubic' | 'bilinear');
      expect(maxAbsDiff(out, fx.resize[key])).to.be.at.most(1.01);
    });
  }

  for (const sigma of Object.keys(fx.blur)) {
    it(`gaussian blur sigma ${sigma} matches ImageFilter.GaussianBlur(radius=${sigma})`, () => {
      const img = Float32Array.from(fx.blur_src.data, (v) => v / 255);
      gaussianBlur(img, fx.blur_src.width, fx.blur_src.height, Number(sigma));
      expect(maxAbsDiff(img, fx.blur[sigma])).to.be.at.most(3);
    });
  }
});
