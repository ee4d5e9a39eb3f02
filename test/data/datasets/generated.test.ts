import { expect } from 'chai';
import { registry } from '../../../src/core/registry';
import '../../../data/datasets'; // registers the dataset plugins
import type { GeneratedDataset } from '../../../data/datasets';

function make(split: 'train' | 'test', options: Record<string, unknown> = {}): GeneratedDataset {
  const def = registry.get('dataset', 'generated');
  return def.create(def.schema.parse(options), { split }) as GeneratedDataset;
}

/**
 * Rotation-invariant shape features: circular harmonics of the gradient direction (squares give
 * 4-fold, triangles 6-fold, stars 10-fold energy), the signed 2nd harmonic (horizontal vs vertical
 * stripes) and edge density.
 */
function shapeFeatures(img: Uint8Array, size: number): number[] {
  const lum = new Float64Array(size * size);
  for (let p = 0; p < size * size; p++) lum[p] = 0.299 * img[p * 3] + 0.587 * img[p * 3 + 1] + 0.114 * img[p * 3 + 2];
  const ks = [2, 4, 6, 8, 10];
  const re = new Float64Array(11), im = new Float64Array(11);
  let total = 0, strong = 0;
  for (let y = 1; y < size - 1; y++)
    for (let x = 1; x < size - 1; x++) {
      const gx = lum[y * size + x + 1] - lum[y * size + x - 1];
      const gy = lum[(y + 1) * size + x] - lum[(y - 1) * size + x];
      const m = Math.hypot(gx, gy);
      if (m < 20) continue;
      const t = Math.atan2(gy, gx);
      total += m;
      strong++;
      for (const k of ks) {
        re[k] += m * Math.cos(k * t);
        im[k] += m * Math.sin(k * t);
      }
    }
  const t = total + 1e-9;
  return [...ks.map((k) => Math.hypot(re[k], im[k]) / t), re[2] / t, strong / (size * size)];
}

describe('data/datasets/generated: built-in synthetic shapes', () => {
  it('has the documented defaults: 2000 train / 500 test images of 64x64 RGB in 10 classes', async () => {
    const train = make('train');
    const test = make('test');
    expect([train.length, test.length]).to.deep.equal([2000, 500]);
    expect(train.classNames).to.have.length(10);
    const s = await train.get(3);
    expect([s.image.width, s.image.height, s.image.data.length]).to.deep.equal([64, 64, 64 * 64 * 3]);
    expect(s.label).to.equal(train.labelOf(3));
    expect(s.source).to.equal('generated:train:3');
    expect(() => make('train', { image_sise: 32 })).to.throw();
  });

  it('is a pure function of (seed, split, index); other seeds and splits differ', () => {
    const a = make('train', { seed: 7, num_images: 50 });
    const b = make('train', { seed: 7, num_images: 50 });
    // Rendering out of order must not matter: each image has its own stream.
    const late = b.render(40).image.data;
    expect(Buffer.from(a.render(40).image.data).equals(Buffer.from(late))).to.equal(true);
    const other = make('train', { seed: 8, num_images: 50 }).render(40).image.data;
    const test = make('test', { seed: 7, num_images: 50 }).render(40).image.data;
    expect(Buffer.from(other).equals(Buffer.from(late))).to.equal(false);
    expect(Buffer.from(test).equals(Buffer.from(late))).to.equal(false);
  });

  it('has balanced labels and honours num_classes and image_size', () => {
    const ds = make('train', { num_images: 60, num_classes: 4, image_size: 32 });
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < ds.length; i++) counts[ds.labelOf(i)]++;
    expect(counts).to.deep.equal([15, 15, 15, 15]);
    expect(ds.render(0).image.width).to.equal(32);
    expect(() => ds.labelOf(60)).to.throw(RangeError);
  });

  it('has distinct classes: a nearest-centroid probe on shape features beats chance by far', () => {
    const train = make('train', { num_images: 600 });
    const test = make('test', { num_images: 300 });
    const feats = (ds: GeneratedDataset) =>
      Array.from({ length: ds.length }, (_, i) => ({ f: shapeFeatures(ds.render(i).image.data, 64), y: ds.labelOf(i) }));
    const tr = feats(train);
    const te = feats(test);
    const d = tr[0].f.length;
    const mu = new Array(d).fill(0), sd = new Array(d).fill(0);
    for (const s of tr) s.f.forEach((v, j) => (mu[j] += v / tr.length));
    for (const s of tr) s.f.forEach((v, j) => (sd[j] += (v - mu[j]) ** 2 / tr.length));
    const z = (f: number[]) => f.map((v, j) => (v - mu[j]) / Math.sqrt(sd[j] + 1e-12));
    const centroids = Array.from({ length: 10 }, () => new Array(d).fill(0));
    for (const s of tr) z(s.f).forEach((v, j) => (centroids[s.y][j] += v / (tr.length / 10)));
    let correct = 0;
    for (const s of te) {
      const q = z(s.f);
      let best = -1, bestDist = Infinity;
      centroids.forEach((c, k) => {
        const dist = c.reduce((acc, v, j) => acc + (v - q[j]) ** 2, 0);
        if (dist < bestDist) [bestDist, best] = [dist, k];
      });
      if (best === s.y) correct++;
    }
    // Chance is 0.1; these crude features reach about 0.65.
    expect(correct / te.length).to.be.above(0.4);
  });

  it('renders fast (well under 1 ms per 64x64 image on a quiet core)', () => {
    const ds = make('train');
    ds.render(0);
    const t0 = performance.now();
    for (let i = 0; i < 200; i++) ds.render(i);
    const ms = (performance.now() - t0) / 200;
    // Measured ~0.25 ms; the bound leaves room for a loaded CI machine.
    expect(ms).to.be.below(3);
  });
});
