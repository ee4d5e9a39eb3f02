'use strict';
// A view-sampler plugin: random resized crops with a horizontal flip, ImageNet-normalised.
// Load with --plugin ./examples/plugins/flip_crops.js, select with views: {name: flip_crops}.
const { z, registerPlugin, sampleCropBox, pixelScale, resizedCrop, flipHorizontal, normalize } = require('sslight');

class FlipCrops {
  constructor(o) {
    this.o = o;
    this.nGlobal = o.n_global;
    this.nLocal = o.n_local;
    this.globalSize = o.global_size;
    this.localSize = o.local_size;
  }

  /** One view: crop box (all randomness from `rng`), resize, flip, normalise. */
  view(image, size, scale, rng) {
    const box = sampleCropBox(image.width, image.height, scale, [3 / 4, 4 / 3], rng);
    const flip = rng.uniform() < 0.5;
    const data = resizedCrop(image.data, image.width, box, size, 'bilinear');
    if (flip) flipHorizontal(data, size, size);
    normalize(data);
    return { data, ps: pixelScale(size, box) };
  }

  /** Deterministic given `rng`: the loader derives it from (seed, epoch, batch, image). */
  sample(image, rng) {
    const out = { globals: [], locals: [], globalPixelScales: [], localPixelScales: [] };
    for (let i = 0; i < this.nGlobal; i++) {
      const v = this.view(image, this.globalSize, this.o.global_scale, rng);
      out.globals.push(v.data);
      out.globalPixelScales.push(v.ps);
    }
    for (let i = 0; i < this.nLocal; i++) {
      const v = this.view(image, this.localSize, this.o.local_scale, rng);
      out.locals.push(v.data);
      out.localPixelScales.push(v.ps);
    }
    return out;
  }
}

const scale = z.tuple([z.number().gt(0).lte(1), z.number().gt(0).lte(1)]);
const flipCropsSchema = z
  .object({
    n_global: z.number().int().min(1).default(2),
    n_local: z.number().int().min(0).default(2),
    global_size: z.number().int().positive().default(32),
    local_size: z.number().int().positive().default(16),
    global_scale: scale.default([0.3, 1]),
    local_scale: scale.default([0.05, 0.3]),
  })
  .strict();

registerPlugin({
  kind: 'views',
  name: 'flip_crops',
  description: 'random resized crops + horizontal flip, no colour augmentation',
  schema: flipCropsSchema,
  create: (options) => new FlipCrops(options),
});

module.exports = { FlipCrops, flipCropsSchema };
