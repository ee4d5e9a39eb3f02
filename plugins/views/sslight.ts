import { registerPlugin } from '../../src/core/registry';
import { MultiCropSampler } from './multicrop';
import { multiCropSchema, toMultiCropConfig, type MultiCropDefaults } from './schema';

/**
 * The paper's recipe: S_g = S_l = 0.3 and LC = 128 for GC = 224, which brings
 * mean(PS_g / PS_l) to about 1 (knob 2); 2 + 6 views.
 */
export const SSLIGHT_VIEW_DEFAULTS: MultiCropDefaults = {
  global_crop_size: 224,
  local_crop_size: 128,
  global_crop_scale: [0.3, 1.0],
  local_crop_scale: [0.05, 0.3],
  n_global: 2,
  n_local: 6,
};

/** The eq. 3 weight the recipe pairs with these views; the method's loss applies it. */
export const SSLIGHT_ALPHA = 0.4;

export const sslightViewsSchema = multiCropSchema(SSLIGHT_VIEW_DEFAULTS);

registerPlugin({
  kind: 'views',
  name: 'sslight',
  description: 'SSLight views (S_g = S_l = 0.3, GC/LC = 224/128, N_l = 6; pairs with alpha = 0.4)',
  schema: sslightViewsSchema,
  create: (options) => new MultiCropSampler(toMultiCropConfig(options), SSLIGHT_ALPHA),
});
