import type { DependencyContainer } from 'tsyringe';
import { Tokens } from '../core/tokens';
import { Rng } from '../core/rng';
import { publishImage } from '../core/images';
import type { EventBus } from '../core/events';
import type { ResolvedConfig } from '../core/config';
import type { Callback, Dataset, RawImage, ViewSampler } from '../core/interfaces';
import { stackRows, viewsMontage } from '../../plugins/views/montage';

/**
 * A hook that, before training, publishes the views of the first `images` dataset images as an
 * `image` event (`views_montage`), so TensorBoard shows what the network is trained on. It uses
 * its own Rng, so training draws are unchanged.
 */
export function viewsMontageHook(c: DependencyContainer, images = 4): Callback {
  return {
    name: 'views-montage',
    beforeTrain: async (run) => {
      if (!run.runDir) return;
      const config = c.resolve<ResolvedConfig>(Tokens.Config);
      const dataset = c.resolve<Dataset>(Tokens.Dataset);
      const sampler = c.resolve<ViewSampler>(Tokens.Views);
      const opts = config.views.options as { mean?: number[]; std?: number[] };
      const rng = new Rng(config.trainer.seed + 7919);
      const rows: RawImage[] = [];
      for (let i = 0; i < Math.min(images, dataset.length); i++) {
        // A picture is not worth failing the run over: an unreadable image is left out.
        const sample = await dataset.get(i).catch(() => null);
        if (!sample) continue;
        const views = sampler.sample(sample.image, rng);
        rows.push(viewsMontage(views, sampler.globalSize, sampler.localSize, opts.mean, opts.std));
      }
      if (!rows.length) return;
      publishImage(c.resolve<EventBus>(Tokens.Events), {
        runDir: run.runDir,
        tag: 'views_montage',
        step: run.step(),
        image: stackRows(rows, 2),
      });
    },
  };
}
