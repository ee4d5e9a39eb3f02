/**
 * Per-category AP as Detectron2's COCOEvaluator derives it (`_derive_coco_results`): for each
 * category, the mean of precision[:, :, k, area 'all', maxDets 100] over the entries > -1, in
 * percent; NaN for a category without ground truth in the evaluated images. The overall AP is
 * the mean of these over the categories that have one.
 */
import type { Accumulated } from './accumulate';
import type { Params } from './params';
import { numpySum } from './summarize';

export interface CategoryAp {
  catId: number;
  /** Percent; NaN where the category has no (non-ignored) ground truth. */
  ap: number;
}

export function perCategoryAp(acc: Accumulated, p: Params): CategoryAp[] {
  const [T, R, K, A, M] = acc.counts;
  if (p.useCats && K !== p.catIds.length) throw new Error(`perCategoryAp: ${K} categories evaluated, ${p.catIds.length} in params`);
  const a = p.areaRngLbl.indexOf('all');
  if (a < 0) throw new Error("perCategoryAp: params have no 'all' area range");
  const m = M - 1; // the largest maxDets (params sort them in evaluate())
  const out: CategoryAp[] = [];
  for (let k = 0; k < K; k++) {
    const vals: number[] = [];
    for (let t = 0; t < T; t++)
      for (let r = 0; r < R; r++) {
        const v = acc.precision[(((t * R + r) * K + k) * A + a) * M + m];
        if (v > -1) vals.push(v);
      }
    out.push({ catId: p.useCats ? p.catIds[k] : -1, ap: vals.length === 0 ? NaN : (numpySum(vals) / vals.length) * 100 });
  }
  return out;
}
