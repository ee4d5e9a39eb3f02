import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { Rng } from '../../src/core/rng';
import { ConfigError } from '../../src/core/errors';
import { selectBackend } from '../../src/core/backend';
import { ensureGradients } from '../../src/nn/gradients';
import { LinearProbe, crossEntropy } from '../../src/eval/linear_probe';
import type { Module } from '../../src/nn/module';
import { expectClose } from '../helpers/reference';
import '../../plugins/optimizers';
import { ToyBackbone } from '../helpers/toy_backbone';

const CLASSES = 3;

/** Linearly separable toy images: noise, with the colour channel of the class raised. */
function toyBatch(n: number, seed: number, size = 16): { x: tf.Tensor4D; y: Int32Array } {
  const rng = new Rng(seed);
  const data = new Float32Array(n * size * size * 3);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % CLASSES;
    y[i] = c;
    // A per-image brightness offset keeps the classes apart only through colour, not intensity.
    const offset = rng.normal();
    for (let p = 0; p < size * size; p++) {
      for (let k = 0; k < 3; k++) data[(i * size * size + p) * 3 + k] = rng.normal() + offset + (k === c ? 0.7 : 0);
    }
  }
  return { x: tf.tensor4d(data, [n, size, size, 3]), y };
}

function snapshot(m: Module): Map<string, Float32Array> {
  return new Map([...m.stateTensors()].map(([k, { tensor }]) => [k, Float32Array.from(tensor.dataSync())]));
}

describe('eval/linear_probe', function () {
  this.timeout(60000);
  let backbone: ToyBackbone;
  let train: { x: tf.Tensor4D; y: Int32Array };
  let test: { x: tf.Tensor4D; y: Int32Array };
  before(async () => {
    await ensureGradients();
    // A small frozen CNN (3 -> 16 -> 32, the second stage at stride 2). A random-init MobileNetV2
    // is no use here: in eval mode, with running statistics that do not match its activations,
    // its pooled features come out input-independent.
    backbone = new ToyBackbone(new Rng(0), { widths: [16, 32], strides: [1, 2], init: 'kaiming_normal' });
    train = toyBatch(48, 1);
    test = toyBatch(48, 2);
    // Stand-in for a pre-trained backbone: train-mode forwards set the BN running statistics.
    backbone.train();
    for (let i = 0; i < 20; i++) tf.tidy(() => backbone.forward(train.x));
  });
  after(() => {
    backbone.dispose();
    tf.dispose([train.x, test.x]);
  });

  const sgd = { name: 'sgd', lr: 2.0, momentum: 0.9, weight_decay: 0, scale_lr_by_batch: false };

  it('trains the classifier only: loss falls, accuracy beats chance, backbone untouched, no leaks', () => {
    backbone.train(); // the probe must put it in eval mode itself
    const before = snapshot(backbone);
    const probe = new LinearProbe(backbone, { numClasses: CLASSES, optimizer: sgd, batchSize: 48, epochs: 1, stepsPerEpoch: 40, rng: new Rng(3) });
    expect(backbone.training).to.equal(false);
    const acc0 = probe.accuracy(test.x, test.y);
    const losses = [probe.step(train.x, train.y)];
    const tensors = tf.memory().numTensors; // optimizer slots exist after the first step
    for (let i = 0; i < 29; i++) losses.push(probe.step(train.x, train.y));
    expect(tf.memory().numTensors).to.equal(tensors);
    expect(probe.steps).to.equal(30);
    expect(losses[0]).to.be.closeTo(Math.log(CLASSES), 0.05); // N(0, 0.01) weights: near-uniform logits
    expect(losses[29]).to.be.lessThan(0.5 * losses[0]);
    const acc = probe.accuracy(test.x, test.y);
    expect(acc, `accuracy ${acc0} -> ${acc}`).to.be.greaterThan(0.8);
    // Frozen: every parameter and BN running statistic of the backbone is bit-identical.
    for (const [k, v] of snapshot(backbone)) expect(Array.from(v), k).to.deep.equal(Array.from(before.get(k)!));
    expect(probe.optimizer.tensorState!().size).to.equal(2); // momentum for linear.weight and linear.bias only
    probe.dispose();
  });

  it('trains with LARS from the registry (the paper’s optimizer for CNNs)', () => {
    const probe = new LinearProbe(backbone, {
      numClasses: CLASSES,
      optimizer: { name: 'lars', lr: 60, warmup_epochs: 0 },
      batchSize: 48,
      epochs: 1,
      stepsPerEpoch: 100,
      rng: new Rng(3),
    });
    const first = probe.step(train.x, train.y);
    let last = first;
    for (let i = 0; i < 29; i++) last = probe.step(train.x, train.y);
    // Slow by design: LARS scales the weight's step by eta * ||w|| / ||g|| (eta 1e-3) and the
    // probe starts from N(0, 0.01) weights, as DINO's eval_linear does (1.10 -> 1.02 here).
    expect(last).to.be.lessThan(0.95 * first);
    expect(probe.optimizer.name).to.equal('lars');
    probe.dispose();
  });

  it('optionally normalises features with BatchNorm1d without affine (running stats used in eval)', () => {
    const probe = new LinearProbe(backbone, { numClasses: CLASSES, optimizer: sgd, batchSize: 48, epochs: 1, stepsPerEpoch: 10, bn: true, rng: new Rng(3) });
    const names = probe.classifier.namedParameters().map((p) => p.name);
    expect(names).to.deep.equal(['linear.weight', 'linear.bias']);
    expect(probe.classifier.namedBuffers().map((b) => b.name)).to.deep.equal(['bn.running_mean', 'bn.running_var', 'bn.num_batches_tracked']);
    const losses: number[] = [];
    for (let i = 0; i < 10; i++) losses.push(probe.step(train.x, train.y));
    expect(probe.classifier.bn!.numBatchesTracked.dataSync()[0]).to.equal(10);
    probe.accuracy(test.x, test.y);
    expect(probe.classifier.bn!.numBatchesTracked.dataSync()[0], 'eval does not update').to.equal(10);
    expect(probe.classifier.training).to.equal(true);
    expect(losses[9]).to.be.lessThan(losses[0]);
    probe.dispose();
  });

  it('computes features in chunks that equal one full-batch forward', () => {
    const whole = new LinearProbe(backbone, { numClasses: CLASSES, optimizer: sgd, batchSize: 48, epochs: 1, stepsPerEpoch: 1, rng: new Rng(0) });
    const chunked = new LinearProbe(backbone, { numClasses: CLASSES, optimizer: sgd, batchSize: 48, epochs: 1, stepsPerEpoch: 1, featureChunk: 20, rng: new Rng(0) });
    const a = whole.features(train.x);
    const before = tf.memory().numTensors;
    const b = chunked.features(train.x);
    expect(tf.memory().numTensors).to.equal(before + 1);
    expect(b.shape).to.deep.equal([48, 32]);
    expectClose(b.dataSync(), a.dataSync(), { rtol: 1e-6, atol: 1e-7 });
    tf.dispose([a, b]);
    expect(() => new LinearProbe(backbone, { numClasses: CLASSES, optimizer: sgd, batchSize: 48, epochs: 1, stepsPerEpoch: 1, featureChunk: 0, rng: new Rng(0) })).to.throw(ConfigError);
    whole.dispose();
    chunked.dispose();
  });

  it('computes the cross-entropy of torch.nn.functional.cross_entropy', () => {
    // torch: F.cross_entropy(tensor([[1., 2., 3.], [0., 0., 5.]]), tensor([0, 2])) = 1.2120...
    const v = tf.tidy(() => crossEntropy(tf.tensor2d([[1, 2, 3], [0, 0, 5]]), tf.cast(tf.oneHot(tf.tensor1d([0, 2], 'int32'), 3), 'float32') as tf.Tensor2D));
    const expected = (-Math.log(Math.exp(1) / (Math.exp(1) + Math.exp(2) + Math.exp(3))) - Math.log(Math.exp(5) / (2 + Math.exp(5)))) / 2;
    expect(v.dataSync()[0]).to.be.closeTo(expected, 1e-6);
    v.dispose();
  });

  it('gives the same steps on wasm (our kernels) as on cpu', async () => {
    const run = () => {
      const probe = new LinearProbe(backbone, { numClasses: CLASSES, optimizer: sgd, batchSize: 48, epochs: 1, stepsPerEpoch: 3, rng: new Rng(5) });
      const l = [0, 1, 2].map(() => probe.step(train.x, train.y));
      probe.dispose();
      return l;
    };
    const cpu = run();
    try {
      await selectBackend('wasm');
      const wasm = run();
      wasm.forEach((l, i) => expect(l, `step ${i}`).to.be.closeTo(cpu[i], 1e-4 * cpu[i]));
    } finally {
      await tf.setBackend('cpu');
    }
  });

  it('reports bad optimizer names, options and labels', () => {
    const base = { numClasses: CLASSES, batchSize: 8, epochs: 1, stepsPerEpoch: 1, rng: new Rng(0) };
    expect(() => new LinearProbe(backbone, { ...base, optimizer: { name: 'adagrad' } })).to.throw(
      ConfigError,
      /'optimizer.name'.*no optimizer plugin 'adagrad' \(known: .*lars.*sgd\)/,
    );
    let err: unknown;
    try {
      new LinearProbe(backbone, { ...base, optimizer: { name: 'sgd', momentum: 2 } });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(ConfigError);
    expect((err as Error).message).to.include("'optimizer.momentum'");
    expect(() => new LinearProbe(backbone, { ...base, numClasses: 1 })).to.throw(ConfigError);
    const probe = new LinearProbe(backbone, { ...base, optimizer: sgd });
    const x = tf.zeros([2, 16, 16, 3]) as tf.Tensor4D;
    expect(() => probe.step(x, [0, 3])).to.throw(/label 3 is not in \[0, 3\)/);
    expect(() => probe.step(x, [0])).to.throw(/1 labels for a batch of 2/);
    x.dispose();
    probe.dispose();
  });
});
