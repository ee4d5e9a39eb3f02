export { boxArea, clipBoxes, nonEmpty, pairwiseIou } from './boxes';
export { BoxCoder } from './box_coder';
export { AnchorGenerator, type AnchorGeneratorOptions } from './anchors';
export { batchedNms, nms, sortByScore } from './nms';
export { Matcher } from './matcher';
export { sampleBalanced } from './sampler';
