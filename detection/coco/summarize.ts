/**
 * COCOeval.summarize: the 12 standard detection numbers (10 for keypoints) and pycocotools'
 * printed lines. Means are computed as numpy computes them (pairwise summation inside blocks of
 * 8192 values, its iterator's buffer size, blocks added in order), so the stats agree bit for
 * bit with numpy 1.24, not only to rounding.
 */
import type { Accumulated } from './accumulate';
import type { Params } from './params';

export interface SummaryLine {
  value: number;
  text: string;
}

/** numpy's pairwise float64 summation (8-way unrolled blocks of up to 128 values). */
export function pairwiseSum(a: ArrayLike<number>, lo: number, n: number): number {
  if (n < 8) {
    // numpy starts from -0.0 so that an all -0.0 sum stays -0.0.
    let s = -0;
    for (let i = 0; i < n; i++) s += a[lo + i];
    return s;
  }
  if (n <= 128) {
    const r = [a[lo], a[lo + 1], a[lo + 2], a[lo + 3], a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]];
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j] += a[lo + i + j];
    let res = r[0] + r[1] + (r[2] + r[3]) + (r[4] + r[5] + (r[6] + r[7]));
    for (; i < n; i++) res += a[lo + i];
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(a, lo, n2) + pairwiseSum(a, lo + n2, n - n2);
}

/** numpy.sum of a contiguous float64 array: pairwise within 8192-value blocks, blocks in sequence. */
export function numpySum(a: ArrayLike<number>): number {
  const BLOCK = 8192;
  let s = 0;
  for (let lo = 0; lo < a.length; lo += BLOCK) s += pairwiseSum(a, lo, Math.min(BLOCK, a.length - lo));
  return s;
}

/** Python's '{:0.3f}': round half to even on the exact binary value (JS toFixed rounds ties up). */
export function fmt3(x: number): string {
  const x16 = x * 16;
  if (Number.isInteger(x16) && Math.abs(x16) % 2 === 1) {
    // x = odd/16 is the only way a double sits exactly halfway between two 3-decimal numbers.
    const lo = Math.floor(x * 1000);
    const even = lo % 2 === 0 ? lo : lo + 1;
    return (even / 1000).toFixed(3);
  }
  return x.toFixed(3);
}

/** Python '{:0.2f}' for the IoU labels (values like 0.5, 0.95, never exact ties). */
const fmt2 = (x: number) => x.toFixed(2);

interface Query {
  ap: boolean;
  iouThr?: number;
  areaRng?: string;
  maxDets?: number;
}

/** One pycocotools _summarize call: mean of the selected entries that are > -1, else -1. */
export function summarizeOne(acc: Accumulated, p: Params, q: Query): SummaryLine {
  const { ap, iouThr } = q;
  const areaLbl = q.areaRng ?? 'all';
  const maxDets = q.maxDets ?? 100;
  const [T, R, K, A, M] = acc.counts;
  const aind = p.areaRngLbl.flatMap((l, i) => (l === areaLbl ? [i] : []));
  const mind = p.maxDets.flatMap((m, i) => (m === maxDets ? [i] : []));
  // numpy fancy indexing s[..., aind, mind] pairs the two index lists (broadcast if one is length 1).
  const pairs: [number, number][] = [];
  if (aind.length > 0 && mind.length > 0) {
    const L = Math.max(aind.length, mind.length);
    if (aind.length !== L && aind.length !== 1) throw new Error('summarize: area and maxDets index lists do not broadcast');
    if (mind.length !== L && mind.length !== 1) throw new Error('summarize: area and maxDets index lists do not broadcast');
    for (let j = 0; j < L; j++) pairs.push([aind[aind.length === 1 ? 0 : j], mind[mind.length === 1 ? 0 : j]]);
  }
  const tList = iouThr === undefined ? range(T) : p.iouThrs.flatMap((t, i) => (t === iouThr ? [i] : []));
  const vals: number[] = [];
  if (ap) {
    for (const t of tList) for (let r = 0; r < R; r++) for (let k = 0; k < K; k++) for (const [a, m] of pairs) {
      const v = acc.precision[(((t * R + r) * K + k) * A + a) * M + m];
      if (v > -1) vals.push(v);
    }
  } else {
    for (const t of tList) for (let k = 0; k < K; k++) for (const [a, m] of pairs) {
      const v = acc.recall[((t * K + k) * A + a) * M + m];
      if (v > -1) vals.push(v);
    }
  }
  const value = vals.length === 0 ? -1 : numpySum(vals) / vals.length;
  const title = ap ? 'Average Precision' : 'Average Recall';
  const type = ap ? '(AP)' : '(AR)';
  const iouStr = iouThr === undefined ? `${fmt2(p.iouThrs[0])}:${fmt2(p.iouThrs[p.iouThrs.length - 1])}` : fmt2(iouThr);
  const text =
    ` ${title.padEnd(18)} ${type} @[ IoU=${iouStr.padEnd(9)} | area=${areaLbl.padStart(6)} | maxDets=${String(maxDets).padStart(3)} ] = ` +
    fmt3(value);
  return { value, text };
}

/** The standard 12 (bbox/segm) or 10 (keypoints) lines, in pycocotools' order. */
export function summarizeAll(acc: Accumulated, p: Params): SummaryLine[] {
  const md = p.maxDets;
  const q = (ap: boolean, o: Omit<Query, 'ap'> = {}) => summarizeOne(acc, p, { ap, ...o });
  if (p.iouType === 'keypoints') {
    return [
      q(true, { maxDets: 20 }),
      q(true, { maxDets: 20, iouThr: 0.5 }),
      q(true, { maxDets: 20, iouThr: 0.75 }),
      q(true, { maxDets: 20, areaRng: 'medium' }),
      q(true, { maxDets: 20, areaRng: 'large' }),
      q(false, { maxDets: 20 }),
      q(false, { maxDets: 20, iouThr: 0.5 }),
      q(false, { maxDets: 20, iouThr: 0.75 }),
      q(false, { maxDets: 20, areaRng: 'medium' }),
      q(false, { maxDets: 20, areaRng: 'large' }),
    ];
  }
  if (md.length < 3) throw new Error(`summarize needs at least 3 maxDets values (got [${md.join(', ')}])`);
  return [
    q(true),
    q(true, { iouThr: 0.5, maxDets: md[2] }),
    q(true, { iouThr: 0.75, maxDets: md[2] }),
    q(true, { areaRng: 'small', maxDets: md[2] }),
    q(true, { areaRng: 'medium', maxDets: md[2] }),
    q(true, { areaRng: 'large', maxDets: md[2] }),
    q(false, { maxDets: md[0] }),
    q(false, { maxDets: md[1] }),
    q(false, { maxDets: md[2] }),
    q(false, { areaRng: 'small', maxDets: md[2] }),
    q(false, { areaRng: 'medium', maxDets: md[2] }),
    q(false, { areaRng: 'large', maxDets: md[2] }),
  ];
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
