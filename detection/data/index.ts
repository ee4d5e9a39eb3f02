/** Detection data: COCO-format datasets, transforms, batching, generated shapes. */
export type { InstanceMask, DetectionTarget, DetectionBatch } from './types';
export { CocoDetectionDataset, categoryMap, type CategoryMap, type CocoDetectionOptions, type DetectionRecord } from './coco_dataset';
export { DetectionLoader, toDetectionBatch, type DetectionLoaderOptions, type DetectionSource, type HostDetectionBatch } from './loader';
export { prepareImage, type PreparedImage, type PrepareOptions } from './prepare';
export { shortestEdgeSize, resizeRgb, resizeMaskColMajor } from './transforms/resize';
export { transformBoxes, transformPolygons, transformMask, transformTarget, clipAndFilter, type Geometry } from './transforms/geometry';
export { padTo, paddedBatchSize, padInto } from './transforms/pad';
export { generateShapes, writeShapesDataset, SHAPE_NAMES, type ShapesOptions, type ShapesDataset } from './shapes';
export { singleImageBatch, type SingleImageOptions } from './single_image';
