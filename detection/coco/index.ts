/** COCO API and evaluator (pycocotools parity) in TypeScript. */
export { COCO } from './coco';
export { COCOeval, EvalImg } from './cocoeval';
export { Params, IouType, linspace } from './params';
export { Accumulated } from './accumulate';
export { perCategoryAp, type CategoryAp } from './per_category';
export { CocoFormatError, MaskError } from './errors';
export * as mask from './mask';
export { Rle, rleEncode, rleEncodeRowMajor, rleDecode, rleArea, rleToBbox, rleMerge, rowToColMajor, colToRowMajor } from './rle';
export { countsToString, countsFromString } from './rle_string';
export { rleFrPoly, rleFrBbox } from './polygon';
export { bboxIouInto, rleIouInto } from './iou';
export type { CocoDataset, CocoAnnotation, CocoImage, CocoCategory, CocoResult, Segmentation } from './types';
export { cocoEvalMain } from './cli';
