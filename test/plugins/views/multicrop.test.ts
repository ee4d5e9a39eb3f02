import { expect } from 'chai';
import { registry } from '../../../src/core/registry';
import { Rng } from '../../../src/core/rng';
import '../../../plugins/views'; // registers dino and sslight
import { MultiCropSampler, meanPsRatio, pixelScaleStats, viewsMontage } from '../../../plugins/views';
import type { RawImage } from '../../../src/core/interfaces';
import { loadReference } from '../../helpers/reference';

function makeSampler(name: 'dino' | 'sslight', options: Record<string, unknown> = {}): MultiCropSampler {
  const def = registry.get('views', name);
  return def.create(def.schema.parse(options), {}) as MultiCropSampler;
}

function noiseImage(width: number, height: number, seed: number): RawImage {
  const rng = new Rng(seed);
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = rng.int(0, 255);
  return { width, height, data };
}

interface PsRatioRef {
  S_g: number;
  GC: number;
  LC: number;
  'mean_of_ratio_E[PS_g/PS_l]_independent_pairs': { mean: number; stderr_of_mean: number };
}

describe('plugins/views: dino and sslight multi-crop samplers', () => {
  it('registers both with the paper defaults', () => {
    const dino = makeSampler('dino').config;
    expect([dino.nGlobal, dino.nLocal, dino.globalSize, dino.localSize]).to.deep.equal([2, 6, 224, 96]);
    expect(dino.globalScale).to.deep.equal([0.14, 1]);
    expect(dino.localScale).to.deep.equal([0.05, 0.14]);
    const ssl = makeSampler('sslight');
    expect([ssl.config.nGlobal, ssl.config.nLocal, ssl.config.globalSize, ssl.config.localSize]).to.deep.equal([2, 6, 224, 128]);
    expect(ssl.config.globalScale).to.deep.equal([0.3, 1]);
    expect(ssl.config.localScale).to.deep.equal([0.05, 0.3]);
    expect(ssl.recommendedAlpha).to.equal(0.4);
    // DINO's photometric defaults, shared by both.
    for (const c of [dino, ssl.config]) {
      expect(c.jitter).to.deep.equal({ brightness: 0.4, contrast: 0.4, saturation: 0.2, hue: 0.1 });
      expect([c.colorJitterP, c.grayscaleP, c.flipP, c.localBlurP]).to.deep.equal([0.8, 0.2, 0.5, 0.5]);
      expect(c.globalBlurP).to.deep.equal([1, 0.1]);
      expect(c.globalSolarizeP).to.deep.equal([0, 0.2]);
      expect(c.blurSigma).to.deep.equal([0.1, 2]);
    }
  });

  it('takes every knob as a snake_case key and rejects unknown or invalid ones', () => {
    const s = makeSampler('sslight', {
      global_crop_size: 32,
      local_crop_size: 18,
      global_crop_scale: [0.4, 1],
      local_crop_scale: [0.1, 0.4],
      n_local: 4,
      crop_ratio: [0.5, 2],
      interpolation: 'bilinear',
      grayscale_p: 0,
    });
    expect([s.globalSize, s.localSize, s.nGlobal, s.nLocal]).to.deep.equal([32, 18, 2, 4]);
    expect(s.config.ratio).to.deep.equal([0.5, 2]);
    // Blur sigmas follow the global view size (224 -> 32 divides DINO's 0.1-2.0 by 7) unless
    // the reference size is the view size itself.
    expect(s.config.blurSigma[0]).to.be.closeTo(0.1 / 7, 1e-12);
    expect(s.config.blurSigma[1]).to.be.closeTo(2 / 7, 1e-12);
    const absolute = makeSampler('sslight', { global_crop_size: 32, blur_reference_size: 32, blur_sigma: [0.5, 1] });
    expect(absolute.config.blurSigma).to.deep.equal([0.5, 1]);
    const schema = registry.get('views', 'dino').schema;
    expect(schema.safeParse({ local_crop_sise: 18 }).success, 'typo in a key').to.equal(false);
    expect(schema.safeParse({ global_crop_scale: [0.9, 0.2] }).success, 'low > high').to.equal(false);
    expect(schema.safeParse({ local_crop_scale: [0, 0.2] }).success, 'zero scale').to.equal(false);
    expect(schema.safeParse({ grayscale_p: 1.5 }).success, 'probability > 1').to.equal(false);
  });

  it('makes Ng globals and Nl locals of the configured sizes, each with its eq. 1 pixel scale', () => {
    const s = makeSampler('sslight', { global_crop_size: 64, local_crop_size: 36 });
    const img = noiseImage(64, 48, 1);
    const plans = s.plan(img.width, img.height, new Rng(7));
    const v = s.sample(img, new Rng(7));
    expect(v.globals).to.have.length(2);
    expect(v.locals).to.have.length(6);
    for (const g of v.globals) expect(g.length).to.equal(64 * 64 * 3);
    for (const l of v.locals) expect(l.length).to.equal(36 * 36 * 3);
    const expected = plans.map((p) => p.size ** 2 / (p.box.width * p.box.height));
    expect([...v.globalPixelScales, ...v.localPixelScales]).to.deep.equal(expected);
    for (const view of [...v.globals, ...v.locals]) {
      for (const x of view) expect(Number.isFinite(x)).to.equal(true);
    }
  });

  it('is deterministic given the rng, and different rngs give different views', () => {
    const s = makeSampler('dino', { global_crop_size: 32, local_crop_size: 16 });
    const img = noiseImage(40, 40, 2);
    const a = s.sample(img, new Rng(11));
    const b = s.sample(img, new Rng(11));
    const c = s.sample(img, new Rng(12));
    expect(a).to.deep.equal(b);
    expect(Buffer.from(a.globals[0].buffer).equals(Buffer.from(c.globals[0].buffer))).to.equal(false);
  });

  it('with every augmentation off, a full-image global view is the normalised resized image', () => {
    const s = makeSampler('dino', {
      global_crop_size: 8,
      local_crop_size: 4,
      n_local: 1,
      global_crop_scale: [1, 1],
      crop_ratio: [1, 1],
      flip_p: 0,
      color_jitter_p: 0,
      grayscale_p: 0,
      global_blur_p: [0],
      local_blur_p: 0,
      global_solarize_p: [0],
      mean: [0, 0, 0],
      std: [1, 1, 1],
    });
    const img = noiseImage(8, 8, 3);
    const v = s.sample(img, new Rng(1));
    expect(v.globalPixelScales).to.deep.equal([1, 1]);
    const expected = Array.from(img.data, (x) => x / 255);
    for (const g of v.globals) expect(Array.from(g).every((x, i) => Math.abs(x - expected[i]) < 1e-6)).to.equal(true);
  });

  it('viewsMontage lays the views side by side and undoes the normalisation', () => {
    const s = makeSampler('dino', {
      global_crop_size: 8, local_crop_size: 4, n_local: 2, global_crop_scale: [1, 1], crop_ratio: [1, 1],
      flip_p: 0, color_jitter_p: 0, grayscale_p: 0, global_blur_p: [0], local_blur_p: 0, global_solarize_p: [0],
    });
    const img = noiseImage(8, 8, 4);
    const m = viewsMontage(s.sample(img, new Rng(2)), 8, 4, s.config.mean, s.config.std, 1);
    expect([m.width, m.height]).to.deep.equal([8 + 1 + 8 + 1 + 4 + 1 + 4, 8]);
    // The second global is the whole image: its tile (columns 9..16) is the source, +-1 level.
    for (let y = 0; y < 8; y++)
      for (let x = 0; x < 8; x++)
        for (let c = 0; c < 3; c++)
          expect(Math.abs(m.data[(y * m.width + 9 + x) * 3 + c] - img.data[(y * 8 + x) * 3 + c])).to.be.at.most(1);
    expect(m.data[(0 * m.width + 8) * 3]).to.equal(255); // padding
    expect(m.data[(7 * m.width + 18) * 3]).to.equal(255); // below a 4 px local tile
  });

  it('draws blur, solarisation, flip, jitter and grayscale with DINO probabilities per view', () => {
    const s = makeSampler('dino');
    const rng = new Rng(5);
    const n = 4000;
    const count = { blur: [0, 0, 0], sol: [0, 0, 0], flip: 0, jitter: 0, gray: 0 };
    for (let i = 0; i < n; i++) {
      const plans = s.plan(100, 80, rng);
      plans.forEach((p, k) => {
        const slot = k < 2 ? k : 2;
        if (p.blurSigma !== null) {
          count.blur[slot]++;
          expect(p.blurSigma).to.be.within(0.1, 2.0);
        }
        if (p.solarize) count.sol[slot]++;
        if (p.flip) count.flip++;
        if (p.jitter) count.jitter++;
        if (p.grayscale) count.gray++;
      });
    }
    const views = n * 8;
    const near = (hits: number, trials: number, p: number, what: string) =>
      expect(Math.abs(hits / trials - p), what).to.be.at.most(4 * Math.sqrt((p * (1 - p)) / trials) + 1e-12);
    near(count.blur[0], n, 1.0, 'blur first global');
    near(count.blur[1], n, 0.1, 'blur second global');
    near(count.blur[2], n * 6, 0.5, 'blur locals');
    near(count.sol[0], n, 0, 'solarize first global');
    near(count.sol[1], n, 0.2, 'solarize second global');
    near(count.sol[2], n * 6, 0, 'solarize locals');
    near(count.flip, views, 0.5, 'flip');
    near(count.jitter, views, 0.8, 'color jitter');
    near(count.gray, views, 0.2, 'grayscale');
  });

  it('meanPsRatio averages PS_g / PS_l over each global-local pair of the same image', () => {
    const r = meanPsRatio([
      { globalPixelScales: [1, 2], localPixelScales: [1, 4] },
      { globalPixelScales: [3], localPixelScales: [3] },
    ]);
    // Pairs: 1/1, 1/4, 2/1, 2/4 and 3/3.
    expect(r).to.be.closeTo((1 + 0.25 + 2 + 0.5 + 1) / 5, 1e-12);
    expect(meanPsRatio([{ globalPixelScales: [1], localPixelScales: [] }])).to.be.NaN;
  });

  // Knob 2 of the paper: with sslight's crop scales, LC 128 vs GC 224 puts mean(PS_g / PS_l) near
  // 1, while DINO's defaults sit at ~1.39; reference values from ../shared/reference/multicrop.json
  // (`ps_ratios`, mean_of_ratio over independent pairs on a 500x375 image).
  describe('mean PS_g / PS_l against reference/multicrop.json', () => {
    const ref = loadReference<{ ps_ratios: PsRatioRef[] }>('multicrop');
    const cases: { name: 'dino' | 'sslight'; options: Record<string, unknown>; GC: number; LC: number; S: number }[] = [
      { name: 'sslight', options: {}, GC: 224, LC: 128, S: 0.3 },
      { name: 'dino', options: {}, GC: 224, LC: 96, S: 0.14 },
      { name: 'dino', options: { local_crop_size: 103 }, GC: 224, LC: 103, S: 0.14 },
    ];
    for (const c of cases) {
      it(`${c.name} GC/LC ${c.GC}/${c.LC}, S = ${c.S}`, function () {
        if (!ref) this.skip();
        const r = ref!.ps_ratios.find((p) => p.GC === c.GC && p.LC === c.LC && p.S_g === c.S)!;
        const want = r['mean_of_ratio_E[PS_g/PS_l]_independent_pairs'];
        const s = makeSampler(c.name, c.options);
        const rng = new Rng(99);
        // Per-image ratios are averages over correlated pairs, so the stderr comes from the
        // spread of per-image values, not of pairs.
        const n = 20000;
        const perImage = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          const plans = s.plan(500, 375, rng);
          perImage[i] = meanPsRatio([
            {
              globalPixelScales: plans.filter((p) => p.kind === 'global').map((p) => p.pixelScale),
              localPixelScales: plans.filter((p) => p.kind === 'local').map((p) => p.pixelScale),
            },
          ]);
        }
        let mean = 0;
        for (const x of perImage) mean += x;
        mean /= n;
        let v = 0;
        for (const x of perImage) v += (x - mean) ** 2;
        const stderr = Math.sqrt(v / (n - 1) / n);
        const tol = 4 * Math.sqrt(stderr ** 2 + want.stderr_of_mean ** 2);
        expect(Math.abs(mean - want.mean), `ours ${mean}, reference ${want.mean} +- ${tol}`).to.be.below(tol);
        if (c.name === 'sslight') expect(mean).to.be.closeTo(1.0, 0.1);
      });
    }
  });

  it('pixelScaleStats suggests the local size that balances PS_g / PS_l, and that size does', () => {
    const dino = makeSampler('dino');
    const stats = pixelScaleStats(dino, 500, 375, 20000, new Rng(8));
    // multicrop.json: E[PS_g / PS_l] = 1.3945 for 224/96 at S = 0.14 on 500x375.
    expect(stats.meanOfRatio).to.be.closeTo(1.3945, 4 * Math.sqrt(stats.stderr ** 2 + 0.0019 ** 2));
    expect(stats.meanGlobal).to.be.closeTo(0.7215, 0.01);
    expect(stats.meanLocal).to.be.closeTo(0.562, 0.01);
    const lc = Math.round(stats.balancedLocalSize);
    expect(lc).to.be.within(110, 116);
    const balanced = pixelScaleStats(makeSampler('dino', { local_crop_size: lc }), 500, 375, 20000, new Rng(9));
    expect(balanced.meanOfRatio).to.be.closeTo(1, 0.03);
  });
});
