import { expect } from 'chai';
import { Matcher } from '../../../detection/ops/matcher';
import { sampleBalanced } from '../../../detection/ops/sampler';
import { Rng } from '../../../src/core/rng';

describe('detection/ops/matcher', () => {
  // 2 ground truths x 5 predictions.
  const iou = Float32Array.of(
    0.8, 0.5, 0.2, 0.0, 0.65, //
    0.1, 0.72, 0.3, 0.29, 0.65,
  );

  it('labels by interval (low end inclusive) and matches the best ground truth (first on ties)', () => {
    const m = new Matcher([0.3, 0.7], [0, -1, 1], false);
    const { matches, labels } = m.match(iou, 2, 5);
    expect(Array.from(matches)).to.deep.equal([0, 1, 1, 1, 0]);
    expect(Array.from(labels)).to.deep.equal([1, 1, -1, 0, -1]);
  });

  it("low-quality matches label every prediction at a ground truth's highest IoU, ties included", () => {
    const iou2 = Float32Array.of(
      0.8, 0.5, 0.2, 0.0, 0.65, //
      0.1, 0.6, 0.3, 0.29, 0.65,
    );
    const m = new Matcher([0.3, 0.7], [0, -1, 1], true);
    const { matches, labels } = m.match(iou2, 2, 5);
    // gt 1 peaks at 0.65 (prediction 4 only); prediction 4 keeps its first-best match, gt 0.
    expect(Array.from(labels)).to.deep.equal([1, -1, -1, 0, 1]);
    expect(Array.from(matches)).to.deep.equal([0, 1, 1, 1, 0]);
  });

  it('with no ground truth every prediction is background; bad shapes are named', () => {
    const m = new Matcher([0.5], [0, 1], false);
    const r = m.match(new Float32Array(0), 0, 3);
    expect(Array.from(r.labels)).to.deep.equal([0, 0, 0]);
    expect(Array.from(r.matches)).to.deep.equal([0, 0, 0]);
    expect(() => m.match(iou, 3, 5)).to.throw(/3 x 5/);
    expect(() => new Matcher([0.7, 0.3], [0, -1, 1], false)).to.throw(/sorted/);
    expect(() => new Matcher([0.5], [0], false)).to.throw(/labels/);
  });
});

describe('detection/ops/sampler', () => {
  it('draws min(fraction x batch, #pos) positives and fills with negatives, never ignored ones', () => {
    const labels = new Int8Array(1000).fill(0);
    for (let i = 0; i < 1000; i += 50) labels[i] = 1; // 20 positives
    for (let i = 1; i < 1000; i += 10) labels[i] = -1; // 100 ignored
    labels[7] = 3; // a class id counts as positive
    const { positive, negative } = sampleBalanced(labels, 256, 0.5, new Rng(1));
    expect(positive.length).to.equal(21);
    expect(negative.length).to.equal(256 - 21);
    for (const i of positive) expect(labels[i]).to.be.greaterThan(0);
    for (const i of negative) expect(labels[i]).to.equal(0);
    expect(new Set(negative).size).to.equal(negative.length);
    for (let i = 1; i < negative.length; i++) expect(negative[i]).to.be.greaterThan(negative[i - 1]);
  });

  it('caps positives at the fraction, is reproducible from the Rng and varies with it', () => {
    const labels = new Int8Array(500).fill(1);
    labels.fill(0, 250);
    const a = sampleBalanced(labels, 64, 0.25, new Rng(7));
    const b = sampleBalanced(labels, 64, 0.25, new Rng(7));
    const c = sampleBalanced(labels, 64, 0.25, new Rng(8));
    expect(a.positive.length).to.equal(16);
    expect(a.negative.length).to.equal(48);
    expect(Array.from(a.positive)).to.deep.equal(Array.from(b.positive));
    expect(Array.from(a.negative)).to.deep.equal(Array.from(b.negative));
    expect(Array.from(a.positive)).to.not.deep.equal(Array.from(c.positive));
    expect(() => sampleBalanced(labels, 10, 1.5, new Rng(1))).to.throw(/positiveFraction/);
  });
});
