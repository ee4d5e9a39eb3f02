/**
 * Assigns each prediction (anchor / proposal) to its best ground-truth box and labels it by IoU
 * interval, with detectron2's Matcher semantics: thresholds [t1 < ... < tn] cut [-inf, +inf) into
 * n + 1 intervals, `labels[i]` (1 foreground, 0 background, -1 ignore) is given to predictions
 * whose best IoU lies in interval i (low end inclusive). With allowLowQualityMatches, every
 * prediction that attains some ground truth's highest IoU (ties included) is labelled 1; its
 * match stays its own best ground truth.
 */
export class Matcher {
  readonly thresholds: number[];
  readonly labels: number[];

  constructor(thresholds: number[], labels: number[], readonly allowLowQualityMatches: boolean) {
    if (labels.length !== thresholds.length + 1) {
      throw new Error(`Matcher: ${labels.length} labels for ${thresholds.length} thresholds (need thresholds + 1)`);
    }
    for (let i = 1; i < thresholds.length; i++) {
      if (!(thresholds[i - 1] <= thresholds[i])) throw new Error(`Matcher: thresholds must be sorted, got [${thresholds}]`);
    }
    for (const l of labels) if (l !== -1 && l !== 0 && l !== 1) throw new Error(`Matcher: labels must be -1, 0 or 1, got ${l}`);
    this.thresholds = thresholds.slice();
    this.labels = labels.slice();
  }

  /**
   * `iou` is row-major [nGt, nPred] (`pairwiseIou(gt, predictions)`). `matches[p]` is the index
   * of prediction p's best ground truth (first on ties; 0 when there is none), `labels[p]` its
   * label. With no ground truth every prediction gets `labels[0]` (background).
   */
  match(iou: Float32Array, nGt: number, nPred: number): { matches: Int32Array; labels: Int8Array } {
    if (iou.length !== nGt * nPred) throw new Error(`Matcher.match: iou has ${iou.length} values, expected ${nGt} x ${nPred}`);
    const matches = new Int32Array(nPred);
    const labels = new Int8Array(nPred);
    if (nGt === 0) {
      labels.fill(this.labels[0]);
      return { matches, labels };
    }
    // Column max over ground truths, row by row (contiguous reads).
    const best = iou.slice(0, nPred);
    for (let g = 1; g < nGt; g++) {
      const row = g * nPred;
      for (let p = 0; p < nPred; p++) {
        const v = iou[row + p];
        if (v > best[p]) {
          best[p] = v;
          matches[p] = g;
        }
      }
    }
    const th = this.thresholds;
    for (let p = 0; p < nPred; p++) {
      const v = best[p];
      let i = 0;
      while (i < th.length && v >= th[i]) i++;
      labels[p] = this.labels[i];
    }
    if (this.allowLowQualityMatches) {
      for (let g = 0; g < nGt; g++) {
        const row = g * nPred;
        let hi = -Infinity;
        for (let p = 0; p < nPred; p++) if (iou[row + p] > hi) hi = iou[row + p];
        for (let p = 0; p < nPred; p++) if (iou[row + p] === hi) labels[p] = 1;
      }
    }
    return { matches, labels };
  }
}
