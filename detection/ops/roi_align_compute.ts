/**
 * RoIAlign forward and backward on flat NHWC arrays (no tensors): the loops the registered
 * kernels run, on the wasm heap or the cpu backend's buffers. torchvision's roi_align semantics:
 *
 *   off = aligned ? 0.5 : 0; (x1, y1, x2, y2) = roi * spatialScale - off
 *   rw = x2 - x1, rh = y2 - y1 (unaligned: at least 1); bin = (rh / oh, rw / ow)
 *   grid = samplingRatio > 0 ? samplingRatio : ceil(rh / oh) (resp. rw / ow); count = max(gh * gw, 1)
 *   out[k, py, px, c] = 1 / count * sum over the grid's sample points of bilinear(features[b, :, :, c])
 *
 * A sample point outside [-1, H] x [-1, W] contributes 0; inside, it is clamped to the map and
 * interpolated from its 4 neighbours. Each sample is separable (a y tap pair and an x tap pair),
 * so the taps are computed once per axis per RoI; the inner loops run over C, contiguous in NHWC.
 * RoI geometry is rounded to float32 as torchvision computes it, so adaptive grid sizes agree.
 */
export interface RoiAlignParams {
  pooledHeight: number;
  pooledWidth: number;
  spatialScale: number;
  samplingRatio: number;
  aligned: boolean;
}

/** [batch, height, width, channels] of the feature map. */
export type Nhwc = [number, number, number, number];

/** One axis's sample taps for one RoI: per sample, low/high pixel index and weights (0 weights when outside). */
interface AxisTaps {
  lo: Int32Array;
  hi: Int32Array;
  wLo: Float64Array;
  wHi: Float64Array;
  valid: Uint8Array;
  grid: number;
}

const f32 = Math.fround;

function axisTaps(start: number, bin: number, pooled: number, grid: number, size: number): AxisTaps {
  const n = pooled * grid;
  const t: AxisTaps = {
    lo: new Int32Array(n),
    hi: new Int32Array(n),
    wLo: new Float64Array(n),
    wHi: new Float64Array(n),
    valid: new Uint8Array(n),
    grid,
  };
  for (let p = 0, s = 0; p < pooled; p++) {
    for (let i = 0; i < grid; i++, s++) {
      let v = f32(f32(start + f32(p * bin)) + f32(f32((i + 0.5) * bin) / grid));
      if (v < -1 || v > size) continue;
      if (v <= 0) v = 0;
      let lo = Math.floor(v);
      let hi: number;
      if (lo >= size - 1) {
        hi = lo = size - 1;
        v = lo;
      } else {
        hi = lo + 1;
      }
      const l = v - lo;
      t.lo[s] = lo;
      t.hi[s] = hi;
      t.wLo[s] = 1 - l;
      t.wHi[s] = l;
      t.valid[s] = 1;
    }
  }
  return t;
}

/** Geometry of RoI k: its image index and both axes' taps. */
function roiGeometry(rois: ArrayLike<number>, k: number, shape: Nhwc, p: RoiAlignParams): { b: number; ys: AxisTaps; xs: AxisTaps } {
  const [n, h, w] = shape;
  const b = rois[5 * k];
  if (!(Number.isInteger(b) && b >= 0 && b < n)) {
    throw new Error(`roiAlign: roi ${k} has batch index ${b}, but the features hold ${n} image(s)`);
  }
  const off = p.aligned ? 0.5 : 0;
  const scale = f32(p.spatialScale);
  const x1 = f32(f32(rois[5 * k + 1] * scale) - off);
  const y1 = f32(f32(rois[5 * k + 2] * scale) - off);
  const x2 = f32(f32(rois[5 * k + 3] * scale) - off);
  const y2 = f32(f32(rois[5 * k + 4] * scale) - off);
  let rw = f32(x2 - x1);
  let rh = f32(y2 - y1);
  if (!p.aligned) {
    rw = Math.max(rw, 1);
    rh = Math.max(rh, 1);
  }
  const binH = f32(rh / p.pooledHeight);
  const binW = f32(rw / p.pooledWidth);
  const gh = p.samplingRatio > 0 ? p.samplingRatio : Math.ceil(f32(rh / p.pooledHeight));
  const gw = p.samplingRatio > 0 ? p.samplingRatio : Math.ceil(f32(rw / p.pooledWidth));
  return {
    b,
    ys: axisTaps(y1, binH, p.pooledHeight, Math.max(gh, 0), h),
    xs: axisTaps(x1, binW, p.pooledWidth, Math.max(gw, 0), w),
  };
}

/**
 * features [N, H, W, C], rois [K, 5] -> out [K, oh, ow, C]: writes the rows of the RoIs listed in
 * `which` (the first `which` RoIs when a number; the multi-level pooler passes each level's RoIs
 * with that level's map).
 */
export function roiAlignForward(
  features: Float32Array,
  shape: Nhwc,
  rois: ArrayLike<number>,
  which: Int32Array | number,
  p: RoiAlignParams,
  out: Float32Array,
): void {
  const [, h, w, c] = shape;
  const { pooledHeight: oh, pooledWidth: ow } = p;
  const acc = new Float64Array(c);
  const count = typeof which === 'number' ? which : which.length;
  for (let j = 0; j < count; j++) {
    const k = typeof which === 'number' ? j : which[j];
    const { b, ys, xs } = roiGeometry(rois, k, shape, p);
    const gh = ys.grid;
    const gw = xs.grid;
    const inv = 1 / Math.max(gh * gw, 1);
    const base = b * h * w * c;
    for (let py = 0; py < oh; py++) {
      for (let px = 0; px < ow; px++) {
        acc.fill(0);
        for (let iy = py * gh; iy < (py + 1) * gh; iy++) {
          if (!ys.valid[iy]) continue;
          const rLo = base + ys.lo[iy] * w * c;
          const rHi = base + ys.hi[iy] * w * c;
          const hy = ys.wLo[iy];
          const ly = ys.wHi[iy];
          for (let ix = px * gw; ix < (px + 1) * gw; ix++) {
            if (!xs.valid[ix]) continue;
            const cLo = xs.lo[ix] * c;
            const cHi = xs.hi[ix] * c;
            const hx = xs.wLo[ix];
            const lx = xs.wHi[ix];
            const w1 = hy * hx;
            const w2 = hy * lx;
            const w3 = ly * hx;
            const w4 = ly * lx;
            const i1 = rLo + cLo;
            const i2 = rLo + cHi;
            const i3 = rHi + cLo;
            const i4 = rHi + cHi;
            for (let ch = 0; ch < c; ch++) {
              acc[ch] += w1 * features[i1 + ch] + w2 * features[i2 + ch] + w3 * features[i3 + ch] + w4 * features[i4 + ch];
            }
          }
        }
        const o = ((k * oh + py) * ow + px) * c;
        for (let ch = 0; ch < c; ch++) out[o + ch] = acc[ch] * inv;
      }
    }
  }
}

/**
 * The backward w.r.t. the features: each sample point scatters dy / count into its 4 taps.
 * dy [K, oh, ow, C] -> dx [N, H, W, C] (zeroed here, then accumulated over the RoIs in `which`:
 * the first `which` RoIs when a number).
 */
export function roiAlignBackward(
  dy: Float32Array,
  rois: ArrayLike<number>,
  which: Int32Array | number,
  shape: Nhwc,
  p: RoiAlignParams,
  dx: Float32Array,
): void {
  const [, h, w, c] = shape;
  const { pooledHeight: oh, pooledWidth: ow } = p;
  dx.fill(0);
  const g = new Float64Array(c);
  const count = typeof which === 'number' ? which : which.length;
  for (let j = 0; j < count; j++) {
    const k = typeof which === 'number' ? j : which[j];
    const { b, ys, xs } = roiGeometry(rois, k, shape, p);
    const gh = ys.grid;
    const gw = xs.grid;
    const inv = 1 / Math.max(gh * gw, 1);
    const base = b * h * w * c;
    for (let py = 0; py < oh; py++) {
      for (let px = 0; px < ow; px++) {
        const o = ((k * oh + py) * ow + px) * c;
        for (let ch = 0; ch < c; ch++) g[ch] = dy[o + ch] * inv;
        for (let iy = py * gh; iy < (py + 1) * gh; iy++) {
          if (!ys.valid[iy]) continue;
          const rLo = base + ys.lo[iy] * w * c;
          const rHi = base + ys.hi[iy] * w * c;
          const hy = ys.wLo[iy];
          const ly = ys.wHi[iy];
          for (let ix = px * gw; ix < (px + 1) * gw; ix++) {
            if (!xs.valid[ix]) continue;
            const cLo = xs.lo[ix] * c;
            const cHi = xs.hi[ix] * c;
            const hx = xs.wLo[ix];
            const lx = xs.wHi[ix];
            const w1 = hy * hx;
            const w2 = hy * lx;
            const w3 = ly * hx;
            const w4 = ly * lx;
            const i1 = rLo + cLo;
            const i2 = rLo + cHi;
            const i3 = rHi + cLo;
            const i4 = rHi + cHi;
            for (let ch = 0; ch < c; ch++) {
              const v = g[ch];
              dx[i1 + ch] += w1 * v;
              dx[i2 + ch] += w2 * v;
              dx[i3 + ch] += w3 * v;
              dx[i4 + ch] += w4 * v;
            }
          }
        }
      }
    }
  }
}
