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
 * interpolated from its 4 neighbours. The bilinear weights are separable (a y pair times an x
 * pair), so the taps are computed once per axis per RoI (`axisTaps`); the inner loops run over C,
 * contiguous in NHWC.
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

/**
 * One axis's taps for one RoI, per output bin: the pixel rows (or columns) its sample points
 * interpolate from, duplicates merged, each with its summed weight divided by the axis's grid
 * size (so a bin's value is sum over row taps x column taps of wy * wx * pixel). Merging matters:
 * at FPN-assigned sizes a bin spans 1-2 pixels and its 2 samples share rows, so a bin reads
 * 4-9 pixels instead of 16.
 */
interface AxisTaps {
  /** Bin p's taps are entries start[p] .. start[p + 1] - 1. */
  start: Int32Array;
  pixel: Int32Array;
  weight: Float64Array;
}

const f32 = Math.fround;

function axisTaps(roiStart: number, bin: number, pooled: number, grid: number, size: number): AxisTaps {
  const start = new Int32Array(pooled + 1);
  const pixel = new Int32Array(pooled * grid * 2);
  const weight = new Float64Array(pooled * grid * 2);
  let n = 0;
  const add = (from: number, px: number, w: number) => {
    for (let j = from; j < n; j++) {
      if (pixel[j] === px) {
        weight[j] += w;
        return;
      }
    }
    pixel[n] = px;
    weight[n++] = w;
  };
  for (let p = 0; p < pooled; p++) {
    start[p] = n;
    for (let i = 0; i < grid; i++) {
      let v = f32(f32(roiStart + f32(p * bin)) + f32(f32((i + 0.5) * bin) / grid));
      if (v < -1 || v > size) continue; // outside the map: contributes 0
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
      add(start[p], lo, (1 - l) / grid);
      if (l > 0) add(start[p], hi, l / grid);
    }
  }
  start[pooled] = n;
  return { start, pixel, weight };
}

/**
 * Writes bin (py, px)'s pixels (element offsets of their channel rows) and weights, row taps x
 * column taps, into idx / wt (sized by maxBinTaps) and returns their count.
 */
function binTaps(
  ys: AxisTaps,
  py: number,
  xs: AxisTaps,
  px: number,
  base: number,
  rowStride: number,
  c: number,
  idx: Int32Array,
  wt: Float64Array,
): number {
  let t = 0;
  for (let ty = ys.start[py]; ty < ys.start[py + 1]; ty++) {
    const row = base + ys.pixel[ty] * rowStride;
    const wy = ys.weight[ty];
    for (let tx = xs.start[px]; tx < xs.start[px + 1]; tx++) {
      idx[t] = row + xs.pixel[tx] * c;
      wt[t++] = wy * xs.weight[tx];
    }
  }
  return t;
}

/** The most taps any bin of this RoI has. */
function maxBinTaps(ys: AxisTaps, xs: AxisTaps): number {
  let my = 0;
  let mx = 0;
  for (let p = 0; p + 1 < ys.start.length; p++) my = Math.max(my, ys.start[p + 1] - ys.start[p]);
  for (let p = 0; p + 1 < xs.start.length; p++) mx = Math.max(mx, xs.start[p + 1] - xs.start[p]);
  return my * mx;
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
 * Calls `visit(o, t, idx, wt)` for every output bin of the RoIs listed in `which` (the first
 * `which` RoIs when a number): `o` is the bin's offset in a [K, oh, ow, C] array, and the first
 * `t` entries of `idx` / `wt` are its taps (offsets into the [N, H, W, C] map and weights, the
 * 1 / count average folded in). The buffers are reused between bins.
 */
function forEachBin(
  rois: ArrayLike<number>,
  which: Int32Array | number,
  shape: Nhwc,
  p: RoiAlignParams,
  visit: (o: number, t: number, idx: Int32Array, wt: Float64Array) => void,
): void {
  const [, h, w, c] = shape;
  const { pooledHeight: oh, pooledWidth: ow } = p;
  const count = typeof which === 'number' ? which : which.length;
  let idx = new Int32Array(64);
  let wt = new Float64Array(64);
  for (let j = 0; j < count; j++) {
    const k = typeof which === 'number' ? j : which[j];
    const { b, ys, xs } = roiGeometry(rois, k, shape, p);
    const base = b * h * w * c;
    const most = maxBinTaps(ys, xs);
    if (most > idx.length) {
      idx = new Int32Array(most);
      wt = new Float64Array(most);
    }
    for (let py = 0; py < oh; py++) {
      for (let px = 0; px < ow; px++) {
        const t = binTaps(ys, py, xs, px, base, w * c, c, idx, wt);
        visit(((k * oh + py) * ow + px) * c, t, idx, wt);
      }
    }
  }
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
  const c = shape[3];
  forEachBin(rois, which, shape, p, (o, t, idx, wt) => {
    // Four taps per pass over the channels: a quarter of the loads and stores of `out`.
    out.fill(0, o, o + c);
    let q = 0;
    for (; q + 4 <= t; q += 4) {
      const i0 = idx[q];
      const i1 = idx[q + 1];
      const i2 = idx[q + 2];
      const i3 = idx[q + 3];
      const w0 = wt[q];
      const w1 = wt[q + 1];
      const w2 = wt[q + 2];
      const w3 = wt[q + 3];
      for (let ch = 0; ch < c; ch++) {
        out[o + ch] += w0 * features[i0 + ch] + w1 * features[i1 + ch] + w2 * features[i2 + ch] + w3 * features[i3 + ch];
      }
    }
    for (; q < t; q++) {
      const i0 = idx[q];
      const w0 = wt[q];
      for (let ch = 0; ch < c; ch++) out[o + ch] += w0 * features[i0 + ch];
    }
  });
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
  const c = shape[3];
  dx.fill(0);
  forEachBin(rois, which, shape, p, (o, t, idx, wt) => {
    // Four taps per pass over the channels: each dy value is read once per four scatters.
    let q = 0;
    for (; q + 4 <= t; q += 4) {
      const i0 = idx[q];
      const i1 = idx[q + 1];
      const i2 = idx[q + 2];
      const i3 = idx[q + 3];
      const w0 = wt[q];
      const w1 = wt[q + 1];
      const w2 = wt[q + 2];
      const w3 = wt[q + 3];
      for (let ch = 0; ch < c; ch++) {
        const v = dy[o + ch];
        dx[i0 + ch] += w0 * v;
        dx[i1 + ch] += w1 * v;
        dx[i2 + ch] += w2 * v;
        dx[i3 + ch] += w3 * v;
      }
    }
    for (; q < t; q++) {
      const i0 = idx[q];
      const w0 = wt[q];
      for (let ch = 0; ch < c; ch++) dx[i0 + ch] += w0 * dy[o + ch];
    }
  });
}
