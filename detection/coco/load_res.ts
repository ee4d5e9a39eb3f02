/**
 * pycocotools' COCO.loadRes, as a function building the result dataset. Its rules, kept exactly:
 * - the first record decides the type for all: a non-empty "bbox" means box results (even when
 *   a segmentation is present too), else "segmentation" means mask results, else "keypoints";
 * - box results: area = w*h, iscrowd 0, and a box polygon as segmentation unless one is given;
 * - mask results: area and (if absent) bbox computed from the compressed RLE;
 * - keypoint results: bbox and area from the keypoints' extent;
 * - ids are reassigned 1..N in list order.
 * Unlike pycocotools every record is checked first, so bad input fails with the record named.
 */
import type { COCO } from './coco';
import { CocoFormatError } from './errors';
import { isRleObject, toRle } from './mask';
import { rleArea, rleToBbox } from './rle';
import type { CocoAnnotation, CocoDataset, Segmentation } from './types';

type ResultKind = 'bbox' | 'segm' | 'keypoints';

const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
const isBox = (x: unknown): x is number[] => Array.isArray(x) && x.length === 4 && x.every(isNum);
const isSize = (x: unknown): boolean => Array.isArray(x) && x.length === 2 && x.every((v) => Number.isInteger(v) && v >= 0);

export function loadResults(gt: COCO, list: unknown, where: string): CocoDataset {
  if (!Array.isArray(list)) throw new CocoFormatError(where, 'results must be a JSON array of detection objects');
  const out: CocoDataset = {
    info: structuredClone(gt.dataset.info ?? {}),
    images: [...(gt.dataset.images ?? [])],
    categories: structuredClone(gt.dataset.categories ?? []),
    annotations: [],
  };
  if (list.length === 0) return out; // pycocotools fails on an empty list; an empty result is just "no detections"
  const kind = resultKind(list[0], `${where}[0]`);
  const anns: CocoAnnotation[] = new Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const rec = list[i] as Record<string, unknown>;
    const name = () => `${where}[${i}]`; // built only for an error message
    checkCommon(gt, rec, name);
    // One object literal per kind keeps the records' shapes uniform (fast property access later).
    const id = i + 1;
    const image_id = rec.image_id as number;
    const category_id = rec.category_id as number;
    const score = rec.score as number;
    let ann: CocoAnnotation;
    if (kind === 'bbox') {
      if (!isBox(rec.bbox)) throw new CocoFormatError(name(), `"bbox" must be [x, y, width, height] (4 numbers), got ${brief(rec.bbox)}`);
      const [x, y, w, h] = rec.bbox;
      const x1 = x;
      const x2 = x + w;
      const y1 = y;
      const y2 = y + h;
      const segmentation = 'segmentation' in rec ? (rec.segmentation as Segmentation) : [[x1, y1, x1, y2, x2, y2, x2, y1]];
      ann = { id, image_id, category_id, score, bbox: rec.bbox, segmentation, area: w * h, iscrowd: 0 };
    } else if (kind === 'segm') {
      const s = rec.segmentation;
      if (!isRleObject(s) || typeof s.counts !== 'string' || !isSize(s.size)) {
        throw new CocoFormatError(name(), '"segmentation" of a mask result must be a compressed RLE {"size": [h, w], "counts": "<string>"}');
      }
      const r = toRle(s);
      let bbox: number[];
      if (!('bbox' in rec)) bbox = rleToBbox(r);
      else if (isBox(rec.bbox)) bbox = rec.bbox;
      else throw new CocoFormatError(name(), `"bbox" must be [x, y, width, height] (4 numbers), got ${brief(rec.bbox)}`);
      ann = { id, image_id, category_id, score, bbox, segmentation: s, area: rleArea(r), iscrowd: 0 };
    } else {
      const k = rec.keypoints;
      if (!Array.isArray(k) || k.length < 3 || !k.every(isNum)) {
        throw new CocoFormatError(name(), '"keypoints" must be a list of x, y, v triples');
      }
      let x0 = Infinity;
      let x1 = -Infinity;
      let y0 = Infinity;
      let y1 = -Infinity;
      for (let j = 0; j < k.length; j += 3) {
        x0 = Math.min(x0, k[j]);
        x1 = Math.max(x1, k[j]);
      }
      for (let j = 1; j < k.length; j += 3) {
        y0 = Math.min(y0, k[j]);
        y1 = Math.max(y1, k[j]);
      }
      ann = { id, image_id, category_id, score, keypoints: k, bbox: [x0, y0, x1 - x0, y1 - y0], area: (x1 - x0) * (y1 - y0) };
    }
    // Any other keys of the record travel along unchanged.
    for (const key in rec) if (!(key in ann)) ann[key] = rec[key];
    anns[i] = ann;
  }
  out.annotations = anns;
  return out;
}

function resultKind(first: unknown, name: string): ResultKind {
  if (first === null || typeof first !== 'object' || Array.isArray(first)) {
    throw new CocoFormatError(name, 'each result must be an object like {"image_id", "category_id", "bbox", "score"}');
  }
  const r = first as Record<string, unknown>;
  if ('caption' in r) throw new CocoFormatError(name, 'caption results are not supported (only bbox, segm and keypoints)');
  if ('bbox' in r && !(Array.isArray(r.bbox) && r.bbox.length === 0)) return 'bbox';
  if ('segmentation' in r) return 'segm';
  if ('keypoints' in r) return 'keypoints';
  throw new CocoFormatError(name, 'result has none of "bbox", "segmentation", "keypoints"');
}

function checkCommon(gt: COCO, rec: Record<string, unknown>, name: () => string): void {
  if (rec === null || typeof rec !== 'object' || Array.isArray(rec)) {
    throw new CocoFormatError(name(), 'each result must be an object like {"image_id", "category_id", "bbox", "score"}');
  }
  if (!('image_id' in rec)) throw new CocoFormatError(name(), 'missing "image_id"');
  if (!isNum(rec.image_id)) throw new CocoFormatError(name(), `"image_id" must be a number, got ${brief(rec.image_id)}`);
  if (!gt.imgs.has(rec.image_id)) {
    throw new CocoFormatError(name(), `image_id ${rec.image_id} is not an image of the ground truth (results do not correspond to this COCO set)`);
  }
  if (!('category_id' in rec)) throw new CocoFormatError(name(), 'missing "category_id"');
  if (!isNum(rec.category_id)) throw new CocoFormatError(name(), `"category_id" must be a number, got ${brief(rec.category_id)}`);
  if (!('score' in rec)) throw new CocoFormatError(name(), 'missing "score"');
  if (!isNum(rec.score)) throw new CocoFormatError(name(), `"score" must be a finite number, got ${brief(rec.score)}`);
}

function brief(x: unknown): string {
  const s = JSON.stringify(x);
  return s === undefined ? String(x) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
