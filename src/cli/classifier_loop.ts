import { progress } from '../core/progress';
import type { ImageBatch, ImageLoader } from '../../data/image_loader';
import { EvalInputError } from './eval_setup';

// The two loops `sslight linear` and `sslight semisup` share: epochs of classifier steps over the
// train loader (with a progress bar and a line per epoch), then one pass over the test images.

/**
 * Runs `epochs` epochs of `step` (which returns the batch's loss) and returns the mean loss of
 * each epoch. A non-finite loss stops with an error that names the command and the epoch.
 */
export async function trainEpochs(
  command: string,
  loader: ImageLoader,
  epochs: number,
  step: (b: ImageBatch) => number,
): Promise<number[]> {
  const losses: number[] = [];
  const bar = progress(`${command} step`, epochs * loader.stepsPerEpoch, { unit: 'step' });
  for (let e = 0; e < epochs; e++) {
    const t0 = Date.now();
    let sum = 0;
    let steps = 0;
    for await (const b of loader.batches(e)) {
      try {
        const loss = step(b);
        if (!Number.isFinite(loss)) throw new EvalInputError(`${command}: loss is ${loss} at epoch ${e + 1}; lower --lr`);
        sum += loss;
        steps++;
        bar.tick(1, { suffix: `ep ${e + 1}/${epochs} loss ${loss.toFixed(4)}` });
      } finally {
        b.images.dispose();
      }
    }
    losses.push(sum / steps);
    bar.clear();
    console.log(`epoch ${e + 1}/${epochs}  train loss ${(sum / steps).toFixed(4)}  (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  }
  bar.done();
  return losses;
}

/** Calls `visit` on every test batch (disposing its images after) and returns the image count. */
export async function forEachTestBatch(loader: ImageLoader, visit: (b: ImageBatch) => void): Promise<number> {
  let n = 0;
  for await (const b of loader.batches()) {
    try {
      visit(b);
      n += b.batchSize;
    } finally {
      b.images.dispose();
    }
  }
  return n;
}
