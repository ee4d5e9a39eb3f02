import { z } from 'zod';
import { IMAGENET_MEAN, IMAGENET_STD } from '../../data/transforms/normalize';
import type { MultiCropConfig } from './plan';

/** The defaults in which `dino` and `sslight` differ (the paper's four knobs). */
export interface MultiCropDefaults {
  global_crop_size: number;
  local_crop_size: number;
  global_crop_scale: [number, number];
  local_crop_scale: [number, number];
  n_global: number;
  n_local: number;
}

const prob = z.number().min(0).max(1);

function range(lo: number, hi: number, what: string) {
  return z
    .tuple([z.number().gt(lo), z.number().lte(hi)])
    .refine(([a, b]) => a <= b, { message: `${what}: expected [low, high] with low <= high` });
}

/** Options shared by every multi-crop plugin; snake_case, unknown keys rejected. */
export function multiCropSchema(d: MultiCropDefaults) {
  return z
    .object({
      n_global: z.number().int().min(1).default(d.n_global),
      n_local: z.number().int().min(0).default(d.n_local),
      global_crop_size: z.number().int().min(1).default(d.global_crop_size),
      local_crop_size: z.number().int().min(1).default(d.local_crop_size),
      global_crop_scale: range(0, 1, 'global_crop_scale').default(d.global_crop_scale),
      local_crop_scale: range(0, 1, 'local_crop_scale').default(d.local_crop_scale),
      /** Aspect ratio range (w/h) of the crops. */
      crop_ratio: range(0, Infinity, 'crop_ratio').default([3 / 4, 4 / 3]),
      interpolation: z.enum(['bicubic', 'bilinear']).default('bicubic'),
      /** Widen the filter when downscaling (PIL does); off is plain point-sampled bicubic. */
      antialias: z.boolean().default(true),
      flip_p: prob.default(0.5),
      color_jitter_p: prob.default(0.8),
      brightness: z.number().min(0).default(0.4),
      contrast: z.number().min(0).default(0.4),
      saturation: z.number().min(0).default(0.2),
      hue: z.number().min(0).max(0.5).default(0.1),
      grayscale_p: prob.default(0.2),
      /** Blur sigma range, in pixels of a global view of blur_reference_size (DINO: 0.1-2.0 at 224). */
      blur_sigma: range(0, Infinity, 'blur_sigma').default([0.1, 2.0]),
      /**
       * Sigmas scale by global_crop_size / blur_reference_size, so a 32 px view is blurred as much
       * relative to its content as DINO's 224 px one. Set it to global_crop_size for absolute sigmas.
       */
      blur_reference_size: z.number().positive().default(224),
      /** One probability per global view; the last repeats when n_global is larger. */
      global_blur_p: z.array(prob).min(1).default([1.0, 0.1]),
      local_blur_p: prob.default(0.5),
      global_solarize_p: z.array(prob).min(1).default([0, 0.2]),
      local_solarize_p: prob.default(0),
      mean: z.tuple([z.number(), z.number(), z.number()]).default([...IMAGENET_MEAN]),
      std: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]).default([...IMAGENET_STD]),
    })
    .strict();
}

export type MultiCropOptions = z.output<ReturnType<typeof multiCropSchema>>;

export function toMultiCropConfig(o: MultiCropOptions): MultiCropConfig {
  return {
    nGlobal: o.n_global,
    nLocal: o.n_local,
    globalSize: o.global_crop_size,
    localSize: o.local_crop_size,
    globalScale: o.global_crop_scale,
    localScale: o.local_crop_scale,
    ratio: o.crop_ratio,
    interpolation: o.interpolation,
    antialias: o.antialias,
    flipP: o.flip_p,
    colorJitterP: o.color_jitter_p,
    jitter: { brightness: o.brightness, contrast: o.contrast, saturation: o.saturation, hue: o.hue },
    grayscaleP: o.grayscale_p,
    blurSigma: [
      (o.blur_sigma[0] * o.global_crop_size) / o.blur_reference_size,
      (o.blur_sigma[1] * o.global_crop_size) / o.blur_reference_size,
    ],
    globalBlurP: o.global_blur_p,
    localBlurP: o.local_blur_p,
    globalSolarizeP: o.global_solarize_p,
    localSolarizeP: o.local_solarize_p,
    mean: o.mean,
    std: o.std,
  };
}
