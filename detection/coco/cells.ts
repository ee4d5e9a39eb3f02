/**
 * Grouping of annotations into evaluation cells (one per category and image, category-major),
 * in exactly the order pycocotools builds its per-(image, category) lists.
 */
import type { COCO } from './coco';
import { CocoFormatError } from './errors';
import type { Params } from './params';
import type { CocoAnnotation } from './types';

/** Cell c holds anns[start[c]..start[c+1]]. */
export interface Cells {
  start: Int32Array;
  anns: CocoAnnotation[];
}

/**
 * Groups annotations into cells (category-major, image-minor) with a stable counting sort, so no
 * per-cell arrays are made. Within a cell the order is the annotation file order; with useCats=0
 * a cell is the concatenation over p.catIds in that order, as pycocotools builds it. Detections
 * are then stable-sorted by descending score and capped at `cap` per cell.
 */
export function buildCells(index: COCO, p: Params, useCats: boolean, isDt: boolean, cap: number): Cells {
  const I = p.imgIds.length;
  const K = useCats ? p.catIds.length : 1;
  const nCells = K * I;
  // Position of a category in p.catIds (first occurrence; useCats=1 ids are unique anyway).
  const catPos = new Map<number, number>();
  p.catIds.forEach((c, k) => {
    if (!catPos.has(c)) catPos.set(c, k);
  });
  // Pass 1: the annotations that belong to some cell, with their cell and a secondary sort key
  // (useCats=0: the category's position in p.catIds, to concatenate by category).
  const picked: CocoAnnotation[] = [];
  const cellOf: number[] = [];
  const sub: number[] = [];
  const counts = new Int32Array(nCells + 1);
  for (let i = 0; i < I; i++) {
    const list = index.imgToAnns.get(p.imgIds[i]);
    if (!list) continue;
    for (let j = 0; j < list.length; j++) {
      const ann = list[j];
      const k = catPos.get(ann.category_id);
      if (k === undefined) continue;
      const c = useCats ? k * I + i : i;
      picked.push(ann);
      cellOf.push(c);
      sub.push(useCats ? 0 : k);
      counts[c + 1]++;
    }
  }
  if (!useCats) {
    // A category listed twice in p.catIds contributes its annotations twice in pycocotools.
    const times = new Map<number, number>();
    for (const c of p.catIds) times.set(c, (times.get(c) ?? 0) + 1);
    if ([...times.values()].some((v) => v > 1)) return buildCellsRepeatedCats(index, p, isDt, cap);
  }
  for (let c = 0; c < nCells; c++) counts[c + 1] += counts[c];
  // Pass 2: stable scatter into cells.
  const order = new Int32Array(picked.length);
  const fill = counts.slice(0, nCells);
  if (useCats) {
    for (let q = 0; q < picked.length; q++) order[fill[cellOf[q]]++] = q;
  } else {
    // Within an image, by category position then file order.
    const idx = Array.from({ length: picked.length }, (_, q) => q);
    idx.sort((x, y) => cellOf[x] - cellOf[y] || sub[x] - sub[y] || x - y);
    for (let q = 0; q < idx.length; q++) order[q] = idx[q];
  }
  const start = new Int32Array(nCells + 1);
  const anns: CocoAnnotation[] = [];
  for (let c = 0; c < nCells; c++) {
    start[c] = anns.length;
    const c0 = counts[c];
    const c1 = counts[c + 1];
    if (c1 === c0) continue;
    if (!isDt) {
      for (let q = c0; q < c1; q++) anns.push(picked[order[q]]);
      continue;
    }
    // Positions in the cell's order; ties keep that order (numpy argsort(-score, kind='mergesort')).
    const pos = Array.from({ length: c1 - c0 }, (_, j) => c0 + j);
    for (const q of pos) {
      const a = picked[order[q]];
      if (typeof a.score !== 'number') throw new CocoFormatError(annName('detection', a), 'missing numeric "score"');
    }
    pos.sort((x, y) => (picked[order[y]].score as number) - (picked[order[x]].score as number) || x - y);
    const keep = Math.min(cap, pos.length);
    for (let q = 0; q < keep; q++) anns.push(picked[order[pos[q]]]);
  }
  start[nCells] = anns.length;
  return { start, anns };
}

/** useCats=0 with a category listed more than once: the straightforward per-image concatenation. */
function buildCellsRepeatedCats(index: COCO, p: Params, isDt: boolean, cap: number): Cells {
  const I = p.imgIds.length;
  const start = new Int32Array(I + 1);
  const anns: CocoAnnotation[] = [];
  for (let i = 0; i < I; i++) {
    start[i] = anns.length;
    const list = index.imgToAnns.get(p.imgIds[i]) ?? [];
    let cell: CocoAnnotation[] = [];
    for (const cId of p.catIds) for (const ann of list) if (ann.category_id === cId) cell.push(ann);
    if (isDt) {
      for (const a of cell) if (typeof a.score !== 'number') throw new CocoFormatError(annName('detection', a), 'missing numeric "score"');
      const idx = cell.map((_, j) => j);
      idx.sort((x, y) => (cell[y].score as number) - (cell[x].score as number) || x - y);
      cell = idx.slice(0, cap).map((j) => cell[j]);
    }
    for (const a of cell) anns.push(a);
  }
  start[I] = anns.length;
  return { start, anns };
}

export function annName(what: string, a: CocoAnnotation): string {
  return `${what} annotation id ${a.id} (image_id ${a.image_id}, category_id ${a.category_id})`;
}
