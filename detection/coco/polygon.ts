/**
 * Polygon and box rasterisation with maskApi.c's exact rule (rleFrPoly): vertices are scaled by 5
 * and rounded, the boundary is walked densely, and a pixel column x gets a boundary crossing at
 * row ceil(y) wherever the upsampled boundary crosses x's pixel centre; runs then follow from the
 * sorted crossing positions. Not the same as "pixel centre inside polygon", so a generic
 * rasteriser would not reproduce COCO areas and IoUs bit for bit.
 */
import { Rle } from './rle';

const SCALE = 5;

/** C's `(int)` cast of a double: truncation toward zero. NaN (0/0 on a zero-length edge) -> 0. */
function toInt(x: number): number {
  return Math.trunc(x) | 0;
}

/** Crossing positions, reused between calls (grown on demand) so rasterising allocates little. */
let crossings = new Uint32Array(1024);

/**
 * Rasterises one polygon given as flat [x0, y0, x1, y1, ...] (an odd trailing value is ignored,
 * as in pycocotools, which uses len/2 points) into an h x w RLE.
 */
export function rleFrPoly(xy: ArrayLike<number>, h: number, w: number): Rle {
  const k = Math.floor(xy.length / 2);
  const x = new Int32Array(k + 1);
  const y = new Int32Array(k + 1);
  for (let j = 0; j < k; j++) x[j] = toInt(SCALE * xy[j * 2] + 0.5);
  for (let j = 0; j < k; j++) y[j] = toInt(SCALE * xy[j * 2 + 1] + 0.5);
  if (k > 0) {
    x[k] = x[0];
    y[k] = y[0];
  }
  // Upper bound on the boundary points (the C code's m): every integer step along the longer
  // axis of each edge, plus one.
  let total = 0;
  for (let j = 0; j < k; j++) total += Math.max(Math.abs(x[j] - x[j + 1]), Math.abs(y[j] - y[j + 1])) + 1;
  if (crossings.length < total + 1) crossings = new Uint32Array(Math.max(total + 1, crossings.length * 2));
  const a = crossings;
  let m = 0;
  // Walk the upsampled boundary; wherever consecutive points change column, and the crossed
  // column is a pixel centre inside the image, record (column, ceil(row)) as a run boundary.
  // maskApi.c stores all points first and scans them afterwards; streaming gives the same list.
  // Its test "(uc + .5) / 5 - .5 is an integer" is uc mod 5 == 2, done here in integers.
  let havePrev = false;
  let pu = 0;
  let pv = 0;
  for (let j = 0; j < k; j++) {
    let xs = x[j];
    let xe = x[j + 1];
    let ys = y[j];
    let ye = y[j + 1];
    const dx = Math.abs(xe - xs);
    const dy = Math.abs(ys - ye);
    const flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
    if (flip) {
      let t = xs;
      xs = xe;
      xe = t;
      t = ys;
      ys = ye;
      ye = t;
    }
    const xMajor = dx >= dy;
    const steps = xMajor ? dx : dy;
    // On a zero-length edge 0/0 gives NaN -> row 0 here; maskApi.c's INT_MIN clamps to the same
    // row wherever such a point is used.
    const s = xMajor ? (ye - ys) / dx : (xe - xs) / dy;
    for (let d = 0; d <= steps; d++) {
      const t = flip ? steps - d : d;
      const u = xMajor ? t + xs : toInt(xs + s * t + 0.5);
      const v = xMajor ? toInt(ys + s * t + 0.5) : t + ys;
      if (havePrev && u !== pu) {
        const uc = u < pu ? u : u - 1;
        if ((((uc % SCALE) + SCALE) % SCALE) === 2) {
          const xd = (uc - 2) / SCALE;
          if (xd >= 0 && xd <= w - 1) {
            let yd = ((v < pv ? v : pv) + 0.5) / SCALE - 0.5;
            if (yd < 0) yd = 0;
            else if (yd > h) yd = h;
            a[m++] = (xd * h + Math.ceil(yd)) >>> 0;
          }
        }
      }
      pu = u;
      pv = v;
      havePrev = true;
    }
  }
  // Sorted crossing positions in column-major pixel order; their differences are the runs.
  a[m] = (h * w) >>> 0;
  const n = m + 1;
  a.subarray(0, n).sort();
  let prev = 0;
  for (let j = 0; j < n; j++) {
    const t = a[j];
    a[j] -= prev;
    prev = t;
  }
  // Zero-length runs are folded: the run after a zero is added to the run before it.
  const b = new Uint32Array(n);
  let j = 0;
  let q = 0;
  b[q++] = a[j++];
  while (j < n) {
    if (a[j] > 0) b[q++] = a[j++];
    else {
      j++;
      if (j < n) b[q - 1] += a[j++];
    }
  }
  return { h, w, counts: b.slice(0, q) };
}

/** Box [x, y, w, h] as the polygon (x,y) (x,y+h) (x+w,y+h) (x+w,y), like rleFrBbox. */
export function rleFrBbox(bb: ArrayLike<number>, h: number, w: number): Rle {
  const xs = bb[0];
  const xe = xs + bb[2];
  const ys = bb[1];
  const ye = ys + bb[3];
  return rleFrPoly([xs, ys, xs, ye, xe, ye, xe, ys], h, w);
}
