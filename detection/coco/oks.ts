/**
 * Object keypoint similarity (COCOeval.computeOks): for each (dt, gt) pair
 * mean over the gt's visible keypoints of exp(-d^2 / (2 * area * (2 sigma)^2)). A gt without
 * visible keypoints measures each detected point's distance to the box grown by the box size
 * on every side, averaged over all keypoints. Sums use numpy's pairwise order.
 */
import { pairwiseSum } from './summarize';

/** numpy.spacing(1). */
const EPS = 2.220446049250313e-16;

/**
 * Writes OKS into out[d * nG + g]. dtKps/gtKps: flat [x, y, v] * K per annotation; gtBox
 * [x, y, w, h] and gtArea per gt; offsets select a slice of the flat arrays (in annotations).
 */
export function oksInto(
  dtKps: Float64Array,
  dOff: number,
  nD: number,
  gtKps: Float64Array,
  gtBox: Float64Array,
  gtArea: Float64Array,
  gOff: number,
  nG: number,
  sigmas: readonly number[],
  out: Float64Array,
): void {
  const k = sigmas.length;
  const vars = sigmas.map((s) => (s * 2) * (s * 2));
  const e = new Float64Array(k);
  for (let j = 0; j < nG; j++) {
    const gs = gOff + j;
    const g = gs * 3 * k;
    let k1 = 0;
    for (let q = 0; q < k; q++) if (gtKps[g + 3 * q + 2] > 0) k1++;
    const bx = gtBox[gs * 4];
    const by = gtBox[gs * 4 + 1];
    const bw = gtBox[gs * 4 + 2];
    const bh = gtBox[gs * 4 + 3];
    const x0 = bx - bw;
    const x1 = bx + bw * 2;
    const y0 = by - bh;
    const y1 = by + bh * 2;
    const denom = gtArea[gs] + EPS;
    for (let i = 0; i < nD; i++) {
      const d = (dOff + i) * 3 * k;
      let n = 0;
      for (let q = 0; q < k; q++) {
        const xd = dtKps[d + 3 * q];
        const yd = dtKps[d + 3 * q + 1];
        let dx: number;
        let dy: number;
        if (k1 > 0) {
          if (!(gtKps[g + 3 * q + 2] > 0)) continue;
          dx = xd - gtKps[g + 3 * q];
          dy = yd - gtKps[g + 3 * q + 1];
        } else {
          dx = Math.max(0, x0 - xd) + Math.max(0, xd - x1);
          dy = Math.max(0, y0 - yd) + Math.max(0, yd - y1);
        }
        e[n++] = Math.exp(-((dx * dx + dy * dy) / vars[q] / denom / 2));
      }
      out[i * nG + j] = pairwiseSum(e, 0, n) / n;
    }
  }
}
