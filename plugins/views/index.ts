// Importing this module registers the `dino` and `sslight` view plugins.
import './dino';
import './sslight';

export { MultiCropSampler } from './multicrop';
export { planViews, type MultiCropConfig, type ViewPlan } from './plan';
export { renderView } from './render';
export { multiCropSchema, toMultiCropConfig, type MultiCropDefaults, type MultiCropOptions } from './schema';
export { meanPsRatio, meanPixelScale } from './ps_ratio';
export { DINO_VIEW_DEFAULTS } from './dino';
export { SSLIGHT_VIEW_DEFAULTS, SSLIGHT_ALPHA } from './sslight';
export { viewsMontage } from './montage';
export { pixelScaleStats, type PixelScaleStats, type ViewPlanner } from './ps_stats';
