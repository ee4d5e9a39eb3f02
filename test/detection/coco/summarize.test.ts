import { expect } from 'chai';
import { fmt3, numpySum, pairwiseSum } from '../../../detection/coco/summarize';
import { readFixture } from './fixtures';

interface Fx {
  numpySums: { n: number; sum: number; mean: number }[];
  format3: { x: number; s: string }[];
}

describe('detection/coco summarize arithmetic vs numpy / Python', () => {
  const ref = readFixture<Fx>('mask_ops.json');
  /** The sequence make_reference.py sums (no transcendental functions, so both sides agree exactly). */
  const seq = (n: number) => Float64Array.from({ length: n }, (_, i) => ((i * 7919) % 1013) / 1013.0 + 1e-3 * (((i * 31) % 17) / 17.0));

  it('sums and averages bit for bit like numpy (pairwise within 8192-value blocks)', () => {
    for (const c of ref.numpySums) {
      const a = seq(c.n);
      expect(numpySum(a), `sum n=${c.n}`).to.equal(c.sum);
      expect(numpySum(a) / c.n, `mean n=${c.n}`).to.equal(c.mean);
    }
  });

  it('differs from a single pairwise pass on long inputs (the block structure matters)', () => {
    const long = ref.numpySums.filter((c) => c.n > 8192).some((c) => pairwiseSum(seq(c.n), 0, c.n) !== c.sum);
    expect(long).to.equal(true);
  });

  it("formats like Python's {:0.3f} (round half to even on exact ties)", () => {
    for (const c of ref.format3) expect(fmt3(c.x), String(c.x)).to.equal(c.s);
  });
});
