import * as path from 'path';
import sharp from 'sharp';
import type { CommandModule } from 'yargs';
import { applySet, loadConfigFile, resolveConfig } from '../core/config';
import { ConfigError } from '../core/errors';
import { registry } from '../core/registry';
import { Rng } from '../core/rng';
import type { RawImage, ViewSampler } from '../core/interfaces';
import { pixelScaleStats, type ViewPlanner } from '../../plugins/views/ps_stats';
import { stackRows, viewsMontage } from '../../plugins/views/montage';
import { loadPlugins } from './common';

interface Args {
  config: string;
  set?: string[];
  draws: number;
  'image-size'?: string;
  montage?: string;
  images: number;
  seed: number;
  plugin?: string[];
}

/**
 * `sslight views`: what a config's view sampler does, in the paper's terms: mean pixel scales
 * (eq. 1), mean PS_g/PS_l (knob 2) and the local crop size that would balance it; optionally a
 * PNG montage of the views of the first images.
 */
export const viewsCommand: CommandModule<object, Args> = {
  command: 'views',
  describe: "show a config's multi-crop views: pixel scales, mean PS_g/PS_l, a balancing local size, a montage",
  builder: (y) =>
    y
      .option('config', { type: 'string', demandOption: true, describe: 'YAML config (its data and views sections are used)' })
      .option('set', { type: 'string', array: true, describe: 'override a config key' })
      .option('draws', { type: 'number', default: 20000, describe: 'Monte Carlo draws of crop boxes' })
      .option('image-size', { type: 'string', describe: 'WxH of the source images (default: the first dataset image)' })
      .option('montage', { type: 'string', describe: 'write the views of the first images to this PNG' })
      .option('images', { type: 'number', default: 4, describe: 'images in the montage' })
      .option('seed', { type: 'number', default: 0 })
      .option('plugin', { type: 'string', array: true, describe: 'extra plugin module(s) to load' }) as never,
  handler: async (args) => {
    loadPlugins(args.plugin);
    let doc = loadConfigFile(args.config);
    for (const s of args.set ?? []) doc = applySet(doc, s);
    const config = resolveConfig(doc);
    const sampler = registry.get('views', config.views.name).create(config.views.options, {});
    // Only built when images are needed: with --image-size alone, data.root need not exist.
    const dataset = once(() => registry.get('dataset', config.data.name).create(config.data.options, { split: 'train' }));
    let width: number;
    let height: number;
    if (args['image-size']) {
      const m = /^(\d+)x(\d+)$/.exec(args['image-size']);
      if (!m) throw new ConfigError('', `--image-size expects WxH (e.g. 500x375), got '${args['image-size']}'`);
      width = Number(m[1]);
      height = Number(m[2]);
    } else {
      const first = await dataset().get(0);
      width = first.image.width;
      height = first.image.height;
    }
    console.log(
      `views '${config.views.name}': ${sampler.nGlobal} x ${sampler.globalSize}px global + ` +
        `${sampler.nLocal} x ${sampler.localSize}px local, on ${width}x${height} images`,
    );
    if (isPlanner(sampler)) {
      const st = pixelScaleStats(sampler, width, height, args.draws, new Rng(args.seed));
      console.log(`mean PS_g = ${st.meanGlobal.toFixed(4)}, mean PS_l = ${st.meanLocal.toFixed(4)} (eq. 1: output side^2 / crop area)`);
      console.log(`mean PS_g/PS_l = ${st.meanOfRatio.toFixed(3)} ± ${st.stderr.toFixed(3)} over ${args.draws} draws`);
      console.log(`local crop size for mean PS_g/PS_l = 1: ${st.balancedLocalSize.toFixed(1)} (now ${sampler.localSize})`);
    } else {
      console.log(`(views plugin '${config.views.name}' does not expose its crop plan; no pixel-scale statistics)`);
    }
    if (args.montage) {
      const rows: RawImage[] = [];
      const rng = new Rng(args.seed);
      for (let i = 0; i < Math.min(args.images, dataset().length); i++) {
        const views = sampler.sample((await dataset().get(i)).image, rng);
        const opts = config.views.options as { mean?: number[]; std?: number[] };
        rows.push(viewsMontage(views, sampler.globalSize, sampler.localSize, opts.mean, opts.std));
      }
      const out = stackRows(rows, 2);
      await sharp(Buffer.from(out.data), { raw: { width: out.width, height: out.height, channels: 3 } })
        .png()
        .toFile(path.resolve(args.montage));
      console.log(`montage of ${rows.length} image(s) written to ${args.montage}`);
    }
  },
};

function once<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= make());
}

function isPlanner(s: ViewSampler): s is ViewSampler & ViewPlanner {
  return typeof (s as Partial<ViewPlanner>).plan === 'function';
}
