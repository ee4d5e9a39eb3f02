/**
 * pycocotools.mask in TypeScript: the same functions over COCO's JSON mask objects
 * ({size: [h, w], counts: string | number[]}), backed by the typed-array RLE code in rle.ts.
 * Binary masks are column-major Uint8Arrays of h*w (see rle.ts for row-major helpers).
 */
import { MaskError } from './errors';
import { bboxIouInto, rleIouInto } from './iou';
import { rleFrBbox, rleFrPoly } from './polygon';
import { Rle, rleArea, rleDecode, rleEncode, rleMerge, rleToBbox } from './rle';
import { countsFromString, countsToString } from './rle_string';

/** Compressed RLE as stored in COCO JSON results. */
export interface CompressedRle {
  size: [number, number];
  counts: string;
}
/** Uncompressed RLE (COCO crowd annotations). */
export interface UncompressedRle {
  size: [number, number];
  counts: number[];
}
export type RleObject = CompressedRle | UncompressedRle;
export type Polygon = number[];
export type Box = [number, number, number, number] | number[];

export function isRleObject(x: unknown): x is RleObject {
  return x !== null && typeof x === 'object' && !Array.isArray(x) && 'counts' in x && 'size' in x;
}

/**
 * Parses a JSON mask object into typed runs. A string is decoded as compressed counts; a list is
 * taken as raw counts (what pycocotools' frUncompressedRLE does). Either way the object's own
 * size is used.
 */
export function toRle(obj: RleObject): Rle {
  const [h, w] = obj.size;
  const counts = typeof obj.counts === 'string' ? countsFromString(obj.counts) : Uint32Array.from(obj.counts);
  return { h, w, counts };
}

export function toCompressed(r: Rle): CompressedRle {
  return { size: [r.h, r.w], counts: countsToString(r.counts) };
}

/** Column-major h x w mask -> compressed RLE (pycocotools mask.encode). */
export function encode(maskColMajor: ArrayLike<number>, h: number, w: number): CompressedRle {
  return toCompressed(rleEncode(maskColMajor, h, w));
}

/** RLE object -> column-major h x w 0/1 mask (pycocotools mask.decode). */
export function decode(obj: RleObject): Uint8Array {
  return rleDecode(toRle(obj));
}

export function area(obj: RleObject): number {
  return rleArea(toRle(obj));
}

/** Tight [x, y, w, h] box of the mask (PyPI-release rule for zero-length runs). */
export function toBbox(obj: RleObject): [number, number, number, number] {
  return rleToBbox(toRle(obj));
}

/** Union (default) or intersection of masks; compressed result. */
export function merge(objs: readonly RleObject[], intersect = false): CompressedRle {
  return toCompressed(rleMerge(objs.map(toRle), intersect));
}

export function frBbox(boxes: readonly Box[], h: number, w: number): CompressedRle[] {
  return boxes.map((b) => toCompressed(rleFrBbox(b, h, w)));
}

export function frPoly(polys: readonly Polygon[], h: number, w: number): CompressedRle[] {
  return polys.map((p) => toCompressed(rleFrPoly(p, h, w)));
}

export function frUncompressedRLE(objs: readonly UncompressedRle[]): CompressedRle[] {
  return objs.map((o) => toCompressed(toRle(o)));
}

/**
 * pycocotools' frPyObjects dispatch. A list whose first element has 4 numbers is a list of
 * boxes, more than 4 a list of polygons, a list of RLE objects is uncompressed RLEs; a single
 * box, polygon or RLE object gives a single result. (Note the quirk this inherits: a polygon list
 * whose first polygon has exactly 4 numbers would be read as boxes.)
 */
export function frPyObjects(obj: readonly Box[] | readonly Polygon[] | readonly UncompressedRle[], h: number, w: number): CompressedRle[];
export function frPyObjects(obj: Box | Polygon | UncompressedRle, h: number, w: number): CompressedRle;
export function frPyObjects(obj: unknown, h: number, w: number): CompressedRle | CompressedRle[] {
  if (Array.isArray(obj) && obj.length > 0 && Array.isArray(obj[0])) {
    const first = obj[0] as unknown[];
    if (first.length === 4) return frBbox(obj as Box[], h, w);
    if (first.length > 4) return frPoly(obj as Polygon[], h, w);
  } else if (Array.isArray(obj) && obj.length > 0 && isRleObject(obj[0])) {
    return frUncompressedRLE(obj as UncompressedRle[]);
  } else if (Array.isArray(obj) && obj.length === 4) {
    return frBbox([obj as Box], h, w)[0];
  } else if (Array.isArray(obj) && obj.length > 4) {
    return frPoly([obj as Polygon], h, w)[0];
  } else if (isRleObject(obj)) {
    return frUncompressedRLE([obj as UncompressedRle])[0];
  }
  throw new MaskError('frPyObjects: input must be boxes, polygons or RLE objects');
}

/**
 * IoU matrix (row d, column g) between detections and ground truths, both boxes or both RLE
 * objects, with one iscrowd flag per ground truth. Returns rows of plain numbers; an empty
 * side gives [] as pycocotools does.
 */
export function iou(dt: readonly (Box | RleObject)[], gt: readonly (Box | RleObject)[], iscrowd: readonly (number | boolean)[]): number[][] {
  if (iscrowd.length !== gt.length) throw new MaskError('iou(iscrowd=) must have the same length as gt');
  const nD = dt.length;
  const nG = gt.length;
  if (nD === 0 || nG === 0) return [];
  const crowd = Uint8Array.from(iscrowd, (c) => (c ? 1 : 0));
  const out = new Float64Array(nD * nG);
  const allBoxes = (xs: readonly (Box | RleObject)[]) => xs.every((x) => Array.isArray(x) && x.length === 4);
  const allRles = (xs: readonly (Box | RleObject)[]) => xs.every((x) => isRleObject(x));
  if (allBoxes(dt) && allBoxes(gt)) {
    bboxIouInto((dt as Box[]).flat(), nD, (gt as Box[]).flat(), nG, crowd, out);
  } else if (allRles(dt) && allRles(gt)) {
    rleIouInto((dt as RleObject[]).map(toRle), (gt as RleObject[]).map(toRle), crowd, out);
  } else {
    throw new MaskError('iou: dt and gt must both be lists of [x, y, w, h] boxes or both lists of RLE objects');
  }
  const rows: number[][] = [];
  for (let d = 0; d < nD; d++) rows.push(Array.from(out.subarray(d * nG, (d + 1) * nG)));
  return rows;
}
