// Mask R-CNN FPN on the sslight nn modules: import from 'detection/modeling'.
export * from './config';
export * from './registry';
export * from './state_dict';
export { buildBody, freezeBatchNorm, isMultiScaleBody, type MultiScaleBody, type StageInfo } from './backbone/body';
export { BackboneWithFpn, type PyramidLevel } from './backbone/backbone_with_fpn';
export { Fpn, upsampleNearest, type FpnOptions } from './fpn/fpn';
export { RpnHead, type RpnHeadOutput } from './rpn/head';
export { findTopProposals, type ProposalOptions, type Proposals } from './rpn/proposals';
export { rpnLosses, type LossVariant, type RpnLossOptions } from './rpn/losses';
export { Rpn, type RpnOutput } from './rpn/rpn';
export { BoxHead } from './roi_heads/box_head';
export { BoxPredictor } from './roi_heads/box_predictor';
export { MaskHead, MaskPredictor } from './roi_heads/mask_head';
export { labelAndSampleProposals, type SampledRois, type RoiSamplingOptions } from './roi_heads/sampling';
export { fastRcnnLosses, maskLoss } from './roi_heads/losses';
export { boxInference, type BoxDetections, type BoxInferenceOptions } from './roi_heads/inference';
export { RoiHeads, roisTensor, type Detections, type RoiLosses } from './roi_heads/roi_heads';
export { MaskRcnn, type MaskRcnnLosses } from './meta_arch/mask_rcnn';
