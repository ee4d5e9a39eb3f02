import type { ImageViews, RawImage } from '../../src/core/interfaces';
import { IMAGENET_MEAN, IMAGENET_STD } from '../../data/transforms/normalize';

/**
 * All views of one image side by side (globals, then locals, top-aligned, `pad` pixels apart on
 * a white background), de-normalised back to uint8 RGB: what `sslight views` shows.
 */
export function viewsMontage(
  views: ImageViews,
  globalSize: number,
  localSize: number,
  mean: readonly number[] = IMAGENET_MEAN,
  std: readonly number[] = IMAGENET_STD,
  pad = 2,
): RawImage {
  const tiles = [
    ...views.globals.map((d) => ({ d, s: globalSize })),
    ...views.locals.map((d) => ({ d, s: localSize })),
  ];
  const height = Math.max(0, ...tiles.map((t) => t.s));
  const width = tiles.reduce((w, t) => w + t.s, 0) + pad * Math.max(0, tiles.length - 1);
  const data = new Uint8Array(width * height * 3).fill(255);
  let x0 = 0;
  for (const { d, s } of tiles) {
    for (let y = 0; y < s; y++) {
      for (let x = 0; x < s; x++) {
        const src = (y * s + x) * 3;
        const dst = (y * width + x0 + x) * 3;
        for (let c = 0; c < 3; c++) {
          const v = (d[src + c] * std[c] + mean[c]) * 255;
          data[dst + c] = v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
        }
      }
    }
    x0 += s + pad;
  }
  return { width, height, data };
}

/** Montage rows one under another, white between. */
export function stackRows(rows: RawImage[], pad: number): RawImage {
  const width = Math.max(...rows.map((r) => r.width));
  const height = rows.reduce((h, r) => h + r.height, 0) + pad * Math.max(0, rows.length - 1);
  const data = new Uint8Array(width * height * 3).fill(255);
  let y0 = 0;
  for (const r of rows) {
    for (let y = 0; y < r.height; y++) data.set(r.data.subarray(y * r.width * 3, (y + 1) * r.width * 3), ((y0 + y) * width) * 3);
    y0 += r.height + pad;
  }
  return { width, height, data };
}
