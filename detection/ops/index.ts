export { boxArea, clipBoxes, nonEmpty, pairwiseIou } from './boxes';
export { BoxCoder } from './box_coder';
export { AnchorGenerator, type AnchorGeneratorOptions } from './anchors';
export { batchedNms, nms, sortByScore } from './nms';
export { Matcher } from './matcher';
export { sampleBalanced } from './sampler';
export { roiAlign, type RoiAlignOptions } from './roi_align';
export { MultiScaleRoIAlign, type MultiScaleRoIAlignOptions } from './poolers';
export { registerRoiAlignKernels, ROI_ALIGN, ROI_ALIGN_GRAD } from './roi_align_kernels';
