/**
 * IoU between detections and ground truths, maskApi.c's bbIou / rleIou. For a crowd ground truth
 * the union is the detection's own area (a detection inside a crowd region scores as covered).
 * Results are written into a caller-owned buffer so evaluation makes no per-pair allocations.
 * Layout: out[d * nG + g] (row-major D x G, the orientation pycocotools returns).
 */
import { Rle, rleArea, rleToBboxInto } from './rle';

/**
 * Box IoU. dt and gt are flat [x, y, w, h] arrays; iscrowd has one flag per gt (or null).
 * The operation order matches the C code so results agree to the last bit. dOff/gOff select a
 * slice (in boxes) of larger arrays; iscrowd is indexed like gt (gOff + g).
 */
export function bboxIouInto(
  dt: ArrayLike<number>,
  nD: number,
  gt: ArrayLike<number>,
  nG: number,
  iscrowd: ArrayLike<number> | null,
  out: Float64Array,
  dOff = 0,
  gOff = 0,
): void {
  for (let g = 0; g < nG; g++) {
    const gb = (gOff + g) * 4;
    const gx = gt[gb];
    const gy = gt[gb + 1];
    const gw = gt[gb + 2];
    const gh = gt[gb + 3];
    const ga = gw * gh;
    const crowd = iscrowd !== null && iscrowd[gOff + g] !== 0;
    for (let d = 0; d < nD; d++) {
      const db = (dOff + d) * 4;
      const dx = dt[db];
      const dy = dt[db + 1];
      const dw = dt[db + 2];
      const dh = dt[db + 3];
      const o = d * nG + g;
      out[o] = 0;
      const iw = Math.min(dw + dx, gw + gx) - Math.max(dx, gx);
      if (iw <= 0) continue;
      const ih = Math.min(dh + dy, gh + gy) - Math.max(dy, gy);
      if (ih <= 0) continue;
      const i = iw * ih;
      const da = dw * dh;
      const u = crowd ? da : da + ga - i;
      out[o] = i / u;
    }
  }
}

/**
 * Mask IoU. Pairs whose tight boxes do not overlap are 0 without walking the runs (as in C);
 * pairs of different image sizes are -1.
 */
export function rleIouInto(dt: readonly Rle[], gt: readonly Rle[], iscrowd: ArrayLike<number> | null, out: Float64Array): void {
  const db = new Float64Array(dt.length * 4);
  const gb = new Float64Array(gt.length * 4);
  for (let d = 0; d < dt.length; d++) rleToBboxInto(dt[d], db, d * 4);
  for (let g = 0; g < gt.length; g++) rleToBboxInto(gt[g], gb, g * 4);
  bboxIouInto(db, dt.length, gb, gt.length, iscrowd, out);
  rleIouRefine(dt, 0, dt.length, gt, 0, gt.length, iscrowd, out);
}

/**
 * Second stage of rleIou: `out` holds the IoU of the masks' tight boxes; every positive entry is
 * replaced by the exact mask IoU. Split out so evaluation can reuse boxes computed once per mask.
 */
export function rleIouRefine(
  dt: readonly Rle[],
  dOff: number,
  nD: number,
  gt: readonly Rle[],
  gOff: number,
  nG: number,
  iscrowd: ArrayLike<number> | null,
  out: Float64Array,
): void {
  for (let g = 0; g < nG; g++) {
    const G = gt[gOff + g];
    const crowd = iscrowd !== null && iscrowd[gOff + g] !== 0;
    for (let d = 0; d < nD; d++) {
      const o = d * nG + g;
      if (!(out[o] > 0)) continue;
      const D = dt[dOff + d];
      if (D.h !== G.h || D.w !== G.w) {
        out[o] = -1;
        continue;
      }
      const i = rleIntersection(D.counts, G.counts);
      let u: number;
      if (i.inter === 0) u = 1;
      else if (crowd) u = rleArea(D);
      else u = i.union;
      out[o] = i.inter / u;
    }
  }
}

const pair = { inter: 0, union: 0 };

/** Intersection and union pixel counts of two same-size RLEs by a merge walk over both runs. */
function rleIntersection(A: Uint32Array, B: Uint32Array): { inter: number; union: number } {
  let ca = A.length > 0 ? A[0] : 0;
  let cb = B.length > 0 ? B[0] : 0;
  const ka = A.length;
  const kb = B.length;
  let va = 0;
  let vb = 0;
  let a = 1;
  let b = 1;
  let inter = 0;
  let union = 0;
  let ct = 1;
  while (ct > 0) {
    const c = ca < cb ? ca : cb;
    if (va || vb) {
      union += c;
      if (va && vb) inter += c;
    }
    ct = 0;
    ca -= c;
    if (!ca && a < ka) {
      ca = A[a++];
      va = 1 - va;
    }
    ct += ca;
    cb -= c;
    if (!cb && b < kb) {
      cb = B[b++];
      vb = 1 - vb;
    }
    ct += cb;
  }
  pair.inter = inter;
  pair.union = union;
  return pair;
}
