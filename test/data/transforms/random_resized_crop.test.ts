import { expect } from 'chai';
import { Rng } from '../../../src/core/rng';
import { roundHalfEven, sampleCropBox, type CropBox } from '../../../data/transforms/random_resized_crop';
import { loadReference } from '../../helpers/reference';

interface Stat {
  mean: number;
  std: number;
  stderr_of_mean: number;
}
interface Dist {
  scale: [number, number];
  ratio: [number, number];
  n_samples: number;
  area_fraction: Stat;
  area_fraction_histogram_10_bins_0_to_1: { counts: number[] };
  crop_w: Stat;
  crop_h: Stat;
  aspect_w_over_h: Stat;
  crop_center_x: Stat;
  crop_center_y: Stat;
  attempts_mean: number;
  first_attempt_accept_rate: number;
}
interface MultiCropRef {
  image: { W: number; H: number };
  distributions: Record<string, Dist>;
}

/** Mean and standard error of a sample. */
function meanAndStderr(xs: Float64Array): { mean: number; stderr: number } {
  let m = 0;
  for (const x of xs) m += x;
  m /= xs.length;
  let v = 0;
  for (const x of xs) v += (x - m) * (x - m);
  v /= xs.length - 1;
  return { mean: m, stderr: Math.sqrt(v / xs.length) };
}

// Reference: ../shared/reference/multicrop.json (torchvision 0.14 RandomResizedCrop, 200k draws
// per distribution on a 500x375 image). Its `how_to_check`: accept a mean when
// |m_ts - m| < 4 sqrt(s_ref^2 + s_ts^2); chi-square for the 10-bin area histogram.
describe('data/transforms/random_resized_crop: torchvision statistics (reference/multicrop.json)', () => {
  const ref = loadReference<MultiCropRef>('multicrop');
  const N = 100000;

  for (const name of ['global_0.3', 'local_0.3', 'global_0.14', 'local_0.14']) {
    it(`matches ${name}: box size, aspect, centre, attempts and area histogram`, function () {
      if (!ref) this.skip();
      const d = ref!.distributions[name];
      const { W, H } = ref!.image;
      const rng = new Rng(1234);
      const area = new Float64Array(N), w = new Float64Array(N), h = new Float64Array(N);
      const aspect = new Float64Array(N), cx = new Float64Array(N), cy = new Float64Array(N);
      const attempts = new Float64Array(N);
      const hist = new Array(10).fill(0);
      let firstTry = 0;
      let outside = 0;
      for (let i = 0; i < N; i++) {
        const b: CropBox = sampleCropBox(W, H, d.scale, d.ratio, rng);
        area[i] = (b.width * b.height) / (W * H);
        w[i] = b.width;
        h[i] = b.height;
        aspect[i] = b.width / b.height;
        cx[i] = b.left + b.width / 2;
        cy[i] = b.top + b.height / 2;
        attempts[i] = b.attempts === 0 ? 10 : b.attempts;
        if (b.attempts === 1) firstTry++;
        hist[Math.min(9, Math.floor(area[i] * 10))]++;
        if (b.left < 0 || b.top < 0 || b.left + b.width > W || b.top + b.height > H) outside++;
      }
      expect(outside, 'boxes reaching outside the image').to.equal(0);
      const checks: [string, Float64Array, Stat][] = [
        ['area_fraction', area, d.area_fraction],
        ['crop_w', w, d.crop_w],
        ['crop_h', h, d.crop_h],
        ['aspect_w_over_h', aspect, d.aspect_w_over_h],
        ['crop_center_x', cx, d.crop_center_x],
        ['crop_center_y', cy, d.crop_center_y],
      ];
      for (const [stat, xs, r] of checks) {
        const { mean, stderr } = meanAndStderr(xs);
        const tol = 4 * Math.sqrt(r.stderr_of_mean ** 2 + stderr ** 2);
        expect(Math.abs(mean - r.mean), `${name} ${stat}: ours ${mean}, torchvision ${r.mean}, tol ${tol}`).to.be.below(tol);
      }
      // Attempts: a count in 1..10, so its stderr is at most ~sqrt(var/N); derived from our sample.
      const at = meanAndStderr(attempts);
      const atRefStderr = at.stderr * Math.sqrt(N / d.n_samples);
      expect(Math.abs(at.mean - d.attempts_mean)).to.be.below(4 * Math.sqrt(at.stderr ** 2 + atRefStderr ** 2) + 1e-9);
      const p = d.first_attempt_accept_rate;
      const pTol = 4 * Math.sqrt((p * (1 - p)) / N + (p * (1 - p)) / d.n_samples) + 1e-9;
      expect(Math.abs(firstTry / N - p), `${name} first-attempt accept rate`).to.be.below(pTol);

      // Chi-square of our histogram against the reference proportions (bins with expected >= 5).
      const refCounts = d.area_fraction_histogram_10_bins_0_to_1.counts;
      let chi2 = 0;
      let dof = -1;
      for (let k = 0; k < 10; k++) {
        const expected = (refCounts[k] / d.n_samples) * N;
        if (expected < 5) {
          expect(hist[k], `${name} bin ${k} is (almost) empty in torchvision`).to.be.below(5 + expected * 4);
          continue;
        }
        chi2 += (hist[k] - expected) ** 2 / expected;
        dof++;
      }
      // 99.9% quantile of chi-square with <= 9 dof is < 28; the reference's own noise adds ~30%.
      expect(chi2, `${name} area histogram chi2 with ${dof} dof`).to.be.below(28 * 1.3);
    });
  }

  it('falls back to the centred largest box with clamped aspect when all ten tries fail', () => {
    // A 10x400 strip cannot hold any box with area >= 0.9 and aspect in [3/4, 4/3].
    const b = sampleCropBox(10, 400, [0.9, 1.0], [3 / 4, 4 / 3], new Rng(5));
    expect(b).to.deep.equal({ top: Math.floor((400 - 13) / 2), left: 0, height: 13, width: 10, attempts: 0 });
    const wide = sampleCropBox(400, 10, [0.9, 1.0], [3 / 4, 4 / 3], new Rng(5));
    expect(wide).to.deep.equal({ top: 0, left: Math.floor((400 - 13) / 2), height: 10, width: 13, attempts: 0 });
  });

  it('rounds halves to even like Python round()', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, 2.6].map(roundHalfEven)).to.deep.equal([0, 2, 2, -0, -2, 2, 3]);
  });

  it('is deterministic for a seed', () => {
    const a = Array.from({ length: 20 }, (_, i) => sampleCropBox(64, 64, [0.3, 1], [0.75, 4 / 3], new Rng(i)));
    const b = Array.from({ length: 20 }, (_, i) => sampleCropBox(64, 64, [0.3, 1], [0.75, 4 / 3], new Rng(i)));
    expect(a).to.deep.equal(b);
  });
});
