import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import '../../data/datasets'; // registers the dataset plugins
import '../../plugins/views'; // registers dino and sslight
import { ViewLoader } from '../../data/loader';
import { GeneratedDataset } from '../../data/datasets/generated';
import { registry } from '../../src/core/registry';
import { ConfigError, DataError } from '../../src/core/errors';
import { Rng } from '../../src/core/rng';
import type { Dataset, Sample, ViewBatch, ViewSampler } from '../../src/core/interfaces';

function sampler(name = 'sslight', options: Record<string, unknown> = { global_crop_size: 16, local_crop_size: 8, n_local: 3 }): ViewSampler {
  const def = registry.get('views', name);
  return def.create(def.schema.parse(options), {});
}

function generated(n: number, size = 16): GeneratedDataset {
  return new GeneratedDataset({ num_images: n, image_size: size, num_classes: 10, seed: 3 }, 'train');
}

/** Wraps a dataset and makes some items unreadable, as a corrupt file would be. */
class WithCorrupt implements Dataset {
  readonly name = 'with_corrupt';
  calls = 0;
  constructor(private readonly inner: Dataset, private readonly bad: Set<number>) {}
  get length() { return this.inner.length; }
  get classNames() { return this.inner.classNames; }
  labelOf(i: number) { return this.inner.labelOf(i); }
  async get(i: number): Promise<Sample> {
    this.calls++;
    if (this.bad.has(i)) throw new DataError(`item-${i}.jpg`, 'premature end of JPEG file');
    return this.inner.get(i);
  }
}

/** Host copy of a batch, disposing its tensors. */
function snapshot(b: ViewBatch) {
  const out = {
    globals: b.globals.map((t) => Array.from(t.dataSync())),
    locals: b.locals.map((t) => Array.from(t.dataSync())),
    labels: Array.from(b.labels),
    stats: b.stats,
  };
  b.globals.forEach((t) => t.dispose());
  b.locals.forEach((t) => t.dispose());
  return out;
}

async function collect(it: AsyncIterable<ViewBatch>, max = Infinity) {
  const out = [];
  for await (const b of it) {
    out.push(snapshot(b));
    if (out.length >= max) break;
  }
  return out;
}

describe('data/loader: ViewLoader', () => {
  it('yields view-major batches of [B, S, S, 3] tensors with labels and the PS ratio stat', async () => {
    const ds = generated(40);
    const loader = new ViewLoader(ds, sampler(), 8, new Rng(1));
    expect(loader.stepsPerEpoch).to.equal(5);
    const before = tf.memory().numTensors;
    let n = 0;
    for await (const b of loader.batchesForEpoch(0)) {
      expect(b.globals.map((t) => t.shape)).to.deep.equal([[8, 16, 16, 3], [8, 16, 16, 3]]);
      expect(b.locals.map((t) => t.shape)).to.deep.equal(Array(3).fill([8, 8, 8, 3]));
      expect(b.batchSize).to.equal(8);
      expect(b.labels).to.have.length(8);
      expect(b.stats.ps_ratio).to.be.a('number').and.satisfy(Number.isFinite);
      expect(b.stats.skipped).to.equal(0);
      snapshot(b);
      n++;
    }
    expect(n).to.equal(5);
    expect(tf.memory().numTensors, 'every tensor handed out was disposed by the consumer').to.equal(before);
  });

  it('computes ps_ratio as the mean over every global-local pair of the batch', async () => {
    // Same slot streams as the loader: replay each slot's sampler call by hand.
    const ds = generated(16);
    const s = sampler();
    const loader = new ViewLoader(ds, s, 4, 5);
    const host = await loader.loadHostBatch(2, 1);
    const { deriveRng, seedState } = await import('../../data/seed');
    let sum = 0;
    for (let slot = 0; slot < 4; slot++) {
      const v = s.sample((await ds.get(host.indices[slot])).image, deriveRng(seedState(5), 1, 2, 1, slot));
      for (const g of v.globalPixelScales) for (const l of v.localPixelScales) sum += g / l;
      expect(Array.from(host.globals[1].subarray(slot * 768, (slot + 1) * 768))).to.deep.equal(Array.from(v.globals[1]));
    }
    expect(host.stats.ps_ratio).to.be.closeTo(sum / (4 * 2 * 3), 1e-12);
  });

  it('shuffles each epoch differently and visits each item at most once per epoch', () => {
    const loader = new ViewLoader(generated(30), sampler(), 4, 9);
    expect(loader.stepsPerEpoch).to.equal(7); // floor(30 / 4), last partial batch dropped
    const e0 = Array.from(loader.epochOrder(0));
    const e1 = Array.from(loader.epochOrder(1));
    expect([...e0].sort((a, b) => a - b)).to.deep.equal(Array.from({ length: 30 }, (_, i) => i));
    expect(e0).to.not.deep.equal(e1);
    const seen = new Set<number>();
    for (let k = 0; k < 7; k++) for (const i of loader.batchIndices(0, k)) seen.add(i);
    expect(seen.size).to.equal(28);
    expect(new ViewLoader(generated(30), sampler(), 4, 9, { dropLast: false }).stepsPerEpoch).to.equal(8);
    expect(() => new ViewLoader(generated(3), sampler(), 4, 9)).to.throw(ConfigError, /batch_size/);
  });

  it('gives identical batches for the same seed, whatever the prefetch depth, and different ones otherwise', async () => {
    const ds = generated(24);
    const a = await collect(new ViewLoader(ds, sampler(), 6, new Rng(42), { prefetch: 0 }).batchesForEpoch(1));
    const b = await collect(new ViewLoader(ds, sampler(), 6, new Rng(42), { prefetch: 3, concurrency: 2 }).batchesForEpoch(1));
    const c = await collect(new ViewLoader(ds, sampler(), 6, new Rng(43)).batchesForEpoch(1));
    expect(a).to.deep.equal(b);
    expect(a[0].globals[0]).to.not.deep.equal(c[0].globals[0]);
  });

  it('resumes: batch (epoch 1, index 3) is the same from the start of the run or started there', async () => {
    const ds = generated(40);
    const fromStart = new ViewLoader(ds, sampler(), 5, new Rng(7));
    await collect(fromStart.batchesForEpoch(0)); // a whole epoch 0 first, as a real run would
    const epoch1 = await collect(fromStart.batchesForEpoch(1));
    const resumed = new ViewLoader(ds, sampler(), 5, new Rng(7));
    const tail = await collect(resumed.batchesForEpoch(1, 3));
    expect(tail).to.have.length(fromStart.stepsPerEpoch - 3);
    expect(tail[0]).to.deep.equal(epoch1[3]);
    expect(tail).to.deep.equal(epoch1.slice(3));
  });

  it('replaces unreadable items by the next readable index, counts them and reports each once', async () => {
    const inner = generated(20);
    const ds = new WithCorrupt(inner, new Set([4, 5, 11]));
    const reports: [string, string, number][] = [];
    const loader = new ViewLoader(ds, sampler(), 4, 2, { onSkip: (s, r, t) => reports.push([s, r, t]) });
    for (const epoch of [0, 1]) {
      for (let k = 0; k < loader.stepsPerEpoch; k++) {
        const host = await loader.loadHostBatch(epoch, k);
        expect(host.labels).to.have.length(4);
        const wanted = loader.batchIndices(epoch, k);
        host.indices.forEach((got, slot) => {
          const w = wanted[slot];
          // 4 and 5 -> 6 (next readable), 11 -> 12; the others are themselves.
          const expected = w === 4 || w === 5 ? 6 : w === 11 ? 12 : w;
          expect(got).to.equal(expected);
          expect(host.labels[slot]).to.equal(inner.labelOf(expected));
        });
        expect(host.stats.skipped).to.equal(Array.from(wanted).filter((w) => [4, 5, 11].includes(w)).length);
      }
    }
    expect(loader.skippedCount).to.equal(3);
    expect(reports.map((r) => r[0]).sort()).to.deep.equal(['item-11.jpg', 'item-4.jpg', 'item-5.jpg']);
    expect(reports.map((r) => r[2])).to.deep.equal([1, 2, 3]);
    expect(reports[0][1]).to.equal('premature end of JPEG file');
  });

  it('lets errors other than DataError through, and fails clearly when nothing is readable', async () => {
    const broken: Dataset = {
      name: 'broken', length: 4, classNames: ['a'], labelOf: () => 0,
      get: () => Promise.reject(new TypeError('bug in a dataset')),
    };
    let err: unknown;
    await new ViewLoader(broken, sampler(), 2, 1).loadHostBatch(0, 0).catch((e: unknown) => (err = e));
    expect(err).to.be.instanceOf(TypeError);
    const allBad = new WithCorrupt(generated(4), new Set([0, 1, 2, 3]));
    err = undefined;
    await new ViewLoader(allBad, sampler(), 2, 1).loadHostBatch(0, 0).catch((e: unknown) => (err = e));
    expect(err).to.be.instanceOf(DataError);
    expect((err as Error).message).to.contain('none of its 4 items');
  });

  it('prefetches ahead while the consumer holds a batch, and stopping early leaks no tensors', async () => {
    const ds = new WithCorrupt(generated(40), new Set());
    const loader = new ViewLoader(ds, sampler(), 4, 1, { prefetch: 2 });
    const before = tf.memory().numTensors;
    const it = loader.batchesForEpoch(0)[Symbol.asyncIterator]();
    const first = await it.next();
    await new Promise((r) => setTimeout(r, 20));
    // Batch 0 handed out, batches 1 and 2 being prepared: 12 items requested, not more.
    expect(ds.calls).to.equal(12);
    snapshot(first.value as ViewBatch);
    await it.return!(undefined);
    expect(tf.memory().numTensors).to.equal(before);
    loader.close();
    expect(await collect(loader.batchesForEpoch(1))).to.have.length(0);
  });

  it('works with the dino sampler at 64x64 with 2x64 + 6x36 views (the quickstart shapes)', async () => {
    const def = registry.get('views', 'dino');
    const s = def.create(def.schema.parse({ global_crop_size: 64, local_crop_size: 36 }), {});
    const loader = new ViewLoader(generated(8, 64), s, 4, 1);
    const b = await loader.loadBatch(0, 1);
    expect(b.globals.map((t) => t.shape)).to.deep.equal([[4, 64, 64, 3], [4, 64, 64, 3]]);
    expect(b.locals.map((t) => t.shape)).to.deep.equal(Array(6).fill([4, 36, 36, 3]));
    snapshot(b);
  });
});
