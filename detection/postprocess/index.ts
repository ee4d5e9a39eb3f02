/** Detection post-processing: masks pasted into images, COCO results, evaluation, drawing. */
export { pasteMask, pasteMaskRle, samplePasted } from './paste_masks';
export { toOriginalImage, toCocoResults, type Detections, type ImageResults } from './results';
export { evaluateDetections, evaluateAndReport, formatApTable, formatPerCategoryTable, writeMetrics, apSummary, AP_NAMES, type DetectionMetrics, type DetIouType } from './evaluate';
export { detectAll, type Infer } from './detect_all';
export { drawDetections, renderDetections, classColour, type DrawOptions } from './draw';
