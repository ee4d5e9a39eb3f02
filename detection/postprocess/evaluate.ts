/**
 * COCO evaluation of detection results with our COCOeval: `bbox` and `segm` stats, the AP table
 * Detectron2 prints (AP, AP50, AP75, APs, APm, APl in percent; per-category AP) and `metrics.json`.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { COCO } from '../coco/coco';
import { COCOeval } from '../coco/cocoeval';
import type { CocoResult } from '../coco/types';

export type DetIouType = 'bbox' | 'segm';
export const AP_NAMES = ['AP', 'AP50', 'AP75', 'APs', 'APm', 'APl'] as const;

export interface DetectionMetrics {
  /** COCOeval's 12 stats per evaluated type (fractions, -1 where undefined). */
  stats: Partial<Record<DetIouType, number[]>>;
  /** Detectron2's per-category AP per evaluated type: category name -> percent (NaN without ground truth). */
  perCategory: Partial<Record<DetIouType, Record<string, number>>>;
  numImages: number;
  numDetections: number;
}

/**
 * Evaluates `results` against `gt` on `imgIds` (default: every image of gt). For `segm` the
 * boxes are removed first so areas and boxes come from the masks (as Detectron2 does).
 */
export function evaluateDetections(
  gt: COCO,
  results: readonly CocoResult[],
  o: { iouTypes?: DetIouType[]; imgIds?: number[]; printSummary?: boolean } = {},
): DetectionMetrics {
  const types = o.iouTypes ?? (results.length === 0 || results[0].segmentation ? ['bbox', 'segm'] : ['bbox']);
  const stats: Partial<Record<DetIouType, number[]>> = {};
  const perCategory: Partial<Record<DetIouType, Record<string, number>>> = {};
  for (const t of types) {
    const recs = t === 'segm' ? results.map(({ bbox: _drop, ...r }) => r) : results.map(({ segmentation: _drop, ...r }) => r);
    if (t === 'segm' && recs.some((r) => !r.segmentation)) throw new Error('segm evaluation needs a segmentation in every result');
    const E = new COCOeval(gt, gt.loadRes(recs), t);
    if (o.imgIds) E.params.imgIds = [...o.imgIds];
    E.evaluate();
    E.accumulate();
    stats[t] = E.summarize(o.printSummary ?? false);
    perCategory[t] = Object.fromEntries(E.perCategoryAp().map(({ catId, ap }) => [categoryName(gt, catId), ap]));
  }
  const numImages = o.imgIds ? new Set(o.imgIds).size : gt.getImgIds().length;
  return { stats, perCategory, numImages, numDetections: results.length };
}

/** The six AP numbers of a stats array in percent (Detectron2's table); NaN where undefined. */
export function apSummary(stats: readonly number[]): Record<(typeof AP_NAMES)[number], number> {
  const r = {} as Record<(typeof AP_NAMES)[number], number>;
  AP_NAMES.forEach((k, i) => (r[k] = stats[i] >= 0 ? stats[i] * 100 : NaN));
  return r;
}

/** A markdown table: one row per evaluated type, the six AP columns. */
export function formatApTable(m: DetectionMetrics): string {
  const rows = ['| type | ' + AP_NAMES.join(' | ') + ' |', '|---|' + AP_NAMES.map(() => '---:').join('|') + '|'];
  for (const t of ['bbox', 'segm'] as const) {
    const s = m.stats[t];
    if (!s) continue;
    const ap = apSummary(s);
    rows.push(`| ${t} | ` + AP_NAMES.map((k) => (Number.isNaN(ap[k]) ? 'nan' : ap[k].toFixed(3))).join(' | ') + ' |');
  }
  return rows.join('\n');
}

/**
 * Detectron2's "Per-category <type> AP" table: (category, AP) pairs, three to a row, in category
 * order; 'nan' where the evaluated images hold none of that category.
 */
export function formatPerCategoryTable(m: DetectionMetrics, type: DetIouType, pairsPerRow = 3): string {
  const entries = Object.entries(m.perCategory[type] ?? {});
  const head = Array.from({ length: pairsPerRow }, () => 'category | AP').join(' | ');
  const rows = [`| ${head} |`, '|' + Array.from({ length: pairsPerRow }, () => '---|---:').join('|') + '|'];
  for (let i = 0; i < entries.length; i += pairsPerRow) {
    const cells = entries.slice(i, i + pairsPerRow).map(([name, ap]) => `${name} | ${Number.isNaN(ap) ? 'nan' : ap.toFixed(3)}`);
    while (cells.length < pairsPerRow) cells.push(' | ');
    rows.push(`| ${cells.join(' | ')} |`);
  }
  return rows.join('\n');
}

/** Writes `dir/metrics.json`: both 12-number stats arrays, their AP summaries and counts. */
export function writeMetrics(dir: string, m: DetectionMetrics, extra: Record<string, unknown> = {}): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'metrics.json');
  const summary: Record<string, Record<string, number | null>> = {};
  for (const [t, s] of Object.entries(m.stats)) {
    const ap = apSummary(s!);
    summary[t] = Object.fromEntries(Object.entries(ap).map(([k, v]) => [k, Number.isNaN(v) ? null : v]));
  }
  const perCategory = Object.fromEntries(
    Object.entries(m.perCategory).map(([t, byName]) => [t, Object.fromEntries(Object.entries(byName!).map(([k, v]) => [k, Number.isNaN(v) ? null : v]))]),
  );
  const body = { ...extra, bbox: m.stats.bbox ?? null, segm: m.stats.segm ?? null, summary, per_category: perCategory, num_images: m.numImages, num_detections: m.numDetections };
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(body, null, 2) + '\n');
  fs.renameSync(tmp, file);
  return file;
}

/**
 * The whole evaluation step: evaluates, prints the AP table through `log`, and when `outDir` is
 * given writes `metrics.json` and the results as `coco_instances_results.json` (Detectron2's name).
 */
export function evaluateAndReport(
  gt: COCO,
  results: readonly CocoResult[],
  o: { outDir?: string; log?: (line: string) => void; imgIds?: number[]; iouTypes?: DetIouType[]; extra?: Record<string, unknown> } = {},
): DetectionMetrics {
  const m = evaluateDetections(gt, results, { imgIds: o.imgIds, iouTypes: o.iouTypes });
  const log = o.log ?? ((s: string) => console.log(s));
  log(`COCO evaluation: ${m.numImages} images, ${m.numDetections} detections (AP in percent)`);
  log(formatApTable(m));
  for (const t of ['bbox', 'segm'] as const) {
    if (!m.perCategory[t]) continue;
    log(`Per-category ${t} AP:`);
    log(formatPerCategoryTable(m, t));
  }
  if (o.outDir) {
    fs.mkdirSync(o.outDir, { recursive: true });
    const resFile = path.join(o.outDir, 'coco_instances_results.json');
    fs.writeFileSync(`${resFile}.tmp`, JSON.stringify(results));
    fs.renameSync(`${resFile}.tmp`, resFile);
    writeMetrics(o.outDir, m, o.extra);
  }
  return m;
}

/** A category's name in the ground truth, its id where it has none (or -1: labels ignored). */
function categoryName(gt: COCO, catId: number): string {
  if (catId < 0) return 'all';
  return gt.loadCats(catId)[0]?.name ?? String(catId);
}
