import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { Rng } from '../../src/core/rng';
import { kaimingNormal, kaimingUniform, truncNormal, torchFans, zeros, ones } from '../../src/nn/init';

function stats(t: tf.Tensor): { mean: number; std: number; min: number; max: number } {
  const d = t.dataSync();
  let s = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const v of d) {
    s += v;
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  const mean = s / d.length;
  let q = 0;
  for (const v of d) q += (v - mean) ** 2;
  return { mean, std: Math.sqrt(q / d.length), min, max };
}

describe('nn/init', () => {
  it('computes fans from a torch-layout shape like torch._calculate_fan_in_and_fan_out', () => {
    expect(torchFans([64, 3, 7, 7])).to.deep.equal({ fanIn: 147, fanOut: 3136 });
    expect(torchFans([32, 1, 3, 3])).to.deep.equal({ fanIn: 9, fanOut: 288 });
    expect(torchFans([10, 6])).to.deep.equal({ fanIn: 6, fanOut: 10 });
  });

  it('kaiming normal has std sqrt(2 / fan)', () => {
    const t = kaimingNormal([20000], 50, new Rng(1));
    const s = stats(t);
    expect(s.mean).to.be.closeTo(0, 0.01);
    expect(s.std).to.be.closeTo(Math.sqrt(2 / 50), 0.005);
    t.dispose();
  });

  it('kaiming uniform (torch default) stays within ±1/sqrt(fan_in) and fills it', () => {
    const t = kaimingUniform([20000], 16, new Rng(2));
    const s = stats(t);
    expect(s.min).to.be.at.least(-0.25);
    expect(s.max).to.be.below(0.25);
    expect(s.min).to.be.below(-0.24);
    expect(s.max).to.be.above(0.24);
    expect(s.std).to.be.closeTo(0.25 / Math.sqrt(3), 0.003);
    t.dispose();
  });

  it('trunc normal has std 0.02 and respects narrow bounds', () => {
    const t = truncNormal([20000], new Rng(3));
    expect(stats(t).std).to.be.closeTo(0.02, 0.0005);
    const n = truncNormal([5000], new Rng(3), { std: 1, a: -0.5, b: 0.5 });
    const s = stats(n);
    expect(s.min).to.be.at.least(-0.5);
    expect(s.max).to.be.at.most(0.5);
    tf.dispose([t, n]);
  });

  it('is deterministic from the seed and differs across seeds', () => {
    const a = kaimingNormal([100], 10, new Rng(7)).dataSync();
    const b = kaimingNormal([100], 10, new Rng(7)).dataSync();
    const c = kaimingNormal([100], 10, new Rng(8)).dataSync();
    expect(Array.from(a)).to.deep.equal(Array.from(b));
    expect(Array.from(a)).to.not.deep.equal(Array.from(c));
  });

  it('zeros and ones are float32 constants', () => {
    const z = zeros([2, 3]);
    const o = ones([4]);
    expect(z.dtype).to.equal('float32');
    expect(Array.from(z.dataSync())).to.deep.equal([0, 0, 0, 0, 0, 0]);
    expect(Array.from(o.dataSync())).to.deep.equal([1, 1, 1, 1]);
    tf.dispose([z, o]);
  });
});
