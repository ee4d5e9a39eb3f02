/**
 * A generated COCO-format instance-segmentation dataset for tests and CI: a few filled
 * rectangles, circles and triangles (random colour, size, rotation) per image on a noisy
 * background, written as PNG (or JPEG) files plus a COCO annotation JSON. Every number comes from
 * the seed. Shapes never overlap, and each one is painted exactly on the pixels COCO's own polygon
 * rasteriser assigns to its annotated polygon, so masks, boxes and areas agree with the pixels.
 */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { Rng } from '../../src/core/rng';
import { rleFrPoly } from '../coco/polygon';
import { rleArea, rleDecode, rleToBbox } from '../coco/rle';
import type { CocoAnnotation, CocoDataset, CocoImage } from '../coco/types';

export const SHAPE_NAMES = ['rectangle', 'circle', 'triangle'] as const;

export interface ShapesOptions {
  seed?: number;
  numImages?: number;
  /** Image height; widths vary in [size, 1.25 size] so not every image is square. */
  size?: number;
  /** Shapes per image are 1..maxShapes. */
  maxShapes?: number;
  /** Shape radius as a fraction of `size`. */
  radius?: [number, number];
  format?: 'png' | 'jpg';
}

export interface ShapesDataset {
  /** The annotation JSON file. */
  annotations: string;
  /** The folder `file_name` is relative to. */
  images: string;
  dataset: CocoDataset;
}

/** The polygon (flat xy list) of one shape of class 1..3 centred at (cx, cy). */
function shapePolygon(cls: number, cx: number, cy: number, r: number, rot: number, aspect: number): number[] {
  const pts: number[] = [];
  const add = (u: number, v: number): void => {
    const x = cx + u * Math.cos(rot) - v * Math.sin(rot);
    const y = cy + u * Math.sin(rot) + v * Math.cos(rot);
    pts.push(Math.round(x * 100) / 100, Math.round(y * 100) / 100);
  };
  if (cls === 1) {
    const a = r * aspect;
    const b = r / aspect;
    add(-a, -b);
    add(a, -b);
    add(a, b);
    add(-a, b);
  } else if (cls === 2) {
    for (let k = 0; k < 24; k++) add(r * Math.cos((2 * Math.PI * k) / 24), r * Math.sin((2 * Math.PI * k) / 24));
  } else {
    for (let k = 0; k < 3; k++) add(r * Math.cos(-Math.PI / 2 + (2 * Math.PI * k) / 3), r * Math.sin(-Math.PI / 2 + (2 * Math.PI * k) / 3));
  }
  return pts;
}

/** The COCO dataset and each image's RGB pixels, in memory. */
export function generateShapes(o: ShapesOptions = {}): { dataset: CocoDataset; pixels: Uint8Array[] } {
  const seed = o.seed ?? 0;
  const n = o.numImages ?? 8;
  const size = o.size ?? 96;
  const maxShapes = o.maxShapes ?? 3;
  const [rLo, rHi] = o.radius ?? [0.12, 0.24];
  const ext = o.format ?? 'png';
  const rng = new Rng(seed);
  const images: CocoImage[] = [];
  const annotations: CocoAnnotation[] = [];
  const pixels: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const h = size;
    const w = size + rng.int(0, Math.floor(size / 4));
    const img = new Uint8Array(h * w * 3);
    const bg = [rng.range(40, 200), rng.range(40, 200), rng.range(40, 200)];
    for (let p = 0; p < h * w; p++) for (let c = 0; c < 3; c++) img[p * 3 + c] = clamp(bg[c] + rng.range(-25, 25));
    const placed: number[][] = [];
    const count = rng.int(1, maxShapes);
    for (let s = 0, tries = 0; s < count && tries < 100; tries++) {
      const cls = rng.int(1, 3);
      const r = size * rng.range(rLo, rHi);
      const cx = rng.range(r, w - r);
      const cy = rng.range(r, h - r);
      const poly = shapePolygon(cls, cx, cy, r, rng.range(0, 2 * Math.PI), rng.range(0.7, 1.3));
      const rle = rleFrPoly(poly, h, w);
      const area = rleArea(rle);
      if (area < 16) continue;
      const [bx, by, bw, bh] = rleToBbox(rle);
      // Keep a 2-pixel gap to every earlier shape, so no instance hides another.
      if (placed.some(([x, y, ww, hh]) => bx < x + ww + 2 && x < bx + bw + 2 && by < y + hh + 2 && y < by + bh + 2)) continue;
      placed.push([bx, by, bw, bh]);
      // A colour well away from the background in at least one channel.
      const col = bg.map((v) => (v < 128 ? rng.range(v + 60, 255) : rng.range(0, v - 60)));
      const bits = rleDecode(rle); // column-major
      for (let x = 0; x < w; x++) {
        for (let y = 0; y < h; y++) {
          if (!bits[x * h + y]) continue;
          const p = (y * w + x) * 3;
          for (let c = 0; c < 3; c++) img[p + c] = clamp(col[c] + rng.range(-10, 10));
        }
      }
      annotations.push({ id: annotations.length + 1, image_id: i + 1, category_id: cls, bbox: [bx, by, bw, bh], area, iscrowd: 0, segmentation: [poly] });
      s++;
    }
    images.push({ id: i + 1, file_name: `${String(i + 1).padStart(6, '0')}.${ext}`, height: h, width: w });
    pixels.push(img);
  }
  const categories = SHAPE_NAMES.map((name, k) => ({ id: k + 1, name, supercategory: 'shape' }));
  return { dataset: { info: { description: `sslight generated shapes, seed ${seed}` }, images, annotations, categories }, pixels };
}

/** Writes `dir/images/*.png|jpg` and `dir/annotations.json`; returns their paths. */
export async function writeShapesDataset(dir: string, o: ShapesOptions = {}): Promise<ShapesDataset> {
  const { dataset, pixels } = generateShapes(o);
  const imageDir = path.join(dir, 'images');
  fs.mkdirSync(imageDir, { recursive: true });
  await Promise.all(
    dataset.images!.map((im, i) => {
      const pipe = sharp(Buffer.from(pixels[i].buffer, pixels[i].byteOffset, pixels[i].byteLength), {
        raw: { width: im.width!, height: im.height!, channels: 3 },
      });
      const file = path.join(imageDir, im.file_name!);
      return (o.format === 'jpg' ? pipe.jpeg({ quality: 95 }) : pipe.png()).toFile(file);
    }),
  );
  const annotations = path.join(dir, 'annotations.json');
  fs.writeFileSync(annotations, JSON.stringify(dataset));
  return { annotations, images: imageDir, dataset };
}

function clamp(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
}
