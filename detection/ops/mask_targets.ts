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
 */
import { decode as decodeRleObj } from '../coco/mask';
import { rleFrPoly } from '../coco/polygon';
import { rleDecode } from '../coco/rle';
import type { InstanceMask } from '../data/types';

const f32 = Math.fround;

/** [n*M*M] row-major 0/1 targets; masks[i] is cut by boxes[4i..4i+3] (xyxy, image pixels). */
export function maskTargets(masks: readonly InstanceMask[], boxes: Float32Array, maskSize: number): Float32Array {
  const n = masks.length;
  if (boxes.length !== 4 * n) throw new RangeError(`maskTargets: ${n} masks but ${boxes.length / 4} boxes`);
  const mm = maskSize * maskSize;
  const out = new Float32Array(n * mm);
  for (let i = 0; i < n; i++) {
    const box = boxes.subarray(4 * i, 4 * i + 4);
    const dst = out.subarray(i * mm, (i + 1) * mm);
    const m = masks[i];
    if ('polygons' in m) rasterizePolygonsWithinBox(m.polygons, box, maskSize, dst);
    else {
      const [h, w] = m.rle.size;
      cropResizeBitmask(decodeRleObj(m.rle), h, w, box, maskSize, dst);
    }
  }
  return out;
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
): Float32Array {
  const masks = Array.from(gtIndex, (g) => {
    const m = gtMasks[g];
    if (!m) throw new RangeError(`maskTargetsForProposals: gt index ${g} out of range [0, ${gtMasks.length})`);
    return m;
  });
  return maskTargets(masks, proposals, maskSize);
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
 * RoIAlign (aligned, spatial scale 1, sampling ratio ceil(side / M)) of a column-major h x w 0/1
 * mask over `box`, thresholded at 0.5, row-major M x M into `out`.
 */
export function cropResizeBitmask(maskColMajor: Uint8Array, h: number, w: number, box: ArrayLike<number>, maskSize: number, out: Float32Array): void {
  const M = maskSize;
  const sx = f32(f32(box[0]) - 0.5);
  const sy = f32(f32(box[1]) - 0.5);
  const rw = f32(f32(f32(box[2]) - 0.5) - sx);
  const rh = f32(f32(f32(box[3]) - 0.5) - sy);
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
      out[ph * M + pw] = f32(acc / count) >= 0.5 ? 1 : 0;
    }
  }
}
