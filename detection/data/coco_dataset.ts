/**
 * A COCO-format instance-segmentation dataset over `detection/coco`: one record per image with
 * its instances as xyxy boxes, contiguous classes 1..K and polygon or RLE masks, in the image's
 * original pixels. Pixels are decoded with sharp (data/datasets/decode.ts) when asked for.
 */
import * as fs from 'fs';
import * as path from 'path';
import { COCO } from '../coco/coco';
import { CocoFormatError } from '../coco/errors';
import { isRleObject } from '../coco/mask';
import type { CocoAnnotation, CocoDataset } from '../coco/types';
import type { RawImage } from '../../src/core/interfaces';
import { DataError, InputError } from '../../src/core/errors';
import { decodeImage } from '../../data/datasets/decode';
import type { DetectionTarget, InstanceMask } from './types';

export interface DetectionRecord {
  imageId: number;
  /** Absolute path of the image file. */
  file: string;
  /** Original size from the annotation file. */
  height: number;
  width: number;
  /** Instances in original pixels (crowd regions left out). */
  target: DetectionTarget;
}

export interface CocoDetectionOptions {
  /** Annotation JSON file (or an already parsed dataset). */
  annotations: string | CocoDataset;
  /** Folder holding the images (`file_name` is relative to it). */
  images: string;
  /**
   * Leave out images without a usable (non-crowd) instance: what training wants (Detectron2's
   * filter_empty_annotations). Evaluation keeps every image. Default true.
   */
  filterEmpty?: boolean;
}

/** Maps between COCO category ids and the detector's contiguous classes 1..K. */
export interface CategoryMap {
  /** COCO category id of class k is catIds[k - 1]. */
  catIds: number[];
  /** Name of class k is names[k - 1]. */
  names: string[];
}

/** Categories in ascending id order become classes 1..K (Detectron2's thing_dataset_id_to_contiguous_id). */
export function categoryMap(coco: COCO): CategoryMap {
  const cats = [...(coco.dataset.categories ?? [])].sort((a, b) => a.id - b.id);
  if (cats.length === 0) throw new CocoFormatError('categories', 'the annotation file lists no categories');
  return { catIds: cats.map((c) => c.id), names: cats.map((c) => String(c.name ?? c.id)) };
}

export class CocoDetectionDataset {
  readonly coco: COCO;
  readonly categories: CategoryMap;
  readonly name: string;
  private readonly records: DetectionRecord[];
  private readonly classOf = new Map<number, number>();

  constructor(o: CocoDetectionOptions) {
    if (typeof o.annotations === 'string' && !fs.existsSync(o.annotations)) throw new InputError(`annotation file '${o.annotations}' does not exist`);
    this.coco = new COCO(o.annotations);
    this.name = typeof o.annotations === 'string' ? o.annotations : 'coco';
    this.categories = categoryMap(this.coco);
    this.categories.catIds.forEach((id, k) => this.classOf.set(id, k + 1));
    if (!fs.existsSync(o.images) || !fs.statSync(o.images).isDirectory()) {
      throw new InputError(`image folder '${o.images}' does not exist`);
    }
    const filterEmpty = o.filterEmpty ?? true;
    this.records = [];
    for (const img of this.coco.dataset.images ?? []) {
      const where = `image id ${img.id}`;
      if (typeof img.file_name !== 'string') throw new CocoFormatError(where, 'needs a "file_name"');
      if (!(typeof img.height === 'number' && typeof img.width === 'number' && img.height > 0 && img.width > 0)) {
        throw new CocoFormatError(where, 'needs positive numeric "height" and "width"');
      }
      const target = this.instances(this.coco.imgToAnns.get(img.id) ?? [], img.height, img.width);
      if (filterEmpty && target.classes.length === 0) continue;
      this.records.push({ imageId: img.id, file: path.join(o.images, img.file_name), height: img.height, width: img.width, target });
    }
  }

  get length(): number {
    return this.records.length;
  }

  get numClasses(): number {
    return this.categories.catIds.length;
  }

  record(i: number): DetectionRecord {
    const r = this.records[i];
    if (!r) throw new RangeError(`index ${i} out of range [0, ${this.records.length})`);
    return r;
  }

  /** COCO category id of contiguous class k (1..K). */
  catIdOf(k: number): number {
    const id = this.categories.catIds[k - 1];
    if (id === undefined) throw new RangeError(`class ${k} out of range 1..${this.numClasses}`);
    return id;
  }

  /** RGB pixels of image i at its original size; DataError if unreadable or not the annotated size. */
  async loadImage(i: number): Promise<RawImage> {
    const r = this.record(i);
    const im = await decodeImage(r.file);
    if (im.width !== r.width || im.height !== r.height) {
      throw new DataError(r.file, `decoded ${im.width}x${im.height}, the annotation file says ${r.width}x${r.height}`);
    }
    return im;
  }

  /**
   * An image's usable instances: crowd regions, zero-size boxes and masks without a valid
   * polygon are left out; a missing segmentation becomes the box as a polygon.
   */
  private instances(anns: readonly CocoAnnotation[], h: number, w: number): DetectionTarget {
    const boxes: number[] = [];
    const classes: number[] = [];
    const masks: InstanceMask[] = [];
    for (const a of anns) {
      if (a.iscrowd) continue;
      const where = `annotation id ${a.id}`;
      const cls = this.classOf.get(a.category_id);
      if (cls === undefined) throw new CocoFormatError(where, `category_id ${a.category_id} is not in the categories list`);
      const bb = a.bbox;
      if (!Array.isArray(bb) || bb.length !== 4 || bb.some((v) => typeof v !== 'number' || !Number.isFinite(v))) {
        throw new CocoFormatError(where, 'needs a "bbox" of 4 numbers [x, y, w, h]');
      }
      const [x, y, bw, bh] = bb;
      if (!(bw > 0 && bh > 0)) continue;
      let mask: InstanceMask;
      const s = a.segmentation;
      if (Array.isArray(s)) {
        const polys = s.filter((p) => Array.isArray(p) && p.length >= 6 && p.length % 2 === 0).map((p) => p.slice());
        if (polys.length === 0) continue;
        mask = { polygons: polys };
      } else if (isRleObject(s)) {
        if (s.size[0] !== h || s.size[1] !== w) throw new CocoFormatError(where, `RLE size ${s.size} differs from the image's [${h}, ${w}]`);
        mask = { rle: s };
      } else {
        mask = { polygons: [[x, y, x + bw, y, x + bw, y + bh, x, y + bh]] };
      }
      boxes.push(x, y, x + bw, y + bh);
      classes.push(cls);
      masks.push(mask);
    }
    return { boxes: Float32Array.from(boxes), classes: Int32Array.from(classes), masks };
  }
}
