// Importing this module registers the built-in SSL methods.
import './dino/dino';
import './swav/swav';
import './mocov2/mocov2';

export { Dino, dinoSchema, DinoNetwork, type DinoOptions } from './dino/dino';
export { MultiCropNetwork } from './common/multicrop';
export { DinoHead, WeightNormLinear, l2Normalize } from './dino/head';
export { dinoLoss, pairWeights, pairCounts, equivalentAlpha, updateCenter, teacherEntropies } from './dino/loss';
export { EmaUpdater, emaUpdate } from './common/ema';
