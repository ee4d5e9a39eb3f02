import * as fs from 'fs';
import * as path from 'path';
import { expect } from 'chai';
import { resizedCrop } from '../../../data/transforms/resize';
import { gaussianBlur } from '../../../data/transforms/gaussian_blur';
import { adjustBrightness, adjustContrast, adjustHue, adjustSaturation } from '../../../data/transforms/color_jitter';
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

// test/data/fixtures/pil_color.json (make_pil_color.py): torchvision's PIL-path colour ops. PIL
// rounds to uint8 once per op (about 1 level). Its hue shift goes through uint8 HSV (hue in 1/255
// turns, shift truncated to whole levels), which can move dark or grey-ish pixels by several
// levels, so hue is held to a mean of about one level and a loose maximum.
describe('data/transforms: colour ops vs Pillow / torchvision PIL path (fixtures/pil_color.json)', () => {
  const fx = JSON.parse(fs.readFileSync(path.join(repoRoot, 'test/data/fixtures/pil_color.json'), 'utf8')) as {
    src: { data: number[] };
    ops: Record<string, number[]>;
  };
  const ops = { brightness: adjustBrightness, contrast: adjustContrast, saturation: adjustSaturation, hue: adjustHue };
  for (const key of Object.keys(fx.ops)) {
    it(`${key} matches`, () => {
      const [op, factor] = key.split('_') as [keyof typeof ops, string];
      const img = Float32Array.from(fx.src.data, (v) => v / 255);
      ops[op](img, Number(factor));
      let sum = 0;
      for (let i = 0; i < img.length; i++) sum += Math.abs(img[i] * 255 - fx.ops[key][i]);
      if (op === 'hue') {
        expect(sum / img.length, 'mean level difference').to.be.below(1.5);
        expect(maxAbsDiff(img, fx.ops[key])).to.be.at.most(12);
      } else {
        // Output rounding, plus PIL's contrast target being the integer-rounded mean luma.
        expect(maxAbsDiff(img, fx.ops[key])).to.be.at.most(1.2);
      }
    });
  }
});
