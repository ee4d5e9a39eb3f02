/** COCOeval parameters with pycocotools' defaults (cocoeval.Params). */

export type IouType = 'bbox' | 'segm' | 'keypoints';

/**
 * numpy.linspace(start, stop, num): start + i * step with step = (stop - start) / (num - 1), and
 * the last value set to stop exactly. Computed the same way so the thresholds are the same
 * doubles (summarize looks IoU 0.5 and 0.75 up by exact equality).
 */
export function linspace(start: number, stop: number, num: number): number[] {
  const out: number[] = [];
  const div = num - 1;
  const step = (stop - start) / div;
  for (let i = 0; i < num; i++) out.push(step === 0 ? (i / div) * (stop - start) + start : i * step + start);
  if (num > 1) out[num - 1] = stop;
  return out;
}

export class Params {
  imgIds: number[] = [];
  catIds: number[] = [];
  /** IoU thresholds .5:.05:.95 (T = 10). */
  iouThrs: number[];
  /** Recall sample points 0:.01:1 (R = 101). */
  recThrs: number[];
  maxDets: number[];
  /** [min, max] area, both ends inclusive in evaluation. */
  areaRng: [number, number][];
  areaRngLbl: string[];
  /** 1: match within categories; 0: ignore labels (proposal scoring). */
  useCats: number = 1;
  kptOksSigmas: number[] = [];

  constructor(readonly iouType: IouType = 'segm') {
    this.iouThrs = linspace(0.5, 0.95, Math.round((0.95 - 0.5) / 0.05) + 1);
    this.recThrs = linspace(0.0, 1.0, Math.round((1.0 - 0.0) / 0.01) + 1);
    if (iouType === 'keypoints') {
      this.maxDets = [20];
      this.areaRng = [
        [0, 1e5 ** 2],
        [32 ** 2, 96 ** 2],
        [96 ** 2, 1e5 ** 2],
      ];
      this.areaRngLbl = ['all', 'medium', 'large'];
      this.kptOksSigmas = [0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89].map((s) => s / 10);
    } else if (iouType === 'bbox' || iouType === 'segm') {
      this.maxDets = [1, 10, 100];
      this.areaRng = [
        [0, 1e5 ** 2],
        [0, 32 ** 2],
        [32 ** 2, 96 ** 2],
        [96 ** 2, 1e5 ** 2],
      ];
      this.areaRngLbl = ['all', 'small', 'medium', 'large'];
    } else {
      throw new Error(`iouType '${String(iouType)}' not supported (bbox, segm or keypoints)`);
    }
  }

  clone(): Params {
    const p = new Params(this.iouType);
    p.imgIds = [...this.imgIds];
    p.catIds = [...this.catIds];
    p.iouThrs = [...this.iouThrs];
    p.recThrs = [...this.recThrs];
    p.maxDets = [...this.maxDets];
    p.areaRng = this.areaRng.map((r) => [r[0], r[1]] as [number, number]);
    p.areaRngLbl = [...this.areaRngLbl];
    p.useCats = this.useCats;
    p.kptOksSigmas = [...this.kptOksSigmas];
    return p;
  }
}
