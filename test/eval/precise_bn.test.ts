import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { Rng } from '../../src/core/rng';
import { BatchNorm2d } from '../../src/nn/batchnorm';
import { Conv2d } from '../../src/nn/conv2d';
import { recomputeBatchNormStats } from '../../src/eval/precise_bn';
import type { LabelledImageBatch } from '../../src/eval/features';
import { expectClose } from '../helpers/reference';
import { ToyBackbone } from '../helpers/toy_backbone';

function images(n: number, seed: number, shift: number): tf.Tensor4D {
  const rng = new Rng(seed);
  return tf.tensor4d(Float32Array.from({ length: n * 5 * 5 * 3 }, () => rng.normal() * 2 + shift), [n, 5, 5, 3]);
}

async function* batches(list: tf.Tensor4D[]): AsyncIterable<LabelledImageBatch> {
  for (const images of list) yield { images, labels: new Int32Array(images.shape[0]) };
}

describe('eval/precise_bn: BN statistics averaged over batches (PreciseBN)', () => {
  it('sets running mean / unbiased variance to the average of the per-batch statistics, and restores mode and momentum', async () => {
    const net = new ToyBackbone(new Rng(3));
    const conv = net.modules().find((m): m is Conv2d => m instanceof Conv2d)!;
    const bn = net.modules().find((m): m is BatchNorm2d => m instanceof BatchNorm2d)!;
    const shapes: Array<[number, number, number]> = [[4, 1, 0], [3, 2, 1.5], [5, 3, -1]];
    // Expected: per batch, the conv output's mean and unbiased variance over N, H, W; then the plain mean.
    const expMean = new Float64Array(6);
    const expVar = new Float64Array(6);
    for (const [n, seed, shift] of shapes) {
      const h = tf.tidy(() => conv.forward(images(n, seed, shift)));
      const m = n * 5 * 5;
      const { mean, variance } = tf.moments(h, [0, 1, 2]);
      const mu = mean.dataSync();
      const v = variance.dataSync();
      for (let c = 0; c < 6; c++) {
        expMean[c] += mu[c] / shapes.length;
        expVar[c] += (v[c] * m) / (m - 1) / shapes.length;
      }
      tf.dispose([h, mean, variance]);
    }
    net.eval();
    const before = tf.memory().numTensors;
    const r = await recomputeBatchNormStats(net, batches(shapes.map(([n, seed, shift]) => images(n, seed, shift))));
    expect(r).to.deep.equal({ layers: 1, images: 12 });
    expect(tf.memory().numTensors).to.equal(before); // batches disposed, nothing left behind
    expectClose(Array.from(bn.runningMean.dataSync()), Array.from(expMean), { rtol: 1e-4, atol: 1e-5, what: 'running_mean' });
    expectClose(Array.from(bn.runningVar.dataSync()), Array.from(expVar), { rtol: 1e-4, atol: 1e-5, what: 'running_var' });
    expect(net.training).to.equal(false);
    expect(bn.momentum).to.equal(0.1);
    net.dispose();
  });

  it('puts the old statistics back when a batch fails half-way', async () => {
    const net = new ToyBackbone(new Rng(4));
    const bn = net.modules().find((m): m is BatchNorm2d => m instanceof BatchNorm2d)!;
    const mean0 = Array.from(bn.runningMean.dataSync());
    async function* failing(): AsyncIterable<LabelledImageBatch> {
      yield { images: images(4, 1, 3), labels: new Int32Array(4) };
      throw new Error('disk went away');
    }
    let err: Error | null = null;
    try {
      await recomputeBatchNormStats(net, failing());
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.equal('disk went away');
    expect(Array.from(bn.runningMean.dataSync())).to.deep.equal(mean0);
    expect(bn.momentum).to.equal(0.1);
    expect(net.training).to.equal(true);
    net.dispose();
  });
});
