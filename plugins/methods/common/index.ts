// What every method shares (and what the public API exports to out-of-tree methods).
export { MethodBase, type MethodLoss } from './method_base';
export { MultiCropNetwork, multiCropFeatures, networkMaker, resolutionRowGroups, type MultiCropHead } from './multicrop';
export { EmaUpdater, emaUpdate, emaTarget } from './ema';
export { pairWeights, pairCounts, equivalentAlpha, allGlobals, weightedPairLoss, pairBlockMeans } from './pairs';
export { l2Normalize, normAlong, stopGradient } from './normalize';
export { koleoLoss } from './koleo';
