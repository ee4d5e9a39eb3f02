/**
 * The COCO dataset index (pycocotools.coco.COCO): id lookups and the same filters, plus
 * conversion of an annotation's segmentation into an RLE.
 */
import * as fs from 'fs';
import { CocoFormatError } from './errors';
import { loadResults } from './load_res';
import { CompressedRle, RleObject, isRleObject, toCompressed, toRle } from './mask';
import { rleFrPoly } from './polygon';
import { Rle, colToRowMajor, rleDecode, rleMerge } from './rle';
import type { CocoAnnotation, CocoCategory, CocoDataset, CocoImage, CocoResult } from './types';

type Ids = number | readonly number[];
const asList = (x: Ids | undefined): readonly number[] => (x === undefined ? [] : typeof x === 'number' ? [x] : x);

export class COCO {
  dataset: CocoDataset;
  anns = new Map<number, CocoAnnotation>();
  imgs = new Map<number, CocoImage>();
  cats = new Map<number, CocoCategory>();
  imgToAnns = new Map<number, CocoAnnotation[]>();
  catToImgs = new Map<number, number[]>();

  /** From a JSON file path, an already parsed dataset object, or nothing (empty index). */
  constructor(source?: string | CocoDataset) {
    if (typeof source === 'string') {
      const parsed: unknown = JSON.parse(fs.readFileSync(source, 'utf8'));
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
        throw new CocoFormatError(source, 'annotation file must hold a JSON object (images, annotations, categories)');
      }
      this.dataset = parsed as CocoDataset;
    } else {
      this.dataset = source ?? {};
    }
    this.createIndex();
  }

  /** Rebuilds the lookups; call after changing `dataset`. */
  createIndex(): void {
    const d = this.dataset;
    this.anns = new Map();
    this.imgs = new Map();
    this.cats = new Map();
    this.imgToAnns = new Map();
    this.catToImgs = new Map();
    for (const ann of d.annotations ?? []) {
      push(this.imgToAnns, ann.image_id, ann);
      this.anns.set(ann.id, ann);
    }
    for (const img of d.images ?? []) this.imgs.set(img.id, img);
    for (const cat of d.categories ?? []) this.cats.set(cat.id, cat);
    if (d.annotations && d.categories) for (const ann of d.annotations) push(this.catToImgs, ann.category_id, ann.image_id);
  }

  /**
   * Annotation ids passing every given filter (an empty filter is skipped). As in pycocotools the
   * area filter is exclusive at both ends and results follow imgIds order, then file order.
   */
  getAnnIds(f: { imgIds?: Ids; catIds?: Ids; areaRng?: readonly number[]; iscrowd?: number | boolean | null } = {}): number[] {
    const imgIds = asList(f.imgIds);
    const catIds = asList(f.catIds);
    const areaRng = f.areaRng ?? [];
    let anns: readonly CocoAnnotation[];
    if (imgIds.length === 0 && catIds.length === 0 && areaRng.length === 0) {
      anns = this.dataset.annotations ?? [];
    } else {
      if (imgIds.length > 0) {
        const lists: CocoAnnotation[] = [];
        for (const id of imgIds) {
          const l = this.imgToAnns.get(id);
          if (l) for (const a of l) lists.push(a);
        }
        anns = lists;
      } else {
        anns = this.dataset.annotations ?? [];
      }
      if (catIds.length > 0) {
        const cs = new Set(catIds);
        anns = anns.filter((a) => cs.has(a.category_id));
      }
      if (areaRng.length > 0) anns = anns.filter((a) => (a.area as number) > areaRng[0] && (a.area as number) < areaRng[1]);
    }
    const crowd = f.iscrowd;
    if (crowd !== undefined && crowd !== null) return anns.filter((a) => a.iscrowd == crowd).map((a) => a.id);
    return anns.map((a) => a.id);
  }

  /** Category ids by name, supercategory name and id, in file order. */
  getCatIds(f: { catNms?: string | readonly string[]; supNms?: string | readonly string[]; catIds?: Ids } = {}): number[] {
    const nms = f.catNms === undefined ? [] : typeof f.catNms === 'string' ? [f.catNms] : f.catNms;
    const sups = f.supNms === undefined ? [] : typeof f.supNms === 'string' ? [f.supNms] : f.supNms;
    const ids = asList(f.catIds);
    let cats = this.dataset.categories ?? [];
    if (nms.length > 0) cats = cats.filter((c) => nms.includes(c.name as string));
    if (sups.length > 0) cats = cats.filter((c) => sups.includes(c.supercategory as string));
    if (ids.length > 0) cats = cats.filter((c) => ids.includes(c.id));
    return cats.map((c) => c.id);
  }

  /**
   * Image ids: all (in file order) when unfiltered; otherwise the given ids intersected with the
   * images holding every given category. pycocotools returns a Python set's order there; we
   * return ascending ids.
   */
  getImgIds(f: { imgIds?: Ids; catIds?: Ids } = {}): number[] {
    const imgIds = asList(f.imgIds);
    const catIds = asList(f.catIds);
    if (imgIds.length === 0 && catIds.length === 0) return [...this.imgs.keys()];
    let ids = new Set(imgIds);
    catIds.forEach((catId, i) => {
      const withCat = new Set(this.catToImgs.get(catId) ?? []);
      ids = i === 0 && ids.size === 0 ? withCat : new Set([...ids].filter((x) => withCat.has(x)));
    });
    return [...ids].sort((a, b) => a - b);
  }

  loadAnns(ids: Ids): CocoAnnotation[] {
    return asList(ids).map((id) => lookup(this.anns, id, 'annotation'));
  }
  loadCats(ids: Ids): CocoCategory[] {
    return asList(ids).map((id) => lookup(this.cats, id, 'category'));
  }
  loadImgs(ids: Ids): CocoImage[] {
    return asList(ids).map((id) => lookup(this.imgs, id, 'image'));
  }

  /**
   * A result index over the same images (pycocotools loadRes): the result type is decided by
   * the first record, ids are reassigned 1..N and area/bbox/segmentation filled in. Records are
   * copied, not modified. Accepts a JSON file path or a parsed list.
   */
  loadRes(results: string | readonly CocoResult[]): COCO {
    let list: unknown = results;
    let where = 'results';
    if (typeof results === 'string') {
      where = results;
      list = JSON.parse(fs.readFileSync(results, 'utf8'));
    }
    const res = new COCO();
    res.dataset = loadResults(this, list, where);
    res.createIndex();
    return res;
  }

  /** Segmentation of `ann` as typed runs (polygons rasterised and merged, RLE parsed). */
  annToRle(ann: CocoAnnotation): Rle {
    const segm = ann.segmentation;
    if (Array.isArray(segm)) {
      const img = this.imgs.get(ann.image_id);
      if (!img) throw new CocoFormatError(`annotation id ${ann.id}`, `image_id ${ann.image_id} is not in the images list`);
      const h = img.height;
      const w = img.width;
      if (typeof h !== 'number' || typeof w !== 'number') {
        throw new CocoFormatError(`image id ${img.id}`, 'needs numeric "height" and "width" to rasterise polygons');
      }
      // pycocotools' frPyObjects reads a list whose first entry has <= 4 numbers as boxes (and fails).
      if (segm.length === 0 || !Array.isArray(segm[0]) || segm[0].length <= 4) {
        throw new CocoFormatError(
          `annotation id ${ann.id}`,
          'polygon segmentation must be a non-empty list of [x1, y1, x2, y2, x3, y3, ...] lists (>= 3 points)',
        );
      }
      const parts = segm.map((p, j) => {
        if (!Array.isArray(p)) throw new CocoFormatError(`annotation id ${ann.id}`, `segmentation[${j}] is not a list of numbers`);
        return rleFrPoly(p, h, w);
      });
      return rleMerge(parts);
    }
    if (isRleObject(segm)) return toRle(segm as RleObject);
    throw new CocoFormatError(`annotation id ${ann.id}`, 'needs a "segmentation" (polygon list or {size, counts} RLE)');
  }

  /** pycocotools annToRLE: compressed RLE object. */
  annToRLE(ann: CocoAnnotation): CompressedRle {
    return toCompressed(this.annToRle(ann));
  }

  /** Binary mask of `ann`, row-major (mask[y * w + x]), indexed like pycocotools' m[y, x]. */
  annToMask(ann: CocoAnnotation): { h: number; w: number; data: Uint8Array } {
    const r = this.annToRle(ann);
    return { h: r.h, w: r.w, data: colToRowMajor(rleDecode(r), r.h, r.w) };
  }
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const l = m.get(k);
  if (l) l.push(v);
  else m.set(k, [v]);
}

function lookup<V>(m: Map<number, V>, id: number, what: string): V {
  const v = m.get(id);
  if (v === undefined) throw new CocoFormatError(`${what} id ${id}`, `no such ${what} in this index`);
  return v;
}
