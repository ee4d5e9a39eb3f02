/** COCO JSON shapes (instances format and result lists), typed loosely where COCO files vary. */
import type { Polygon, RleObject } from './mask';

export interface CocoImage {
  id: number;
  width?: number;
  height?: number;
  file_name?: string;
  [key: string]: unknown;
}

export interface CocoCategory {
  id: number;
  name?: string;
  supercategory?: string;
  [key: string]: unknown;
}

/** A polygon list (one object may have several parts) or an RLE object. */
export type Segmentation = Polygon[] | RleObject;

export interface CocoAnnotation {
  id: number;
  image_id: number;
  category_id: number;
  bbox?: number[];
  area?: number;
  iscrowd?: number | boolean;
  segmentation?: Segmentation;
  score?: number;
  keypoints?: number[];
  num_keypoints?: number;
  [key: string]: unknown;
}

export interface CocoDataset {
  info?: Record<string, unknown>;
  images?: CocoImage[];
  annotations?: CocoAnnotation[];
  categories?: CocoCategory[];
  [key: string]: unknown;
}

/** One detection as written to a results file (id, area, iscrowd are filled in by loadRes). */
export interface CocoResult {
  image_id: number;
  category_id: number;
  score: number;
  bbox?: number[];
  segmentation?: Segmentation;
  keypoints?: number[];
  [key: string]: unknown;
}
