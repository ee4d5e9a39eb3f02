import { expect } from 'chai';
import { Rng } from '../../../src/core/rng';
import { flipHorizontal } from '../../../data/transforms/flip';
import { grayscale } from '../../../data/transforms/grayscale';
import { solarize } from '../../../data/transforms/solarize';
import { normalize, IMAGENET_MEAN, IMAGENET_STD } from '../../../data/transforms/normalize';
import { gaussianBlur } from '../../../data/transforms/gaussian_blur';
import {
  adjustBrightness,
  adjustContrast,
  adjustHue,
  adjustSaturation,
  applyColorJitter,
  sampleColorJitter,
} from '../../../data/transforms/color_jitter';
import { expectClose } from '../../helpers/reference';

const f32 = (xs: number[]) => Float32Array.from(xs);

describe('data/transforms: photometric transforms on tiny images', () => {
  it('flipHorizontal mirrors each row of a 3x2 RGB image and is its own inverse', () => {
    // Pixels numbered p (value = 10p + channel), width 3, height 2.
    const img = f32([0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32, 40, 41, 42, 50, 51, 52]);
    flipHorizontal(img, 3, 2);
    expect(Array.from(img)).to.deep.equal([20, 21, 22, 10, 11, 12, 0, 1, 2, 50, 51, 52, 40, 41, 42, 30, 31, 32]);
    flipHorizontal(img, 3, 2);
    expect(Array.from(img)).to.deep.equal([0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32, 40, 41, 42, 50, 51, 52]);
  });

  it('grayscale writes 0.299 R + 0.587 G + 0.114 B to all three channels', () => {
    const img = f32([1, 0, 0, 0, 1, 0, 0, 0, 1, 0.2, 0.4, 0.6]);
    grayscale(img);
    const l = 0.299 * 0.2 + 0.587 * 0.4 + 0.114 * 0.6;
    expectClose(img, [0.299, 0.299, 0.299, 0.587, 0.587, 0.587, 0.114, 0.114, 0.114, l, l, l], { what: 'gray' });
  });

  it('solarize inverts exactly the values at or above 128/255 (PIL threshold 128)', () => {
    const img = f32([0, 127 / 255, 128 / 255, 1, 0.9]);
    solarize(img);
    expectClose(img, [0, 127 / 255, 1 - 128 / 255, 0, 1 - 0.9], { what: 'solarized' });
  });

  it('normalize subtracts the ImageNet mean and divides by the std per channel', () => {
    const img = f32([0.485, 0.456, 0.406, 1, 0, 0.5]);
    normalize(img);
    expectClose(
      img,
      [0, 0, 0, (1 - IMAGENET_MEAN[0]) / IMAGENET_STD[0], -IMAGENET_MEAN[1] / IMAGENET_STD[1], (0.5 - IMAGENET_MEAN[2]) / IMAGENET_STD[2]],
      { what: 'normalized' },
    );
  });

  it('brightness scales and clamps; contrast blends with the mean luma; saturation with each luma', () => {
    const b = f32([0.2, 0.5, 0.9]);
    adjustBrightness(b, 1.5);
    expectClose(b, [0.3, 0.75, 1], { what: 'brightness' });

    // Two pixels: luma 0.299*0.2+0.587*0.4+0.114*0.6 and luma of (0.8, 0.8, 0.8) = 0.8.
    const c = f32([0.2, 0.4, 0.6, 0.8, 0.8, 0.8]);
    const mean = (0.299 * 0.2 + 0.587 * 0.4 + 0.114 * 0.6 + 0.8) / 2;
    adjustContrast(c, 0.5);
    expectClose(c, [0.2, 0.4, 0.6, 0.8, 0.8, 0.8].map((v) => 0.5 * v + 0.5 * mean), { what: 'contrast' });

    const s = f32([0.2, 0.4, 0.6]);
    const l = 0.299 * 0.2 + 0.587 * 0.4 + 0.114 * 0.6;
    adjustSaturation(s, 0);
    expectClose(s, [l, l, l], { what: 'saturation 0' });
  });

  it('hue rotation moves red to green at 1/3 turn, to cyan at 1/2, and leaves greys alone', () => {
    const img = f32([1, 0, 0, 0.5, 0.5, 0.5, 0.8, 0.4, 0.2]);
    adjustHue(img, 1 / 3);
    expectClose(img.subarray(0, 6), [0, 1, 0, 0.5, 0.5, 0.5], { what: 'hue 1/3', atol: 1e-6 });
    const half = f32([1, 0, 0]);
    adjustHue(half, -0.5);
    expectClose(half, [0, 1, 1], { what: 'hue -1/2', atol: 1e-6 });
    // A full turn in two halves returns the original colour.
    const c = f32([0.8, 0.4, 0.2]);
    adjustHue(c, 0.5);
    adjustHue(c, 0.5);
    expectClose(c, [0.8, 0.4, 0.2], { what: 'hue round trip', atol: 1e-6 });
  });

  it('color jitter draws factors in torchvision ranges and applies the ops in the drawn order', () => {
    const rng = new Rng(3);
    const orders = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const p = sampleColorJitter({ brightness: 0.4, contrast: 0.4, saturation: 0.2, hue: 0.1 }, rng);
      expect([...p.order].sort()).to.deep.equal([0, 1, 2, 3]);
      orders.add(p.order.join(''));
      expect(p.brightness).to.be.within(0.6, 1.4);
      expect(p.contrast).to.be.within(0.6, 1.4);
      expect(p.saturation).to.be.within(0.8, 1.2);
      expect(p.hue).to.be.within(-0.1, 0.1);
    }
    expect(orders.size, 'all 24 orders occur').to.equal(24);
    // Brightness then contrast differs from contrast then brightness once clamping bites.
    const base = [0.9, 0.9, 0.9, 0.1, 0.1, 0.1];
    const bc = f32(base);
    applyColorJitter(bc, { order: [0, 1, 2, 3], brightness: 1.4, contrast: 0.6, saturation: 1, hue: 0 });
    const cb = f32(base);
    adjustContrast(cb, 0.6);
    adjustBrightness(cb, 1.4);
    const manualBc = f32(base);
    adjustBrightness(manualBc, 1.4);
    adjustContrast(manualBc, 0.6);
    expectClose(bc, manualBc, { what: 'brightness then contrast' });
    expect(Math.abs(bc[3] - cb[3])).to.be.above(0.01);
  });

  it('gaussian blur (PIL extended box) keeps constants and mass, and spreads an impulse with variance sigma^2', () => {
    const flat = new Float32Array(5 * 4 * 3).fill(0.7);
    gaussianBlur(flat, 5, 4, 1.3);
    expectClose(flat, new Float32Array(flat.length).fill(0.7), { what: 'constant', atol: 1e-6 });

    for (const sigma of [0.1, 0.7, 2.0]) {
      // A 41x1 row with an impulse in the red channel at the centre: the vertical passes are the
      // identity, the horizontal ones give PIL's kernel, whose variance is exactly sigma^2.
      const width = 41;
      const img = new Float32Array(width * 3);
      img[20 * 3] = 1;
      gaussianBlur(img, width, 1, sigma);
      let mass = 0, variance = 0;
      for (let x = 0; x < width; x++) {
        mass += img[x * 3];
        variance += img[x * 3] * (x - 20) ** 2;
        expect(img[x * 3]).to.be.closeTo(img[(40 - x) * 3], 1e-7); // symmetric
        expect(img[x * 3 + 1]).to.equal(0); // channels stay apart
      }
      expect(mass, `mass at sigma ${sigma}`).to.be.closeTo(1, 1e-5);
      expect(variance, `variance at sigma ${sigma}`).to.be.closeTo(sigma * sigma, 1e-4);
    }
    // Separable: a 2-D impulse blurs to the outer product of the 1-D responses.
    const size = 15;
    const img2 = new Float32Array(size * size * 3);
    img2[(7 * size + 7) * 3] = 1;
    gaussianBlur(img2, size, size, 1.2);
    const row = new Float32Array(size * 3);
    row[7 * 3] = 1;
    gaussianBlur(row, size, 1, 1.2);
    for (const [x, y] of [[7, 7], [5, 7], [7, 4], [9, 10]]) {
      expect(img2[(y * size + x) * 3]).to.be.closeTo(row[x * 3] * row[y * 3], 1e-6);
    }
  });
});
