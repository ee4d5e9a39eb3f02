import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { Rng } from '../../../src/core/rng';
import { registry } from '../../../src/core/registry';
import { ensureGradients } from '../../../src/nn/gradients';
import { moduleStateDict } from '../../../src/nn/state_dict';
import { countMacs } from '../../../src/nn/macs';
import { MobileNetV2, makeDivisible } from '../../../plugins/backbones';
import { InvertedResidual } from '../../../plugins/backbones/mobilenetv2';
import { backboneRef } from './common';

describe('plugins/backbones/mobilenetv2', () => {
  let net: MobileNetV2;
  before(() => {
    net = new MobileNetV2({}, new Rng(0));
  });
  after(() => net.dispose());

  it('has the parameter count and feature size of torchvision mobilenet_v2 (reference/backbones.json)', function () {
    const ref = backboneRef('mobilenet_v2');
    if (!ref) this.skip();
    expect(net.numParameters()).to.equal(ref!.params); // 2,223,872
    expect(net.featureDim).to.equal(ref!.feature_dim);
  });

  it('has the reference MAC counts at 32x32 and 96x96 (checks strides and padding, not just widths)', function () {
    const ref = backboneRef('mobilenet_v2');
    if (!ref) this.skip();
    net.eval();
    for (const [size, expected] of [[32, ref!.macs_32], [96, ref!.macs_96]]) {
      const x = tf.zeros([1, size, size, 3]) as tf.Tensor4D;
      expect(countMacs(() => tf.dispose(net.forward(x))), `${size}x${size}`).to.equal(expected);
      x.dispose();
    }
    net.train();
  });

  it("rounds channels like torchvision's _make_divisible", () => {
    expect(makeDivisible(32 * 0.5, 8)).to.equal(16);
    expect(makeDivisible(16 * 0.35, 8)).to.equal(8);
    expect(makeDivisible(32 * 1.4, 8)).to.equal(48);
    expect(makeDivisible(10, 8)).to.equal(16); // 8 would be > 10% below
    expect(makeDivisible(1280 * 1.4, 8)).to.equal(1792);
    expect(new MobileNetV2({ width: 0.5 }, new Rng(0)).featureDim).to.equal(1280); // max(1, width)
    const wide = new MobileNetV2({ width: 1.4 }, new Rng(0));
    expect(wide.featureDim).to.equal(1792);
    expect(wide.featureInfo().map((f) => f.channels)).to.deep.equal([32, 48, 136, 1792]);
    wide.dispose();
  });

  it('uses torchvision state-dict names and PyTorch shapes', () => {
    const sd = moduleStateDict(net);
    // 52 convs + 52 BNs x 5 entries = torchvision's 314 keys minus classifier.1.{weight,bias}
    expect(sd.size).to.equal(312);
    const shapes: Record<string, number[]> = {
      'features.0.0.weight': [32, 3, 3, 3],
      'features.0.1.weight': [32],
      'features.1.conv.0.0.weight': [32, 1, 3, 3],
      'features.1.conv.1.weight': [16, 32, 1, 1],
      'features.1.conv.2.running_var': [16],
      'features.2.conv.0.0.weight': [96, 16, 1, 1],
      'features.2.conv.1.0.weight': [96, 1, 3, 3],
      'features.2.conv.2.weight': [24, 96, 1, 1],
      'features.2.conv.3.num_batches_tracked': [],
      'features.17.conv.2.weight': [320, 960, 1, 1],
      'features.18.0.weight': [1280, 320, 1, 1],
      'features.18.1.running_var': [1280],
    };
    for (const [k, s] of Object.entries(shapes)) {
      expect(sd.has(k), k).to.equal(true);
      expect(sd.get(k)!.shape, k).to.deep.equal(s);
    }
    expect([...sd.keys()].some((k) => k.startsWith('classifier'))).to.equal(false);
    const kinds = new Map(net.namedParameters().map((p) => [p.name, p.kind]));
    expect(kinds.get('features.2.conv.1.0.weight')).to.equal('depthwise');
    expect(kinds.get('features.2.conv.0.0.weight')).to.equal('weight');
    expect(kinds.get('features.2.conv.0.1.weight')).to.equal('norm');
  });

  it('maps 32x32 images to [B, 1280] and gives stage outputs at strides 4/8/16/32', () => {
    const x = tf.randomNormal([2, 32, 32, 3]) as tf.Tensor4D;
    const y = net.forward(x);
    expect(y.shape).to.deep.equal([2, 1280]);
    const maps = net.featureMaps(x);
    expect(maps.map((m) => [m.name, m.stride, m.channels, m.tensor.shape])).to.deep.equal([
      ['c2', 4, 24, [2, 8, 8, 24]],
      ['c3', 8, 32, [2, 4, 4, 32]],
      ['c4', 16, 96, [2, 2, 2, 96]],
      ['c5', 32, 1280, [2, 1, 1, 1280]],
    ]);
    expect(net.featureInfo()).to.deep.equal(maps.map(({ tensor: _t, ...rest }) => rest));
    tf.dispose([x, y, ...maps.map((m) => m.tensor)]);
  });

  it('small_input keeps the parameters and stops at stride 8', () => {
    const small = new MobileNetV2({ small_input: true }, new Rng(0));
    expect(small.numParameters()).to.equal(net.numParameters());
    expect(small.featureInfo().map((f) => f.stride)).to.deep.equal([1, 2, 4, 8]);
    const maps = small.featureMaps(tf.zeros([1, 32, 32, 3]) as tf.Tensor4D);
    expect(maps[3].tensor.shape).to.deep.equal([1, 4, 4, 1280]);
    tf.dispose(maps.map((m) => m.tensor));
    small.dispose();
  });

  it('zero_init_residual zeroes the last BN of the 10 residual blocks only, which start as the identity', () => {
    const z = new MobileNetV2({ width: 0.35, zero_init_residual: true }, new Rng(0));
    const plain = new MobileNetV2({ width: 0.35 }, new Rng(0));
    const blocks = [...z.features].filter((b): b is InvertedResidual => b instanceof InvertedResidual);
    expect([blocks.length, blocks.filter((b) => b.useResidual).length]).to.deep.equal([17, 10]);
    const st = z.stateTensors();
    const zeroed = [...st.keys()].filter((k) => /weight$/.test(k) && st.get(k)!.tensor.rank === 1 && st.get(k)!.tensor.dataSync().every((v) => v === 0));
    // The projection BN is the last child of each residual block's `conv` (features.i.conv.<last>).
    expect(zeroed).to.deep.equal(
      [...z.features].flatMap((b, i) => (b instanceof InvertedResidual && b.useResidual ? [`features.${i}.conv.${b.conv.length - 1}.weight`] : [])),
    );
    for (const [k, { tensor }] of plain.stateTensors()) {
      if (!zeroed.includes(k)) expect(Array.from(st.get(k)!.tensor.dataSync()), k).to.deep.equal(Array.from(tensor.dataSync()));
    }
    // features.3 (24 -> 24, stride 1) is the first residual block: it passes its input through.
    const block = z.features.at(3) as InvertedResidual;
    expect(block.useResidual).to.equal(true);
    const channels = st.get('features.3.conv.3.weight')!.tensor.shape[0];
    const x = tf.randomNormal([2, 4, 4, channels], 0, 1, 'float32', 2) as tf.Tensor4D;
    const y = block.forward(x);
    expect(Array.from(y.dataSync())).to.deep.equal(Array.from(x.dataSync()));
    tf.dispose([x, y]);
    [z, plain].forEach((m) => m.dispose());
  });

  it('is deterministic from the seed', () => {
    const a = new MobileNetV2({ width: 0.35 }, new Rng(42));
    const b = new MobileNetV2({ width: 0.35 }, new Rng(42));
    const c = new MobileNetV2({ width: 0.35 }, new Rng(43));
    const w = (m: MobileNetV2) => Array.from(m.stateTensors().get('features.5.conv.1.0.weight')!.tensor.dataSync());
    expect(w(a)).to.deep.equal(w(b));
    expect(w(a)).to.not.deep.equal(w(c));
    [a, b, c].forEach((m) => m.dispose());
  });

  it('trains without leaking tensors and updates every BN running stat; eval does not', async () => {
    await ensureGradients();
    const m = new MobileNetV2({ width: 0.35 }, new Rng(1));
    const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const step = () =>
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(m.forward(x))) as tf.Scalar);
        expect(Object.keys(grads).length).to.equal(m.trainableVariables().length);
        return value;
      });
    step().dispose();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 2; i++) step().dispose();
    expect(tf.memory().numTensors).to.equal(before);
    const counts = m.namedBuffers().filter((b) => b.name.endsWith('num_batches_tracked'));
    expect(counts.length).to.equal(52);
    expect(counts.every((b) => b.variable.dataSync()[0] === 3)).to.equal(true);
    m.eval();
    m.forward(x).dispose();
    expect(counts.every((b) => b.variable.dataSync()[0] === 3)).to.equal(true);
    m.dispose();
    x.dispose();
  });

  it('is registered as backbone "mobilenetv2" with a strict snake_case schema', () => {
    const def = registry.get('backbone', 'mobilenetv2');
    expect(def.schema.parse({})).to.deep.equal({ width: 1, round_nearest: 8, small_input: false, zero_init_residual: false });
    expect(() => def.schema.parse({ widthMult: 1 })).to.throw();
    const b = def.create(def.schema.parse({ width: 0.5 }), { rng: new Rng(0) });
    expect(b.featureDim).to.equal(1280);
    b.dispose();
  });
});
