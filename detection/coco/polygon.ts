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
  // Upsample: every integer step along the longer axis of each edge.
  let m = 0;
  for (let j = 0; j < k; j++) m += Math.max(Math.abs(x[j] - x[j + 1]), Math.abs(y[j] - y[j + 1])) + 1;
  const u = new Int32Array(m);
  const v = new Int32Array(m);
  m = 0;
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
    if (dx >= dy) {
      const s = (ye - ys) / dx;
      for (let d = 0; d <= dx; d++) {
        const t = flip ? dx - d : d;
        u[m] = t + xs;
        v[m] = toInt(ys + s * t + 0.5);
        m++;
      }
    } else {
      const s = (xe - xs) / dy;
      for (let d = 0; d <= dy; d++) {
        const t = flip ? dy - d : d;
        v[m] = t + ys;
        u[m] = toInt(xs + s * t + 0.5);
        m++;
      }
    }
  }
  // Boundary points where the walk crosses a pixel-centre column, downsampled to pixel units.
  const total = m;
  const bx = new Int32Array(total);
  const by = new Int32Array(total);
  m = 0;
  for (let j = 1; j < total; j++) {
    if (u[j] === u[j - 1]) continue;
    let xd = u[j] < u[j - 1] ? u[j] : u[j] - 1;
    xd = (xd + 0.5) / SCALE - 0.5;
    if (Math.floor(xd) !== xd || xd < 0 || xd > w - 1) continue;
    let yd = v[j] < v[j - 1] ? v[j] : v[j - 1];
    yd = (yd + 0.5) / SCALE - 0.5;
    if (yd < 0) yd = 0;
    else if (yd > h) yd = h;
    yd = Math.ceil(yd);
    bx[m] = xd;
    by[m] = yd;
    m++;
  }
  // Crossing positions in column-major pixel order; consecutive differences are the runs.
  const a = new Float64Array(m + 1);
  for (let j = 0; j < m; j++) a[j] = (bx[j] * h + by[j]) >>> 0;
  a[m] = (h * w) >>> 0;
  a.sort();
  let prev = 0;
  for (let j = 0; j <= m; j++) {
    const t = a[j];
    a[j] -= prev;
    prev = t;
  }
  // Zero-length runs are folded: the run after a zero is added to the run before it.
  const n = m + 1;
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
