/**
 * Resizing for detection: Detectron2's ResizeShortestEdge output shape, and a PIL-style bilinear
 * resample of a whole RGB image to any (h, w) (Detectron2 resizes with PIL's BILINEAR, which
 * widens its triangle filter by the downscale factor, i.e. antialiases). `data/transforms/resize.ts`
 * does the same resampling for square crops; this one keeps the aspect ratio.
 */
import { bilinearCoefficients } from '../../../data/transforms/resize';

/**
 * (newH, newW) for a shortest edge of `short` pixels, shrunk so the longer edge stays <= maxSize,
 * rounded half up (Detectron2's ResizeShortestEdge.get_output_shape). Also returns the factor.
 */
export function shortestEdgeSize(h: number, w: number, short: number, maxSize: number): { h: number; w: number; scale: number } {
  if (!(h > 0 && w > 0)) throw new RangeError(`image size must be positive, got ${h}x${w}`);
  let scale = short / Math.min(h, w);
  let nh = h < w ? short : scale * h;
  let nw = h < w ? scale * w : short;
  const longer = Math.max(nh, nw);
  if (maxSize > 0 && longer > maxSize) {
    const f = maxSize / longer;
    nh *= f;
    nw *= f;
    scale *= f;
  }
  return { h: Math.trunc(nh + 0.5), w: Math.trunc(nw + 0.5), scale };
}


/**
 * RGB uint8 HWC (srcH x srcW) -> float HWC in [0, 1] (dstH x dstW), bilinear with antialiasing,
 * optionally mirrored left-right in the same pass. Horizontal pass first, then vertical.
 */
export function resizeRgb(
  src: Uint8Array,
  srcH: number,
  srcW: number,
  dstH: number,
  dstW: number,
  flip = false,
  out: Float32Array = new Float32Array(dstH * dstW * 3),
): Float32Array {
  if (src.length < srcH * srcW * 3) throw new RangeError(`image buffer has ${src.length} bytes, expected ${srcH}x${srcW}x3`);
  if (dstH === srcH && dstW === srcW) return copyScaled(src, srcH, srcW, flip, out);
  const hc = bilinearCoefficients(srcW, dstW);
  const vc = bilinearCoefficients(srcH, dstH);
  const tmp = new Float32Array(srcH * dstW * 3);
  for (let y = 0; y < srcH; y++) {
    const row = y * srcW * 3;
    for (let o = 0; o < dstW; o++) {
      const n = hc.count[o];
      const wb = o * hc.taps;
      let p = row + hc.first[o] * 3;
      let r = 0, g = 0, b = 0;
      for (let k = 0; k < n; k++, p += 3) {
        const wt = hc.weights[wb + k];
        r += src[p] * wt;
        g += src[p + 1] * wt;
        b += src[p + 2] * wt;
      }
      const t = (y * dstW + (flip ? dstW - 1 - o : o)) * 3;
      tmp[t] = r / 255;
      tmp[t + 1] = g / 255;
      tmp[t + 2] = b / 255;
    }
  }
  const stride = dstW * 3;
  for (let o = 0; o < dstH; o++) {
    const n = vc.count[o];
    const wb = o * vc.taps;
    const base = o * stride;
    out.fill(0, base, base + stride);
    for (let k = 0; k < n; k++) {
      const wt = vc.weights[wb + k];
      const s = (vc.first[o] + k) * stride;
      for (let x = 0; x < stride; x++) out[base + x] += tmp[s + x] * wt;
    }
    for (let x = base; x < base + stride; x++) {
      const v = out[x];
      out[x] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
  }
  return out;
}

/** Same size: PIL's filter reduces to one tap of weight 1, i.e. a copy (mirrored if asked). */
function copyScaled(src: Uint8Array, h: number, w: number, flip: boolean, out: Float32Array): Float32Array {
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const s = (y * w + x) * 3;
      const d = (y * w + (flip ? w - 1 - x : x)) * 3;
      out[d] = src[s] / 255;
      out[d + 1] = src[s + 1] / 255;
      out[d + 2] = src[s + 2] / 255;
    }
  }
  return out;
}

/**
 * Nearest-neighbour resize of a column-major 0/1 mask (PIL NEAREST: source index
 * floor((o + 0.5) * in / out)), optionally mirrored left-right; column-major output.
 */
export function resizeMaskColMajor(src: Uint8Array, srcH: number, srcW: number, dstH: number, dstW: number, flip = false): Uint8Array {
  const out = new Uint8Array(dstH * dstW);
  const ys = new Int32Array(dstH);
  for (let y = 0; y < dstH; y++) ys[y] = Math.min(srcH - 1, Math.floor(((y + 0.5) * srcH) / dstH));
  for (let x = 0; x < dstW; x++) {
    const sx = Math.min(srcW - 1, Math.floor(((x + 0.5) * srcW) / dstW));
    const col = sx * srcH;
    const ox = (flip ? dstW - 1 - x : x) * dstH;
    for (let y = 0; y < dstH; y++) out[ox + y] = src[col + ys[y]];
  }
  return out;
}
