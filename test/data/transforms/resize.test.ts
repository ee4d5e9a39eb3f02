import { expect } from 'chai';
import { resizedCrop } from '../../../data/transforms/resize';
import { expectClose } from '../../helpers/reference';

function ramp(width: number, height: number): Uint8Array {
  const d = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      d[o] = x * 10;
      d[o + 1] = y * 10;
      d[o + 2] = 100;
    }
  return d;
}

describe('data/transforms/resize: crop + resize', () => {
  for (const interp of ['bicubic', 'bilinear'] as const) {
    it(`${interp}: a crop resized to its own size is the crop itself, scaled to [0, 1]`, () => {
      const src = ramp(8, 6);
      const out = resizedCrop(src, 8, { top: 1, left: 2, height: 4, width: 4, attempts: 1 }, 4, interp);
      const expected: number[] = [];
      for (let y = 1; y < 5; y++) for (let x = 2; x < 6; x++) expected.push((x * 10) / 255, (y * 10) / 255, 100 / 255);
      expectClose(out, expected, { what: `${interp} identity`, atol: 1e-6 });
    });

    it(`${interp}: a constant image stays constant when scaled up or down`, () => {
      const src = new Uint8Array(20 * 15 * 3).fill(77);
      for (const out of [3, 7, 32]) {
        const r = resizedCrop(src, 20, { top: 2, left: 3, height: 11, width: 13, attempts: 1 }, out, interp);
        expectClose(r, new Float32Array(out * out * 3).fill(77 / 255), { what: `${interp} -> ${out}`, atol: 1e-6 });
      }
    });
  }

  it('bilinear 2x downscale with antialias averages with PIL weights (triangle of width 2)', () => {
    // One row 0, 40, 80, 120 -> 2 pixels. Output 0 is centred at 1.0 in input coordinates;
    // taps 0..2 with weights tri((k - 1 + 0.5) / 2) = 0.75, 0.75, 0.25, normalised.
    const src = new Uint8Array([0, 0, 0, 40, 40, 40, 80, 80, 80, 120, 120, 120]);
    const out = resizedCrop(src, 4, { top: 0, left: 0, height: 1, width: 4, attempts: 1 }, 2, 'bilinear');
    // Height 1 -> 2 upsamples the single row, so both rows equal the horizontal result.
    const v0 = (0.75 * 0 + 0.75 * 40 + 0.25 * 80) / 1.75 / 255;
    const v1 = (0.25 * 40 + 0.75 * 80 + 0.75 * 120) / 1.75 / 255;
    expectClose(out, [v0, v0, v0, v1, v1, v1, v0, v0, v0, v1, v1, v1], { what: 'downscale', atol: 1e-6 });
  });

  it('bicubic overshoot is clamped to [0, 1]', () => {
    const src = new Uint8Array(6 * 1 * 3);
    for (let x = 3; x < 6; x++) src.fill(255, x * 3, x * 3 + 3);
    const out = resizedCrop(src, 6, { top: 0, left: 0, height: 1, width: 6, attempts: 1 }, 17, 'bicubic');
    expect(Math.min(...out)).to.equal(0);
    expect(Math.max(...out)).to.equal(1);
  });
});
