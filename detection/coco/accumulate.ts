/**
 * COCOeval.accumulate: precision/recall per [T, R, K, A, M] from the per-image matches.
 * For each category the detections of all images are sorted once (stable by score, ties in image
 * order then in-image order, exactly numpy's mergesort over pycocotools' concatenation); each
 * maxDet setting uses the subsequence with in-image rank < maxDet, which a stable sort orders the
 * same way. Precision is tp / (tp + fp + eps), made non-increasing from the right, and sampled at
 * the first index whose recall reaches each recall threshold (0 past the end); -1 marks
 * settings without any non-ignored ground truth.
 */
import type { EvalResult } from './evaluate';

/** numpy.spacing(1): the gap between 1 and the next double. */
export const EPS = 2.220446049250313e-16;

export interface Accumulated {
  /** [T, R, K, A, M] as in pycocotools' eval['counts']. */
  counts: [number, number, number, number, number];
  /** Row-major [T][R][K][A][M]. */
  precision: Float64Array;
  /** Row-major [T][K][A][M]. */
  recall: Float64Array;
  /** Row-major [T][R][K][A][M]: score at each sampled precision. */
  scores: Float64Array;
}

export function accumulate(e: EvalResult): Accumulated {
  const p = e.params;
  const { K, A, I, T } = e;
  const R = p.recThrs.length;
  const maxDets = p.maxDets;
  const M = maxDets.length;
  const precision = new Float64Array(T * R * K * A * M).fill(-1);
  const recall = new Float64Array(T * K * A * M).fill(-1);
  const scores = new Float64Array(T * R * K * A * M).fill(-1);
  const nD = e.dtScore.length;
  const nG = e.gtId.length;
  const recThrs = Float64Array.from(p.recThrs);
  let recAscending = true;
  for (let r = 1; r < R; r++) if (!(recThrs[r] >= recThrs[r - 1])) recAscending = false;

  // Hot arrays as locals: property lookups inside the inner loops cost more than the work.
  const { dtRank, dtIgnore, dtMatch, gtId, gtIgnore } = e;
  const score = e.dtScore;
  const KAM = K * A * M;
  const npigA = new Int32Array(A);
  let order = new Int32Array(64);
  let sel = new Int32Array(64);
  let rc = new Float64Array(64);
  let pr = new Float64Array(64);
  let ss = new Float64Array(64);
  for (let k = 0; k < K; k++) {
    const d0 = e.dtStart[k * I];
    const d1 = e.dtStart[k * I + I];
    const g0 = e.gtStart[k * I];
    const g1 = e.gtStart[k * I + I];
    const n = d1 - d0;
    if (order.length < n) {
      const cap = Math.max(n, order.length * 2);
      order = new Int32Array(cap);
      sel = new Int32Array(cap);
      rc = new Float64Array(cap);
      pr = new Float64Array(cap);
      ss = new Float64Array(cap);
    }
    const ord = order.subarray(0, n);
    for (let j = 0; j < n; j++) ord[j] = d0 + j;
    ord.sort((x, y) => score[y] - score[x] || x - y);
    let anyGt = false;
    for (let a = 0; a < A; a++) {
      let npig = 0;
      for (let s = g0; s < g1; s++) if (gtIgnore[a * nG + s] === 0) npig++;
      npigA[a] = npig;
      if (npig > 0) anyGt = true;
    }
    if (!anyGt) continue;

    for (let m = 0; m < M; m++) {
      // The detections kept at this maxDet, in the global score order.
      const maxDet = maxDets[m];
      let nd = 0;
      for (let j = 0; j < n; j++) {
        const s = ord[j];
        if (dtRank[s] < maxDet) {
          sel[nd] = s;
          ss[nd] = score[s];
          nd++;
        }
      }
      for (let a = 0; a < A; a++) {
        const npig = npigA[a];
        if (npig === 0) continue;
        const ki = (k * A + a) * M + m;
        for (let t = 0; t < T; t++) {
          const base = (a * T + t) * nD;
          let tp = 0;
          let fp = 0;
          for (let j = 0; j < nd; j++) {
            const s = sel[j];
            if (!dtIgnore[base + s]) {
              const ms = dtMatch[base + s];
              if (ms >= 0 && gtId[ms] !== 0) tp++;
              else fp++;
            }
            rc[j] = tp / npig;
            pr[j] = tp / (fp + tp + EPS);
          }
          recall[t * KAM + ki] = nd ? rc[nd - 1] : 0;
          for (let i = nd - 1; i > 0; i--) if (pr[i] > pr[i - 1]) pr[i - 1] = pr[i];
          let pi = 0;
          for (let r = 0; r < R; r++) {
            // Ascending thresholds (the usual case) continue the scan where the last one stopped.
            if (recAscending) {
              while (pi < nd && rc[pi] < recThrs[r]) pi++;
            } else pi = searchLeft(rc, nd, recThrs[r]);
            if (pi >= nd) {
              // pycocotools stops filling at the first threshold past the end (rest stay 0).
              for (let r2 = r; r2 < R; r2++) {
                precision[(t * R + r2) * KAM + ki] = 0;
                scores[(t * R + r2) * KAM + ki] = 0;
              }
              break;
            }
            precision[(t * R + r) * KAM + ki] = pr[pi];
            scores[(t * R + r) * KAM + ki] = ss[pi];
          }
        }
      }
    }
  }
  return { counts: [T, R, K, A, M], precision, recall, scores };
}

/** numpy.searchsorted(a[0:n], v, side='left'): first index with a[i] >= v. */
function searchLeft(a: Float64Array, n: number, v: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
