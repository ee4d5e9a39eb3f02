/**
 * Mask R-CNN mask targets: each instance's mask cut out by its (proposal) box and resampled to
 * M x M, the way Detectron2 makes them (structures/masks.py).
 *
 * - Polygons: `rasterize_polygons_within_box`: shift by the box corner, scale by M / max(side,
 *   0.1) per axis (box sides in float32, coordinates in float64, as Detectron2's numpy does), then
 *   rasterise with COCO's polygon rule (detection/coco, bit-identical to pycocotools) and merge.
 * - RLE / bitmask: `BitMasks.crop_and_resize`: RoIAlign of the full-image 0/1 mask (spatial scale
 *   1, adaptive sampling, aligned), thresholded at 0.5. Computed on the host in float32 steps like
 *   torchvision's CPU kernel, so ties at exactly 0.5 resolve the same way.
 *
 * `style: 'torchvision'` gives torchvision's Mask R-CNN targets instead (project_masks_on_boxes):
 * every mask as a full-image bitmask (polygon parts rasterised and OR-ed), RoIAlign unaligned
 * with adaptive sampling, no threshold (soft targets in [0, 1]); for parity tests with it.
 */
import { decode as decodeRleObj } from '../coco/mask';
import { rleFrPoly } from '../coco/polygon';
import { rleDecode } from '../coco/rle';
import type { InstanceMask } from '../data/types';

const f32 = Math.fround;

export interface MaskTargetOptions {
  /** 'detectron2' (default): binary targets as above; 'torchvision': soft, unaligned. */
  style?: 'detectron2' | 'torchvision';
  /** (h, w) of the image the polygons live in; needed for polygons in 'torchvision' style. */
  imageSize?: readonly [number, number];
}

/** [n*M*M] row-major targets; masks[i] is cut by boxes[4i..4i+3] (xyxy, image pixels). */
export function maskTargets(masks: readonly InstanceMask[], boxes: Float32Array, maskSize: number, o: MaskTargetOptions = {}): Float32Array {
  const n = masks.length;
  if (boxes.length !== 4 * n) throw new RangeError(`maskTargets: ${n} masks but ${boxes.length / 4} boxes`);
  const tv = o.style === 'torchvision';
  const mm = maskSize * maskSize;
  const out = new Float32Array(n * mm);
  // Full-image bitmasks, decoded once per mask object (proposals repeat their gt's mask).
  const full = new Map<InstanceMask, { bits: Uint8Array; h: number; w: number }>();
  const bitmask = (m: InstanceMask) => {
    let b = full.get(m);
    if (!b) {
      b = fullBitmask(m, o.imageSize);
      full.set(m, b);
    }
    return b;
  };
  for (let i = 0; i < n; i++) {
    const box = boxes.subarray(4 * i, 4 * i + 4);
    const dst = out.subarray(i * mm, (i + 1) * mm);
    const m = masks[i];
    if (!tv && 'polygons' in m) rasterizePolygonsWithinBox(m.polygons, box, maskSize, dst);
    else {
      const b = bitmask(m);
      cropResizeBitmask(b.bits, b.h, b.w, box, maskSize, dst, tv ? { aligned: false, threshold: null } : {});
    }
  }
  return out;
}

/** A mask as a column-major full-image 0/1 array (polygon parts OR-ed). */
function fullBitmask(m: InstanceMask, imageSize?: readonly [number, number]): { bits: Uint8Array; h: number; w: number } {
  if ('rle' in m) return { bits: decodeRleObj(m.rle), h: m.rle.size[0], w: m.rle.size[1] };
  if (!imageSize) throw new RangeError('maskTargets: polygons need options.imageSize in torchvision style');
  const [h, w] = imageSize;
  const bits = new Uint8Array(h * w);
  for (const p of m.polygons) {
    const part = rleDecode(rleFrPoly(p, h, w));
    for (let k = 0; k < bits.length; k++) bits[k] |= part[k];
  }
  return { bits, h, w };
}

/**
 * Targets for sampled proposals: row r uses gt mask `gtIndex[r]` cut by proposal box r
 * (what the mask loss wants for its foreground RoIs).
 */
export function maskTargetsForProposals(
  gtMasks: readonly InstanceMask[],
  gtIndex: Int32Array,
  proposals: Float32Array,
  maskSize: number,
  o: MaskTargetOptions = {},
): Float32Array {
  const masks = Array.from(gtIndex, (g) => {
    const m = gtMasks[g];
    if (!m) throw new RangeError(`maskTargetsForProposals: gt index ${g} out of range [0, ${gtMasks.length})`);
    return m;
  });
  return maskTargets(masks, proposals, maskSize, o);
}

/** One instance's polygons inside `box` at M x M, row-major, into `out` (Detectron2's formula). */
export function rasterizePolygonsWithinBox(polygons: readonly number[][], box: ArrayLike<number>, maskSize: number, out: Float32Array): void {
  const x0 = box[0];
  const y0 = box[1];
  // Detectron2 takes the box as float32: its sides are float32 differences.
  const w = f32(box[2] - box[0]);
  const h = f32(box[3] - box[1]);
  const rw = maskSize / Math.max(w, 0.1);
  const rh = maskSize / Math.max(h, 0.1);
  const M = maskSize;
  const col = new Uint8Array(M * M);
  for (const p of polygons) {
    if (p.length < 6) continue;
    const q = new Float64Array(p.length);
    for (let j = 0; j + 1 < p.length; j += 2) {
      q[j] = (p[j] - x0) * rw;
      q[j + 1] = (p[j + 1] - y0) * rh;
    }
    const bits = rleDecode(rleFrPoly(q, M, M));
    for (let k = 0; k < col.length; k++) col[k] |= bits[k];
  }
  for (let x = 0; x < M; x++) for (let y = 0; y < M; y++) out[y * M + x] = col[x * M + y];
}

/**
 * RoIAlign (spatial scale 1, sampling ratio ceil(side / M), aligned by default) of a column-major
 * h x w 0/1 mask over `box`, thresholded at 0.5 by default (null: the averages themselves),
 * row-major M x M into `out`.
 */
export function cropResizeBitmask(
  maskColMajor: Uint8Array,
  h: number,
  w: number,
  box: ArrayLike<number>,
  maskSize: number,
  out: Float32Array,
  o: { aligned?: boolean; threshold?: number | null } = {},
): void {
  const M = maskSize;
  const aligned = o.aligned ?? true;
  const threshold = o.threshold === undefined ? 0.5 : o.threshold;
  const off = aligned ? 0.5 : 0;
  const sx = f32(f32(box[0]) - off);
  const sy = f32(f32(box[1]) - off);
  let rw = f32(f32(f32(box[2]) - off) - sx);
  let rh = f32(f32(f32(box[3]) - off) - sy);
  // Legacy (unaligned) RoIAlign forces RoIs to be at least 1 x 1.
  if (!aligned) {
    rw = Math.max(rw, 1);
    rh = Math.max(rh, 1);
  }
  const binW = f32(rw / M);
  const binH = f32(rh / M);
  // torchvision: ceil(roi_side / M) in float32, i.e. ceil of the bin size.
  const gw = Math.max(Math.ceil(binW), 0);
  const gh = Math.max(Math.ceil(binH), 0);
  const count = Math.max(gw * gh, 1);
  const at = (y: number, x: number) => maskColMajor[x * h + y];
  for (let ph = 0; ph < M; ph++) {
    for (let pw = 0; pw < M; pw++) {
      let acc = 0;
      for (let iy = 0; iy < gh; iy++) {
        const y = f32(f32(sy + f32(ph * binH)) + f32(f32((iy + 0.5) * binH) / gh));
        for (let ix = 0; ix < gw; ix++) {
          const x = f32(f32(sx + f32(pw * binW)) + f32(f32((ix + 0.5) * binW) / gw));
          if (y < -1 || y > h || x < -1 || x > w) continue;
          let yy = y <= 0 ? 0 : y;
          let xx = x <= 0 ? 0 : x;
          let yl = Math.trunc(yy);
          let xl = Math.trunc(xx);
          let yh: number;
          let xh: number;
          if (yl >= h - 1) {
            yh = yl = h - 1;
            yy = yl;
          } else yh = yl + 1;
          if (xl >= w - 1) {
            xh = xl = w - 1;
            xx = xl;
          } else xh = xl + 1;
          const ly = f32(yy - yl);
          const lx = f32(xx - xl);
          const hy = f32(1 - ly);
          const hx = f32(1 - lx);
          const v = f32(
            f32(f32(f32(f32(hy * hx) * at(yl, xl)) + f32(f32(hy * lx) * at(yl, xh))) + f32(f32(ly * hx) * at(yh, xl))) +
              f32(f32(ly * lx) * at(yh, xh)),
          );
          acc = f32(acc + v);
        }
      }
      const v = f32(acc / count);
      out[ph * M + pw] = threshold === null ? v : v >= threshold ? 1 : 0;
    }
  }
}
