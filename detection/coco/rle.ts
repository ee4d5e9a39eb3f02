/**
 * Run-length encoded binary masks, the way maskApi.c stores them: pixels in column-major order
 * (down each column, then the next column), runs alternating 0s and 1s and always starting with a
 * run of 0s (which may have length 0). All arithmetic mirrors the C code's unsigned 32-bit counts.
 */
import { MaskError } from './errors';

export interface Rle {
  /** Image height (rows). */
  h: number;
  /** Image width (columns). */
  w: number;
  /** Run lengths: counts[0] zeros, counts[1] ones, counts[2] zeros, ... */
  counts: Uint32Array;
}

/**
 * Encodes a column-major mask of h*w bytes. Like maskApi.c a new run starts whenever the byte
 * value changes, so only 0/1 masks give meaningful results.
 */
export function rleEncode(maskColMajor: ArrayLike<number>, h: number, w: number): Rle {
  const a = h * w;
  if (maskColMajor.length < a) throw new MaskError(`mask has ${maskColMajor.length} values, expected h*w = ${a}`);
  const cnts = new Uint32Array(a + 1);
  let k = 0;
  let p = 0;
  let c = 0;
  for (let j = 0; j < a; j++) {
    const v = maskColMajor[j];
    if (v !== p) {
      cnts[k++] = c;
      c = 0;
      p = v;
    }
    c++;
  }
  cnts[k++] = c;
  return { h, w, counts: cnts.slice(0, k) };
}

/** Encodes a row-major (h rows of w) mask, the layout images usually have. */
export function rleEncodeRowMajor(maskRowMajor: ArrayLike<number>, h: number, w: number): Rle {
  return rleEncode(rowToColMajor(maskRowMajor, h, w), h, w);
}

/** Decodes to a column-major Uint8Array of h*w 0/1 values; fails if the runs overrun h*w. */
export function rleDecode(r: Rle): Uint8Array {
  const s = r.h * r.w;
  const out = new Uint8Array(s);
  let c = 0;
  let v = 0;
  for (let j = 0; j < r.counts.length; j++) {
    const n = r.counts[j];
    if (c + n > s) throw new MaskError(`invalid RLE: runs cover more than h*w = ${s} pixels`);
    if (v) out.fill(1, c, c + n);
    c += n;
    v = 1 - v;
  }
  return out;
}

/** Transposes a row-major h x w array into column-major order. */
export function rowToColMajor(src: ArrayLike<number>, h: number, w: number): Uint8Array {
  const out = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[x * h + y] = src[y * w + x];
  return out;
}

/** Transposes a column-major h x w array into row-major order. */
export function colToRowMajor(src: ArrayLike<number>, h: number, w: number): Uint8Array {
  const out = new Uint8Array(h * w);
  for (let x = 0; x < w; x++) for (let y = 0; y < h; y++) out[y * w + x] = src[x * h + y];
  return out;
}

/** Number of foreground pixels (sum of the odd runs), as the C code's uint. */
export function rleArea(r: Rle): number {
  const c = r.counts;
  let a = 0;
  for (let j = 1; j < c.length; j += 2) a += c[j];
  return a >>> 0;
}

/**
 * Tight box [x, y, w, h] of the foreground, written into out[o..o+3]. Follows the PyPI release
 * (which fixed upstream's handling of zero-length foreground runs): zero-length runs are skipped,
 * a run spanning several columns covers the full height, and only whole 0/1 run pairs are read.
 */
export function rleToBboxInto(r: Rle, out: Float64Array, o: number): void {
  const h = r.h;
  const m = r.counts.length - (r.counts.length % 2);
  if (m === 0 || h === 0) {
    out[o] = out[o + 1] = out[o + 2] = out[o + 3] = 0;
    return;
  }
  let xs = r.w;
  let ys = h;
  let xe = 0;
  let ye = 0;
  let cc = 0;
  const cnts = r.counts;
  for (let j = 0; j < m; j++) {
    const start = cc;
    cc = (cc + cnts[j]) >>> 0;
    if (j % 2 === 0 || cnts[j] === 0) continue;
    const yStart = start % h;
    const xStart = (start - yStart) / h;
    const yEnd = (cc - 1) % h;
    const xEnd = (cc - 1 - yEnd) / h;
    if (xStart < xs) xs = xStart;
    if (xEnd > xe) xe = xEnd;
    if (xStart < xEnd) {
      ys = 0;
      ye = h - 1;
    } else {
      if (yStart < ys) ys = yStart;
      if (yEnd > ye) ye = yEnd;
    }
  }
  // The C code computes these in uint: an all-background mask gives xe - xs + 1 wrapped.
  out[o] = xs;
  out[o + 2] = (xe - xs + 1) >>> 0;
  out[o + 1] = ys;
  out[o + 3] = (ye - ys + 1) >>> 0;
}

export function rleToBbox(r: Rle): [number, number, number, number] {
  const b = new Float64Array(4);
  rleToBboxInto(r, b, 0);
  return [b[0], b[1], b[2], b[3]];
}

/**
 * Union (or intersection) of masks of the same size. A size mismatch yields an empty 0x0 RLE,
 * exactly as maskApi.c's rleMerge does; an empty list yields a 0x0 RLE too.
 */
export function rleMerge(rles: readonly Rle[], intersect = false): Rle {
  const n = rles.length;
  if (n === 0) return { h: 0, w: 0, counts: new Uint32Array(0) };
  let h = rles[0].h;
  let w = rles[0].w;
  if (n === 1) return { h, w, counts: rles[0].counts.slice() };
  let acc: Uint32Array = rles[0].counts.slice();
  for (let i = 1; i < n; i++) {
    const B = rles[i];
    if (B.h !== h || B.w !== w) {
      h = w = 0;
      acc = new Uint32Array(0);
      break;
    }
    acc = mergeTwo(acc, B.counts, intersect);
  }
  return { h, w, counts: acc };
}

/** One rleMerge step: walks both run lists at once and emits a run whenever the result flips. */
function mergeTwo(A: Uint32Array, B: Uint32Array, intersect: boolean): Uint32Array {
  const out = new Uint32Array(A.length + B.length + 1);
  let ca = A.length > 0 ? A[0] : 0;
  let cb = B.length > 0 ? B[0] : 0;
  let v = 0;
  let va = 0;
  let vb = 0;
  let m = 0;
  let a = 1;
  let b = 1;
  let cc = 0;
  let ct = 1;
  while (ct > 0) {
    const c = ca < cb ? ca : cb;
    cc += c;
    ct = 0;
    ca -= c;
    if (!ca && a < A.length) {
      ca = A[a++];
      va = 1 - va;
    }
    ct += ca;
    cb -= c;
    if (!cb && b < B.length) {
      cb = B[b++];
      vb = 1 - vb;
    }
    ct += cb;
    const vp = v;
    v = intersect ? va & vb : va | vb;
    if (v !== vp || ct === 0) {
      out[m++] = cc;
      cc = 0;
    }
  }
  return out.slice(0, m);
}
