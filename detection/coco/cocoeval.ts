/**
 * COCOeval (pycocotools.cocoeval.COCOeval): evaluate() -> accumulate() -> summarize().
 * The work is split into evaluate.ts, accumulate.ts and summarize.ts; this class keeps the
 * pycocotools call sequence and parameter normalisation.
 */
import { Accumulated, accumulate } from './accumulate';
import type { COCO } from './coco';
import { EvalResult, evaluate } from './evaluate';
import { IouType, Params } from './params';
import { CategoryAp, perCategoryAp } from './per_category';
import { SummaryLine, summarizeAll } from './summarize';

/** One pycocotools evalImgs entry, materialised on request (see COCOeval.evalImg). */
export interface EvalImg {
  image_id: number;
  category_id: number;
  aRng: [number, number];
  maxDet: number;
  dtIds: number[];
  gtIds: number[];
  /** [T][D] matched gt id or 0. */
  dtMatches: number[][];
  /** [T][G] matched dt id or 0. */
  gtMatches: number[][];
  dtScores: number[];
  gtIgnore: number[];
  /** [T][D] 0/1. */
  dtIgnore: number[][];
}

export class COCOeval {
  params: Params;
  stats: number[] = [];
  /** The summary lines as pycocotools prints them (filled by summarize). */
  summaryLines: string[] = [];
  /** Called during evaluate() with the (category, image) cells done and their total. */
  onProgress?: (done: number, total: number) => void;
  private evalResult: EvalResult | null = null;
  private acc: Accumulated | null = null;

  constructor(readonly cocoGt: COCO, readonly cocoDt: COCO, iouType: IouType = 'segm') {
    this.params = new Params(iouType);
    this.params.imgIds = [...cocoGt.getImgIds()].sort((a, b) => a - b);
    this.params.catIds = [...cocoGt.getCatIds()].sort((a, b) => a - b);
  }

  /** Per image and category matching. Normalises params first, as pycocotools does. */
  evaluate(): void {
    const p = this.params;
    p.imgIds = uniqueSorted(p.imgIds);
    if (p.useCats) p.catIds = uniqueSorted(p.catIds);
    p.maxDets = [...p.maxDets].sort((a, b) => a - b);
    this.evalResult = evaluate(this.cocoGt, this.cocoDt, p.clone(), this.onProgress);
    this.acc = null;
  }

  accumulate(): void {
    if (!this.evalResult) throw new Error('Please run evaluate() first');
    this.acc = accumulate(this.evalResult);
  }

  /** Computes the standard stats and returns the printed lines (also kept in summaryLines). */
  summarize(print = false): number[] {
    if (!this.acc || !this.evalResult) throw new Error('Please run accumulate() first');
    const lines: SummaryLine[] = summarizeAll(this.acc, this.evalResult.params);
    this.stats = lines.map((l) => l.value);
    this.summaryLines = lines.map((l) => l.text);
    if (print) for (const l of this.summaryLines) console.log(l);
    return this.stats;
  }

  /** Detectron2's per-category AP (percent, NaN without ground truth), in params.catIds order. */
  perCategoryAp(): CategoryAp[] {
    if (!this.acc || !this.evalResult) throw new Error('Please run accumulate() first');
    return perCategoryAp(this.acc, this.evalResult.params);
  }

  /** pycocotools' eval dict: counts, precision [T,R,K,A,M], recall [T,K,A,M], scores. */
  get eval(): Accumulated | null {
    return this.acc;
  }

  /** Number of evalImgs entries (K * A * I), including empty (null) ones. */
  get evalImgsLength(): number {
    const e = this.requireEval();
    return e.K * e.A * e.I;
  }

  /**
   * evalImgs[n] as pycocotools would hold it (n = (k * A + a) * I + i), or null for an image and
   * category with neither ground truth nor detections.
   */
  evalImg(n: number): EvalImg | null {
    const e = this.requireEval();
    const { A, I, T } = e;
    const i = n % I;
    const a = Math.floor(n / I) % A;
    const k = Math.floor(n / (I * A));
    const c = k * I + i;
    const g0 = e.gtStart[c];
    const G = e.gtStart[c + 1] - g0;
    const d0 = e.dtStart[c];
    const D = e.dtStart[c + 1] - d0;
    if (G === 0 && D === 0) return null;
    const nG = e.gtId.length;
    const nD = e.dtId.length;
    const gtOrder = Array.from(e.gtOrder.subarray(a * nG + g0, a * nG + g0 + G));
    const dtMatches: number[][] = [];
    const gtMatches: number[][] = [];
    const dtIgnore: number[][] = [];
    for (let t = 0; t < T; t++) {
      const db = (a * T + t) * nD + d0;
      const gb = (a * T + t) * nG + g0;
      dtMatches.push(range(D).map((d) => (e.dtMatch[db + d] >= 0 ? e.gtId[e.dtMatch[db + d]] : 0)));
      dtIgnore.push(range(D).map((d) => e.dtIgnore[db + d]));
      gtMatches.push(range(G).map((j) => (e.gtMatch[gb + j] >= 0 ? e.dtId[e.gtMatch[gb + j]] : 0)));
    }
    const rng = e.params.areaRng[a];
    return {
      image_id: e.imgIds[i],
      category_id: e.catIds[k],
      aRng: [rng[0], rng[1]],
      maxDet: e.params.maxDets[e.params.maxDets.length - 1],
      dtIds: range(D).map((d) => e.dtId[d0 + d]),
      gtIds: gtOrder.map((s) => e.gtId[s]),
      dtMatches,
      gtMatches,
      dtScores: range(D).map((d) => e.dtScore[d0 + d]),
      gtIgnore: range(G).map((j) => e.gtIgnore[a * nG + g0 + j]),
      dtIgnore,
    };
  }

  private requireEval(): EvalResult {
    if (!this.evalResult) throw new Error('Please run evaluate() first');
    return this.evalResult;
  }
}

function uniqueSorted(xs: readonly number[]): number[] {
  return [...new Set(xs)].sort((a, b) => a - b);
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
