/**
 * Drawing detections on an image (for `sslight detect show`): masks blended in a per-class
 * colour, boxes and "name score" labels as an SVG layer composited by sharp, written as PNG.
 */
import * as fs from 'fs';
import sharp from 'sharp';
import type { RawImage } from '../../src/core/interfaces';
import { rleDecode } from '../coco/rle';
import type { ImageResults } from './results';

export interface DrawOptions {
  /** Name of class k is classNames[k - 1]. */
  classNames: readonly string[];
  /** Detections below this score are not drawn (default 0.5). */
  scoreThreshold?: number;
  /** Opacity of the mask colour (default 0.5). */
  maskAlpha?: number;
}

/** A fixed, well-separated colour per class (golden-angle hues). */
export function classColour(k: number): [number, number, number] {
  const hue = (k * 137.508) % 360;
  const c = 0.75;
  const x = c * (1 - Math.abs(((hue / 60) % 2) - 1));
  const [r, g, b] = hue < 60 ? [c, x, 0] : hue < 120 ? [x, c, 0] : hue < 180 ? [0, c, x] : hue < 240 ? [0, x, c] : hue < 300 ? [x, 0, c] : [c, 0, x];
  const m = 0.2;
  return [Math.round((r + m) * 255), Math.round((g + m) * 255), Math.round((b + m) * 255)];
}

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (ch) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[ch]!);
}

/** The image with masks blended in (a new RGB buffer) and the SVG of boxes and labels. */
export function renderDetections(image: RawImage, r: ImageResults, o: DrawOptions): { rgb: Uint8Array; svg: string; drawn: number } {
  const { width: w, height: h } = image;
  const thr = o.scoreThreshold ?? 0.5;
  const alpha = o.maskAlpha ?? 0.5;
  const rgb = Uint8Array.from(image.data);
  const parts: string[] = [];
  const fontSize = Math.max(9, Math.round(Math.min(w, h) / 40));
  let drawn = 0;
  for (let i = 0; i < r.scores.length; i++) {
    if (r.scores[i] < thr) continue;
    drawn++;
    const k = r.classes[i];
    const [cr, cg, cb] = classColour(k);
    const m = r.masks?.[i];
    if (m) {
      if (m.h !== h || m.w !== w) throw new RangeError(`mask ${i} is ${m.h}x${m.w}, the image ${h}x${w}`);
      const bits = rleDecode(m);
      for (let x = 0; x < w; x++) {
        for (let y = 0; y < h; y++) {
          if (!bits[x * h + y]) continue;
          const p = (y * w + x) * 3;
          rgb[p] = Math.round(rgb[p] * (1 - alpha) + cr * alpha);
          rgb[p + 1] = Math.round(rgb[p + 1] * (1 - alpha) + cg * alpha);
          rgb[p + 2] = Math.round(rgb[p + 2] * (1 - alpha) + cb * alpha);
        }
      }
    }
    const [x1, y1, x2, y2] = r.boxes.subarray(4 * i, 4 * i + 4);
    const colour = `rgb(${cr},${cg},${cb})`;
    const label = escapeXml(`${o.classNames[k - 1] ?? `class ${k}`} ${(r.scores[i] * 100).toFixed(0)}%`);
    const ty = y1 >= fontSize + 2 ? y1 - 2 : y1 + fontSize;
    parts.push(
      `<rect x="${x1.toFixed(1)}" y="${y1.toFixed(1)}" width="${(x2 - x1).toFixed(1)}" height="${(y2 - y1).toFixed(1)}" fill="none" stroke="${colour}" stroke-width="2"/>`,
      `<rect x="${x1.toFixed(1)}" y="${(ty - fontSize).toFixed(1)}" width="${(label.length * fontSize * 0.6).toFixed(1)}" height="${fontSize + 2}" fill="rgba(0,0,0,0.6)"/>`,
      `<text x="${(x1 + 1).toFixed(1)}" y="${ty.toFixed(1)}" font-family="sans-serif" font-size="${fontSize}" fill="${colour}">${label}</text>`,
    );
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}">${parts.join('')}</svg>`;
  return { rgb, svg, drawn };
}

/** `r` (original-image coordinates, see toOriginalImage) drawn on `image`, as PNG bytes. */
export async function renderDetectionsPng(image: RawImage, r: ImageResults, o: DrawOptions): Promise<{ png: Buffer; drawn: number }> {
  const { rgb, svg, drawn } = renderDetections(image, r, o);
  const png = await sharp(Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength), { raw: { width: image.width, height: image.height, channels: 3 } })
    .composite([{ input: Buffer.from(svg), top: 0, left: 0 }])
    .png()
    .toBuffer();
  return { png, drawn };
}

/** Draws `r` (original-image coordinates, see toOriginalImage) on `image` and writes a PNG. */
export async function drawDetections(image: RawImage, r: ImageResults, outFile: string, o: DrawOptions): Promise<{ drawn: number }> {
  const { png, drawn } = await renderDetectionsPng(image, r, o);
  fs.writeFileSync(outFile, png);
  return { drawn };
}
