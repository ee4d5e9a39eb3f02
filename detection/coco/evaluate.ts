/**
 * Per-image, per-category matching (COCOeval.evaluate / computeIoU / evaluateImg) over flat typed
 * arrays. Ground truths and detections are laid out category-major, image-minor ("cells"), the
 * order of pycocotools' evalImgs, so one category's detections over all images are contiguous for
 * accumulate. Detections in a cell are stable-sorted by score and capped at maxDets[-1] once; IoUs
 * go into one reused scratch buffer.
 */
import type { COCO } from './coco';
import { CocoFormatError } from './errors';
import { annName, buildCells } from './cells';
import { bboxIouInto, rleIouRefine } from './iou';
import { oksInto } from './oks';
import type { Params } from './params';
import { Rle, rleToBboxInto } from './rle';
import type { CocoAnnotation } from './types';

/** Everything accumulate and evalImgs need, flat. Slots index the cell-ordered arrays. */
export interface EvalResult {
  params: Params;
  /** Category ids evaluated (useCats=0: [-1]); K = length. */
  catIds: number[];
  imgIds: number[];
  K: number;
  A: number;
  I: number;
  T: number;
  /** Cell c = k * I + i: gt slots gtStart[c]..gtStart[c+1], dt slots dtStart[c]..dtStart[c+1]. */
  gtStart: Int32Array;
  dtStart: Int32Array;
  gtAnns: CocoAnnotation[];
  dtAnns: CocoAnnotation[];
  gtId: Float64Array;
  dtId: Float64Array;
  dtScore: Float64Array;
  /** Rank of a detection within its cell after sorting (0 = highest score). */
  dtRank: Int32Array;
  /** [a][slot]: gt slot at sorted position (non-ignored first), and its ignore flag. */
  gtOrder: Int32Array;
  gtIgnore: Uint8Array;
  /** [a][t][dt slot]: matched gt slot or -1; ignore flag. */
  dtMatch: Int32Array;
  dtIgnore: Uint8Array;
  /** [a][t][sorted gt position]: matched dt slot or -1. */
  gtMatch: Int32Array;
}

/** Runs the evaluation; `p` must already be normalised (see COCOeval.evaluate). */
/** `onProgress(done, total)` is called about every 1% of the (category, image) cells and at the end. */
export function evaluate(gtIndex: COCO, dtIndex: COCO, p: Params, onProgress?: (done: number, total: number) => void): EvalResult {
  const useCats = !!p.useCats;
  const catIds = useCats ? p.catIds : [-1];
  const imgIds = p.imgIds;
  const K = catIds.length;
  const I = imgIds.length;
  const A = p.areaRng.length;
  const T = p.iouThrs.length;
  const maxDet = p.maxDets[p.maxDets.length - 1];

  const gt = buildCells(gtIndex, p, useCats, false, 0);
  const dt = buildCells(dtIndex, p, useCats, true, maxDet);
  const nG = gt.anns.length;
  const nD = dt.anns.length;

  const kps = p.iouType === 'keypoints';
  // Flat per-annotation data.
  const gtId = new Float64Array(nG);
  const gtArea = new Float64Array(nG);
  const gtCrowd = new Uint8Array(nG);
  const gtIgnoreBase = new Uint8Array(nG);
  for (let s = 0; s < nG; s++) {
    const g = gt.anns[s];
    gtId[s] = g.id;
    gtArea[s] = numberField(g, 'area', 'ground truth');
    if (!('iscrowd' in g)) throw new CocoFormatError(annName('ground truth', g), 'missing "iscrowd" (0 or 1)');
    const c = g.iscrowd as unknown;
    gtIgnoreBase[s] = c ? 1 : 0; // pycocotools: ignore = iscrowd (truthy)
    if (kps) {
      if (typeof g.num_keypoints !== 'number') throw new CocoFormatError(annName('ground truth', g), 'missing numeric "num_keypoints"');
      if (g.num_keypoints === 0) gtIgnoreBase[s] = 1; // keypoints: gts without keypoints are ignored too
    }
    gtCrowd[s] = Math.trunc(Number(c)) !== 0 ? 1 : 0; // and int(iscrowd) for the IoU
  }
  const dtId = new Float64Array(nD);
  const dtArea = new Float64Array(nD);
  const dtScore = new Float64Array(nD);
  const dtRank = new Int32Array(nD);
  for (let c = 0; c < K * I; c++) for (let s = dt.start[c]; s < dt.start[c + 1]; s++) dtRank[s] = s - dt.start[c];
  for (let s = 0; s < nD; s++) {
    const d = dt.anns[s];
    dtId[s] = d.id;
    dtArea[s] = numberField(d, 'area', 'detection');
    dtScore[s] = numberField(d, 'score', 'detection');
  }

  // Geometry: boxes for bbox; masks plus their tight boxes for segm (the boxes pre-filter pairs).
  const segm = p.iouType === 'segm';
  const gtBox = new Float64Array(nG * 4);
  const dtBox = new Float64Array(nD * 4);
  let gtRle: Rle[] = [];
  let dtRle: Rle[] = [];
  if (segm) {
    gtRle = gt.anns.map((a) => gtIndex.annToRle(a));
    dtRle = dt.anns.map((a) => dtIndex.annToRle(a));
    for (let s = 0; s < nG; s++) rleToBboxInto(gtRle[s], gtBox, s * 4);
    for (let s = 0; s < nD; s++) rleToBboxInto(dtRle[s], dtBox, s * 4);
  } else {
    fillBoxes(gt.anns, gtBox, 'ground truth');
    if (!kps) fillBoxes(dt.anns, dtBox, 'detection');
  }
  const nK = p.kptOksSigmas.length;
  const gtKps = kps ? fillKeypoints(gt.anns, nK, 'ground truth') : new Float64Array(0);
  const dtKps = kps ? fillKeypoints(dt.anns, nK, 'detection') : new Float64Array(0);

  const thr = new Float64Array(T);
  for (let t = 0; t < T; t++) thr[t] = Math.min(p.iouThrs[t], 1 - 1e-10);
  const gtOrder = new Int32Array(A * nG);
  const gtIgnore = new Uint8Array(A * nG);
  const dtMatch = new Int32Array(A * T * nD).fill(-1);
  const dtIgnore = new Uint8Array(A * T * nD);
  const gtMatch = new Int32Array(A * T * nG).fill(-1);

  let ious = new Float64Array(256);
  const every = Math.max(1, Math.floor((K * I) / 100));
  for (let c = 0; c < K * I; c++) {
    if (onProgress && c % every === 0) onProgress(c, K * I);
    const g0 = gt.start[c];
    const G = gt.start[c + 1] - g0;
    const d0 = dt.start[c];
    const D = dt.start[c + 1] - d0;
    if (G === 0 && D === 0) continue;
    // pycocotools' computeOks reads the (img, -1) cell when useCats=0, which is empty: no matches.
    const haveIous = G > 0 && D > 0 && !(kps && !useCats);
    if (haveIous) {
      if (ious.length < G * D) ious = new Float64Array(Math.max(G * D, ious.length * 2));
      if (kps) {
        oksInto(dtKps, d0, D, gtKps, gtBox, gtArea, g0, G, p.kptOksSigmas, ious);
      } else {
        bboxIouInto(dtBox, D, gtBox, G, gtCrowd, ious, d0, g0);
        if (segm) rleIouRefine(dtRle, d0, D, gtRle, g0, G, gtCrowd, ious);
      }
    }
    for (let a = 0; a < A; a++) {
      const lo = p.areaRng[a][0];
      const hi = p.areaRng[a][1];
      // Sorted gt order: stable, non-ignored first.
      const ob = a * nG + g0;
      let q = 0;
      for (let j = 0; j < G; j++) {
        const s = g0 + j;
        if (!(gtIgnoreBase[s] || gtArea[s] < lo || gtArea[s] > hi)) gtOrder[ob + q++] = s;
      }
      const nonIgnored = q;
      for (let j = 0; j < G; j++) {
        const s = g0 + j;
        if (gtIgnoreBase[s] || gtArea[s] < lo || gtArea[s] > hi) gtOrder[ob + q++] = s;
      }
      for (let j = 0; j < G; j++) gtIgnore[ob + j] = j >= nonIgnored ? 1 : 0;

      for (let t = 0; t < T; t++) {
        const dBase = (a * T + t) * nD + d0;
        const gBase = (a * T + t) * nG + g0;
        if (haveIous) {
          for (let d = 0; d < D; d++) {
            let best = thr[t];
            let m = -1;
            const row = d * G;
            for (let j = 0; j < G; j++) {
              const gs = gtOrder[ob + j];
              // A gt already matched (to a dt with id > 0, as pycocotools tests) is taken unless crowd.
              const taken = gtMatch[gBase + j];
              if (taken >= 0 && dtId[taken] > 0 && !gtCrowd[gs]) continue;
              // Once matched to a regular gt, stop at the first ignored one.
              if (m > -1 && gtIgnore[ob + m] === 0 && gtIgnore[ob + j] === 1) break;
              const v = ious[row + (gs - g0)];
              if (v < best) continue;
              best = v;
              m = j;
            }
            if (m === -1) continue;
            dtIgnore[dBase + d] = gtIgnore[ob + m];
            dtMatch[dBase + d] = gtOrder[ob + m];
            gtMatch[gBase + m] = d0 + d;
          }
        }
        // Unmatched detections outside the area range are ignored. "Unmatched" is pycocotools'
        // dtm == 0, i.e. also a match to a gt whose id is 0.
        for (let d = 0; d < D; d++) {
          const ms = dtMatch[dBase + d];
          if ((ms < 0 || gtId[ms] === 0) && (dtArea[d0 + d] < lo || dtArea[d0 + d] > hi)) dtIgnore[dBase + d] = 1;
        }
      }
    }
  }
  onProgress?.(K * I, K * I);

  return {
    params: p,
    catIds: [...catIds],
    imgIds: [...imgIds],
    K,
    A,
    I,
    T,
    gtStart: gt.start,
    dtStart: dt.start,
    gtAnns: gt.anns,
    dtAnns: dt.anns,
    gtId,
    dtId,
    dtScore,
    dtRank,
    gtOrder,
    gtIgnore,
    dtMatch,
    dtIgnore,
    gtMatch,
  };
}

function fillBoxes(anns: CocoAnnotation[], out: Float64Array, what: string): void {
  for (let s = 0; s < anns.length; s++) {
    const b = anns[s].bbox;
    if (!Array.isArray(b) || b.length !== 4) {
      throw new CocoFormatError(annName(what, anns[s]), `"bbox" must be [x, y, width, height] (4 numbers), got ${JSON.stringify(b)}`);
    }
    for (let j = 0; j < 4; j++) out[s * 4 + j] = b[j];
  }
}

function fillKeypoints(anns: CocoAnnotation[], k: number, what: string): Float64Array {
  const out = new Float64Array(anns.length * 3 * k);
  for (let s = 0; s < anns.length; s++) {
    const kp = anns[s].keypoints;
    if (!Array.isArray(kp) || kp.length !== 3 * k) {
      throw new CocoFormatError(annName(what, anns[s]), `"keypoints" must hold ${k} x, y, v triples (${3 * k} numbers)`);
    }
    for (let j = 0; j < 3 * k; j++) out[s * 3 * k + j] = kp[j];
  }
  return out;
}

function numberField(a: CocoAnnotation, key: 'area' | 'score', what: string): number {
  const v = a[key];
  if (typeof v !== 'number') throw new CocoFormatError(annName(what, a), `missing numeric "${key}"`);
  return v;
}
