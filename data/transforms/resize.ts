import type { CropBox } from './random_resized_crop';

export type Interpolation = 'bilinear' | 'bicubic';

interface Filter {
  support: number;
  fn(x: number): number;
}

const BILINEAR: Filter = {
  support: 1,
  fn: (x) => {
    const a = Math.abs(x);
    return a < 1 ? 1 - a : 0;
  },
};

// PIL's bicubic kernel (a = -0.5), the one torchvision uses on PIL images.
const BICUBIC: Filter = {
  support: 2,
  fn: (x) => {
    const a = -0.5;
    const t = Math.abs(x);
    if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
    if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
    return 0;
  },
};

/** Per output sample: first input tap, tap count, and weights (row-major, `taps` wide). */
export interface Coeffs {
  first: Int32Array;
  count: Int32Array;
  weights: Float32Array;
  taps: number;
}

/**
 * Resampling weights along one axis, as PIL computes them (`precompute_coeffs`): the filter is
 * stretched by the downscale factor when antialiasing, taps are clipped to the crop and the
 * weights renormalised, so edges never read outside the crop.
 */
function coefficients(inSize: number, outSize: number, filter: Filter, antialias: boolean, gain: number): Coeffs {
  const scale = inSize / outSize;
  const filterScale = antialias ? Math.max(scale, 1) : 1;
  const support = filter.support * filterScale;
  const taps = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float32Array(outSize * taps);
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const hi = Math.min(Math.trunc(center + support + 0.5), inSize);
    let total = 0;
    const n = Math.min(hi - lo, taps);
    for (let k = 0; k < n; k++) {
      const w = filter.fn((k + lo - center + 0.5) / filterScale);
      weights[o * taps + k] = w;
      total += w;
    }
    if (total !== 0) for (let k = 0; k < n; k++) weights[o * taps + k] *= gain / total;
    first[o] = lo;
    count[o] = n;
  }
  return { first, count, weights, taps };
}

/** PIL's antialiased bilinear (triangle) weights along one axis, normalised to sum 1. */
export function bilinearCoefficients(inSize: number, outSize: number): Coeffs {
  return coefficients(inSize, outSize, BILINEAR, true, 1);
}

/**
 * Crop `box` out of an RGB uint8 HWC image and resize it to outSize x outSize, into `out`
 * (float HWC in [0, 1], clamped like PIL's uint8 output but not quantised). Separable: a horizontal
 * pass over the crop's rows, then a vertical pass.
 */
export function resizedCrop(
  src: Uint8Array,
  srcWidth: number,
  box: CropBox,
  outSize: number,
  interpolation: Interpolation,
  antialias = true,
  out: Float32Array = new Float32Array(outSize * outSize * 3),
): Float32Array {
  const filter = interpolation === 'bicubic' ? BICUBIC : BILINEAR;
  const horiz = coefficients(box.width, outSize, filter, antialias, 1 / 255);
  const vert = coefficients(box.height, outSize, filter, antialias, 1);
  const tmp = new Float32Array(box.height * outSize * 3);
  for (let y = 0; y < box.height; y++) {
    const rowBase = ((box.top + y) * srcWidth + box.left) * 3;
    const tmpBase = y * outSize * 3;
    for (let o = 0; o < outSize; o++) {
      const n = horiz.count[o];
      const wBase = o * horiz.taps;
      let p = rowBase + horiz.first[o] * 3;
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = 0; k < n; k++, p += 3) {
        const w = horiz.weights[wBase + k];
        r += src[p] * w;
        g += src[p + 1] * w;
        b += src[p + 2] * w;
      }
      // PIL clamps between the passes too (its intermediate image is uint8); it matters for
      // bicubic overshoot on high-contrast edges.
      const t = tmpBase + o * 3;
      tmp[t] = r < 0 ? 0 : r > 1 ? 1 : r;
      tmp[t + 1] = g < 0 ? 0 : g > 1 ? 1 : g;
      tmp[t + 2] = b < 0 ? 0 : b > 1 ? 1 : b;
    }
  }
  // Vertical pass: accumulate whole rows per tap, so memory is read in order.
  const rowStride = outSize * 3;
  for (let o = 0; o < outSize; o++) {
    const n = vert.count[o];
    const wBase = o * vert.taps;
    const outBase = o * rowStride;
    out.fill(0, outBase, outBase + rowStride);
    for (let k = 0; k < n; k++) {
      const w = vert.weights[wBase + k];
      const src = (vert.first[o] + k) * rowStride;
      for (let x = 0; x < rowStride; x++) out[outBase + x] += tmp[src + x] * w;
    }
    for (let x = outBase; x < outBase + rowStride; x++) {
      const v = out[x];
      out[x] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
  }
  return out;
}
