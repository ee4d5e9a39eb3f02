import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { Rng } from '../../../src/core/rng';
import { registry } from '../../../src/core/registry';
import { ensureGradients } from '../../../src/nn/gradients';
import { moduleStateDict } from '../../../src/nn/state_dict';
import { countMacs } from '../../../src/nn/macs';
import { BasicBlock, Bottleneck, ResNet, resNetChannels } from '../../../plugins/backbones';
import { backboneRef } from './common';

describe('plugins/backbones/resnet', () => {
  for (const depth of [18, 34, 50] as const) {
    it(`resnet${depth} has torchvision's parameter count, feature size and MACs at 32x32 (reference/backbones.json)`, function () {
      const ref = backboneRef(`resnet${depth}`);
      if (!ref) this.skip();
      const net = new ResNet({ depth }, new Rng(0));
      expect(net.numParameters()).to.equal(ref!.params);
      expect(net.featureDim).to.equal(ref!.feature_dim);
      net.eval(); // batch 1 reaches 1x1 maps, where training-mode BN has one value per channel
      const x = tf.zeros([1, 32, 32, 3]) as tf.Tensor4D;
      expect(countMacs(() => tf.dispose(net.forward(x)))).to.equal(ref!.macs_32);
      x.dispose();
      net.dispose();
    });
  }

  it('uses torchvision state-dict names and PyTorch shapes', () => {
    const net = new ResNet({ depth: 18 }, new Rng(0));
    const sd = moduleStateDict(net);
    // torchvision resnet18 has 122 keys; fc.weight and fc.bias are not ours
    expect(sd.size).to.equal(120);
    const shapes: Record<string, number[]> = {
      'conv1.weight': [64, 3, 7, 7],
      'bn1.running_mean': [64],
      'layer1.0.conv1.weight': [64, 64, 3, 3],
      'layer1.1.bn2.num_batches_tracked': [],
      'layer2.0.conv1.weight': [128, 64, 3, 3],
      'layer2.0.downsample.0.weight': [128, 64, 1, 1],
      'layer2.0.downsample.1.running_var': [128],
      'layer4.1.bn2.bias': [512],
    };
    for (const [k, s] of Object.entries(shapes)) {
      expect(sd.has(k), k).to.equal(true);
      expect(sd.get(k)!.shape, k).to.deep.equal(s);
    }
    expect(sd.has('layer1.0.downsample.0.weight')).to.equal(false);
    net.dispose();
    const r50 = moduleStateDict(new ResNet({ depth: 50 }, new Rng(0)));
    expect(r50.get('layer1.0.conv3.weight')!.shape).to.deep.equal([256, 64, 1, 1]);
    expect(r50.get('layer1.0.downsample.0.weight')!.shape).to.deep.equal([256, 64, 1, 1]);
    expect(r50.get('layer4.2.bn3.weight')!.shape).to.deep.equal([2048]);
  });

  it('gives [B, 512] features and stage outputs at strides 4/8/16/32', () => {
    const net = new ResNet({ depth: 18 }, new Rng(0));
    const x = tf.randomNormal([2, 32, 32, 3]) as tf.Tensor4D;
    const y = net.forward(x);
    expect(y.shape).to.deep.equal([2, 512]);
    const maps = net.featureMaps(x);
    expect(maps.map((m) => [m.name, m.stride, m.channels, m.tensor.shape])).to.deep.equal([
      ['c2', 4, 64, [2, 8, 8, 64]],
      ['c3', 8, 128, [2, 4, 4, 128]],
      ['c4', 16, 256, [2, 2, 2, 256]],
      ['c5', 32, 512, [2, 1, 1, 512]],
    ]);
    tf.dispose([x, y, ...maps.map((m) => m.tensor)]);
    net.dispose();
  });

  it('small_input: 3x3 stride-1 stem, no max-pool, total stride 8', () => {
    const net = new ResNet({ depth: 18, small_input: true }, new Rng(0));
    expect(moduleStateDict(net).get('conv1.weight')!.shape).to.deep.equal([64, 3, 3, 3]);
    const ref = backboneRef('resnet18');
    if (ref) expect(net.numParameters()).to.equal(ref.params - 64 * 3 * (49 - 9));
    expect(net.featureInfo().map((f) => f.stride)).to.deep.equal([1, 2, 4, 8]);
    const maps = net.featureMaps(tf.zeros([1, 32, 32, 3]) as tf.Tensor4D);
    expect(maps[3].tensor.shape).to.deep.equal([1, 4, 4, 512]);
    tf.dispose(maps.map((m) => m.tensor));
    net.dispose();
  });

  it('width scales every stage (multiples of 8) and keeps the state-dict names', () => {
    expect([0.25, 0.5, 0.75, 1, 2].map((w) => resNetChannels(64, w))).to.deep.equal([16, 32, 48, 64, 128]);
    expect(resNetChannels(64, 0.01)).to.equal(8);
    const net = new ResNet({ depth: 18, width: 0.5, small_input: true }, new Rng(0));
    expect(net.featureDim).to.equal(256);
    expect(net.featureInfo().map((f) => f.channels)).to.deep.equal([32, 64, 128, 256]);
    const fullNet = new ResNet({ depth: 18, small_input: true }, new Rng(0));
    const full = moduleStateDict(fullNet);
    fullNet.dispose();
    const half = moduleStateDict(net);
    expect([...half.keys()]).to.deep.equal([...full.keys()]);
    expect(half.get('conv1.weight')!.shape).to.deep.equal([32, 3, 3, 3]);
    expect(half.get('layer4.1.conv2.weight')!.shape).to.deep.equal([256, 256, 3, 3]);
    // a basic-block ResNet's 3x3 weights scale with width^2: parameters ~ 1/4 at width 0.5
    const conv = (sd: typeof full) => [...sd.entries()].filter(([k]) => k.endsWith('conv2.weight')).reduce((a, [, t]) => a + t.data.length, 0);
    expect(conv(half) * 4).to.equal(conv(full));
    const x = tf.zeros([2, 32, 32, 3]) as tf.Tensor4D;
    const y = net.forward(x);
    expect(y.shape).to.deep.equal([2, 256]);
    tf.dispose([x, y]);
    net.dispose();
    expect(() => new ResNet({ depth: 18, width: -1 }, new Rng(0))).to.throw(/width must be positive, got -1/);
  });

  it('zero_init_residual zeroes the last BN weight of every block', () => {
    const net = new ResNet({ depth: 18, zero_init_residual: true }, new Rng(0));
    const last = net.namedParameters().filter((p) => /^layer\d\.\d\.bn2\.weight$/.test(p.name));
    expect(last.length).to.equal(8);
    expect(last.every((p) => p.variable.dataSync().every((v) => v === 0))).to.equal(true);
    const first = net.namedParameters().find((p) => p.name === 'layer1.0.bn1.weight')!;
    expect(first.variable.dataSync()[0]).to.equal(1);
    net.dispose();
  });

  it('is deterministic from the seed', () => {
    const w = (seed: number) => {
      const n = new ResNet({ depth: 18 }, new Rng(seed));
      const d = Array.from(n.stateTensors().get('layer3.0.conv2.weight')!.tensor.dataSync().slice(0, 50));
      n.dispose();
      return d;
    };
    expect(w(5)).to.deep.equal(w(5));
    expect(w(5)).to.not.deep.equal(w(6));
  });

  it('trains without leaking tensors (resnet18, and bottleneck / basic blocks with downsample)', async () => {
    await ensureGradients();
    const leakFree = (name: string, f: (x: tf.Tensor4D) => tf.Tensor, x: tf.Tensor4D) => {
      const step = () => tf.tidy(() => tf.variableGrads(() => tf.mean(f(x)) as tf.Scalar).value);
      step().dispose();
      const before = tf.memory().numTensors;
      step().dispose();
      expect(tf.memory().numTensors, name).to.equal(before);
    };
    // conv backprop-filter is slow on the cpu backend: a full resnet50 step takes ~9 s, so the
    // bottleneck path is checked on single blocks with small widths.
    const x = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
    const net = new ResNet({ depth: 18 }, new Rng(1));
    leakFree('resnet18', (t) => net.forward(t), x);
    const xb = tf.randomNormal([2, 8, 8, 16], 0, 1, 'float32', 3) as tf.Tensor4D;
    const bottleneck = new Bottleneck(16, 8, 2, new Rng(1));
    const basic = new BasicBlock(16, 32, 2, new Rng(1));
    leakFree('bottleneck', (t) => bottleneck.forward(t), xb);
    leakFree('basic', (t) => basic.forward(t), xb);
    expect(bottleneck.namedParameters().map((p) => p.name)).to.include('downsample.0.weight');
    [net, bottleneck, basic].forEach((m) => m.dispose());
    tf.dispose([x, xb]);
  });

  it('registers resnet18, resnet34 and resnet50 with a strict schema', () => {
    for (const name of ['resnet18', 'resnet34', 'resnet50']) expect(registry.has('backbone', name), name).to.equal(true);
    const def = registry.get('backbone', 'resnet18');
    expect(def.schema.parse({})).to.deep.equal({ small_input: false, zero_init_residual: false, width: 1 });
    expect(() => def.schema.parse({ width: 0 })).to.throw();
    expect(() => def.schema.parse({ depth: 34 })).to.throw();
    const b = def.create(def.schema.parse({ small_input: true }), { rng: new Rng(0) });
    expect(b.featureDim).to.equal(512);
    b.dispose();
  });
});
