import { registerPlugin } from '../../src/core/registry';
import { MultiCropSampler } from './multicrop';
import { multiCropSchema, toMultiCropConfig, type MultiCropDefaults } from './schema';

/** DINO / SwAV multi-crop: S_g = S_l = 0.14, GC/LC = 224/96, 2 + 6 views. */
export const DINO_VIEW_DEFAULTS: MultiCropDefaults = {
  global_crop_size: 224,
  local_crop_size: 96,
  global_crop_scale: [0.14, 1.0],
  local_crop_scale: [0.05, 0.14],
  n_global: 2,
  n_local: 6,
};

export const dinoViewsSchema = multiCropSchema(DINO_VIEW_DEFAULTS);

registerPlugin({
  kind: 'views',
  name: 'dino',
  description: 'DINO multi-crop views (S_g = S_l = 0.14, GC/LC = 224/96, N_l = 6)',
  schema: dinoViewsSchema,
  // Eq. 2 (uniform over pairs) is what DINO's loss does, so no alpha is recommended.
  create: (options) => new MultiCropSampler(toMultiCropConfig(options), null),
});
