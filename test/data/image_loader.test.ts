import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { ImageLoader, type ImageBatch } from '../../data/image_loader';
import { GeneratedDataset } from '../../data/datasets/generated';
import { DataError } from '../../src/core/errors';
import type { Dataset, Sample } from '../../src/core/interfaces';

const ds = new GeneratedDataset({ num_images: 30, image_size: 12, num_classes: 10, seed: 1 }, 'test');

async function all(it: AsyncIterable<ImageBatch>) {
  const out: { data: number[]; labels: number[]; indices: number[] }[] = [];
  for await (const b of it) {
    out.push({ data: Array.from(b.images.dataSync()), labels: Array.from(b.labels), indices: Array.from(b.indices) });
    b.images.dispose();
  }
  return out;
}

describe('data/image_loader: single-view batches for evaluation', () => {
  it('eval mode: dataset order, partial last batch kept, centre crop = the normalised image', async () => {
    const loader = new ImageLoader(ds, { size: 12, mode: 'eval', batchSize: 8, mean: [0, 0, 0], std: [1, 1, 1] });
    expect(loader.stepsPerEpoch).to.equal(4);
    const before = tf.memory().numTensors;
    const batches = await all(loader.batches());
    expect(tf.memory().numTensors).to.equal(before);
    expect(batches.map((b) => b.labels.length)).to.deep.equal([8, 8, 8, 6]);
    expect(batches.flatMap((b) => b.indices)).to.deep.equal(Array.from({ length: 30 }, (_, i) => i));
    const first = ds.render(0).image.data;
    batches[0].data.slice(0, 12 * 12 * 3).forEach((v, i) => expect(v).to.be.closeTo(first[i] / 255, 1e-6));
    expect(batches[3].labels).to.deep.equal([24, 25, 26, 27, 28, 29].map((i) => ds.labelOf(i)));
  });

  it('lets timers run between batches (a loop over decoded batches must not hold the event loop)', async () => {
    // A queue worker renews its lock and a run sees Ctrl-C on timers and signal handlers; batches
    // of in-memory images resolve as microtasks, which alone never give the loop a turn.
    const loader = new ImageLoader(ds, { size: 12, mode: 'eval', batchSize: 5 });
    let timerFired = false;
    setTimeout(() => (timerFired = true), 0);
    const firedBeforeBatch: boolean[] = [];
    for await (const b of loader.batches()) {
      firedBeforeBatch.push(timerFired);
      b.images.dispose();
    }
    expect(firedBeforeBatch).to.have.length(6);
    expect(firedBeforeBatch[0]).to.equal(true);
  });

  it('eval mode with a crop fraction takes the centred square and resizes it', async () => {
    const loader = new ImageLoader(ds, { size: 6, mode: 'eval', batchSize: 30, cropFraction: 0.5, mean: [0, 0, 0], std: [1, 1, 1] });
    const [b] = await all(loader.batches());
    // The centred 6x6 of the 12x12 image, resized 6 -> 6, is that window exactly.
    const img = ds.render(0).image.data;
    for (let y = 0; y < 6; y++)
      for (let x = 0; x < 6; x++)
        for (let c = 0; c < 3; c++)
          expect(b.data[(y * 6 + x) * 3 + c]).to.be.closeTo(img[((y + 3) * 12 + x + 3) * 3 + c] / 255, 1e-6);
  });

  it('train mode: shuffled, drops the partial batch, reproducible per (seed, epoch, batch)', async () => {
    const a = new ImageLoader(ds, { size: 8, mode: 'train', batchSize: 8 }, 3);
    const b = new ImageLoader(ds, { size: 8, mode: 'train', batchSize: 8, prefetch: 0 }, 3);
    expect(a.stepsPerEpoch).to.equal(3);
    const ea = await all(a.batches(2));
    expect(await all(b.batches(2, 1))).to.deep.equal(ea.slice(1));
    expect(ea.flatMap((x) => x.indices)).to.not.deep.equal(Array.from({ length: 24 }, (_, i) => i));
    const other = await all(new ImageLoader(ds, { size: 8, mode: 'train', batchSize: 8 }, 4).batches(2));
    expect(other[0].data).to.not.deep.equal(ea[0].data);
  });

  it('uses only the given subset and steps over unreadable items', async () => {
    const skipped: string[] = [];
    const flaky: Dataset = {
      name: 'flaky', length: ds.length, classNames: ds.classNames, labelOf: (i) => ds.labelOf(i),
      get: (i): Promise<Sample> => (i === 5 ? Promise.reject(new DataError('five.png', 'bad CRC')) : ds.get(i)),
    };
    const loader = new ImageLoader(flaky, { size: 4, mode: 'eval', batchSize: 2, subset: [1, 5, 9] }, 0);
    const withSkip = new ImageLoader(flaky, { size: 4, mode: 'eval', batchSize: 2, subset: [1, 5, 9], onSkip: (s) => skipped.push(s) });
    const batches = await all(withSkip.batches());
    expect(batches.flatMap((b) => b.indices)).to.deep.equal([1, 6, 9]);
    expect(skipped).to.deep.equal(['five.png']);
    expect(loader.stepsPerEpoch).to.equal(2);
  });
});
