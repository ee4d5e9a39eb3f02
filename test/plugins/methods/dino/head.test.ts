import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { DinoHead } from '../../../../plugins/methods/dino/head';
import { l2Normalize } from '../../../../plugins/methods/common/normalize';
import { Rng } from '../../../../src/core/rng';
import { ensureGradients } from '../../../../src/nn/gradients';
import type { Module } from '../../../../src/nn/module';
import { expectClose, loadReference, type RefTensor } from '../../../helpers/reference';

interface HeadOut {
  bottleneck: RefTensor;
  bottleneck_normalized: RefTensor;
  W_eff?: RefTensor;
  output: RefTensor;
}
interface HeadRef {
  config: { batch: number; in_dim: number; hidden_dim: number; bottleneck_dim: number; out_dim: number };
  inputs: Record<'x' | 'W1' | 'b1' | 'W2' | 'b2' | 'W3' | 'b3' | 'weight_v' | 'bn_weight' | 'bn_bias', RefTensor>;
  outputs: { no_bn: HeadOut; with_bn_train_mode: HeadOut };
}

const ref = loadReference<HeadRef>('dino_head');

/** Load torch-layout tensors by torch name ('linear' layout: torch [out, in] -> ours [in, out]). */
function loadTorch(module: Module, tensors: Record<string, RefTensor>): void {
  const params = new Map(module.namedParameters().map((p) => [p.name, p]));
  expect([...params.keys()].sort()).to.deep.equal(Object.keys(tensors).sort());
  for (const [name, r] of Object.entries(tensors)) {
    const p = params.get(name)!;
    tf.tidy(() => {
      const t = tf.tensor(r.data, r.shape);
      p.variable.assign(p.layout === 'linear' && t.rank === 2 ? tf.transpose(t) : t);
    });
  }
}

function headFor(useBn: boolean, normLastLayer = true): DinoHead {
  const c = ref!.config;
  return new DinoHead(
    { inDim: c.in_dim, outDim: c.out_dim, hiddenDim: c.hidden_dim, bottleneckDim: c.bottleneck_dim, useBn, normLastLayer },
    new Rng(0),
  );
}

describe('plugins/methods/dino/head', () => {
  before(() => ensureGradients());

  describe('matches reference/dino_head.json (atol 1e-5)', function () {
    if (!ref) {
      it('skipped: reference/dino_head.json is absent');
      return;
    }
    const i = ref.inputs;
    const ones = (n: number): RefTensor => ({ shape: [n, 1], dtype: 'float', data: new Array(n).fill(1) });
    const common = {
      'mlp.0.weight': i.W1,
      'mlp.0.bias': i.b1,
      'last_layer.weight_v': i.weight_v,
      'last_layer.weight_g': ones(ref.config.out_dim),
    };

    it("case 'no_bn': bottleneck, normalised bottleneck, W_eff and output", () => {
      const head = headFor(false);
      loadTorch(head, { ...common, 'mlp.2.weight': i.W2, 'mlp.2.bias': i.b2, 'mlp.4.weight': i.W3, 'mlp.4.bias': i.b3 });
      const x = tf.tensor2d(i.x.data, i.x.shape as [number, number]);
      const o = ref.outputs.no_bn;
      const bott = head.bottleneck(x);
      expectClose(bott.dataSync(), o.bottleneck.data, { rtol: 1e-5, atol: 1e-5, what: 'bottleneck' });
      expectClose(l2Normalize(bott).dataSync(), o.bottleneck_normalized.data, { rtol: 1e-5, atol: 1e-5, what: 'normalized' });
      // Ours is [in, out]; the reference W_eff is torch's [out, in].
      expectClose(tf.transpose(head.lastLayer.effectiveWeight()).dataSync(), o.W_eff!.data, { rtol: 1e-5, atol: 1e-6, what: 'W_eff' });
      expectClose(head.forward(x).dataSync(), o.output.data, { rtol: 1e-5, atol: 1e-5, what: 'output' });
      head.dispose();
    });

    it("case 'with_bn_train_mode': BatchNorm1d with batch statistics", () => {
      const head = headFor(true);
      const bn = (k: number) => ({ [`mlp.${k}.weight`]: i.bn_weight, [`mlp.${k}.bias`]: i.bn_bias });
      loadTorch(head, { ...common, ...bn(1), ...bn(4), 'mlp.3.weight': i.W2, 'mlp.3.bias': i.b2, 'mlp.6.weight': i.W3, 'mlp.6.bias': i.b3 });
      head.train();
      const x = tf.tensor2d(i.x.data, i.x.shape as [number, number]);
      const o = ref.outputs.with_bn_train_mode;
      expectClose(head.bottleneck(x).dataSync(), o.bottleneck.data, { rtol: 1e-5, atol: 1e-5, what: 'bottleneck' });
      expectClose(head.forward(x, { ignoreLastLayer: true }).dataSync(), o.bottleneck_normalized.data, { rtol: 1e-5, atol: 1e-5, what: 'normalized' });
      expectClose(head.forward(x).dataSync(), o.output.data, { rtol: 1e-5, atol: 1e-5, what: 'output' });
      head.dispose();
    });
  });

  it('torch parameter names, buffers and shapes (torch layout via the state dict)', () => {
    const head = new DinoHead({ inDim: 6, outDim: 7, hiddenDim: 10, bottleneckDim: 4, useBn: true }, new Rng(1));
    const names = head.namedParameters().map((p) => p.name);
    expect(names).to.deep.equal([
      'mlp.0.weight', 'mlp.0.bias', 'mlp.1.weight', 'mlp.1.bias',
      'mlp.3.weight', 'mlp.3.bias', 'mlp.4.weight', 'mlp.4.bias',
      'mlp.6.weight', 'mlp.6.bias', 'last_layer.weight_g', 'last_layer.weight_v',
    ]);
    expect(head.namedBuffers().map((b) => b.name)).to.include('mlp.4.running_var');
    const byName = new Map(head.namedParameters().map((p) => [p.name, p]));
    expect(byName.get('last_layer.weight_v')!.variable.shape).to.deep.equal([4, 7]);
    expect(byName.get('last_layer.weight_g')!.variable.shape).to.deep.equal([1, 7]);
    expect(byName.get('last_layer.weight_g')!.layout).to.equal('linear');
    // DINO's defaults: hidden 2048, bottleneck 256, 3 layers, no BN.
    const d = new DinoHead({ inDim: 3, outDim: 5 }, new Rng(2));
    expect(d.namedParameters().map((p) => [p.name, p.variable.shape])).to.deep.equal([
      ['mlp.0.weight', [3, 2048]], ['mlp.0.bias', [2048]], ['mlp.2.weight', [2048, 2048]], ['mlp.2.bias', [2048]],
      ['mlp.4.weight', [2048, 256]], ['mlp.4.bias', [256]], ['last_layer.weight_g', [1, 5]], ['last_layer.weight_v', [256, 5]],
    ]);
    const one = new DinoHead({ inDim: 3, outDim: 5, nLayers: 1, bottleneckDim: 4 }, new Rng(2));
    expect(one.namedParameters().map((p) => p.name)).to.deep.equal(['mlp.weight', 'mlp.bias', 'last_layer.weight_g', 'last_layer.weight_v']);
    [head, d, one].forEach((m) => m.dispose());
  });

  it('weight_g is 1 and frozen with norm_last_layer, trainable without; it gets a gradient only then', () => {
    for (const norm of [true, false]) {
      const head = new DinoHead({ inDim: 3, outDim: 5, hiddenDim: 6, bottleneckDim: 4, normLastLayer: norm }, new Rng(3));
      const g = head.namedParameters().find((p) => p.name === 'last_layer.weight_g')!;
      expect(g.trainable).to.equal(!norm);
      expect(g.variable.trainable).to.equal(!norm);
      expect(Array.from(g.variable.dataSync())).to.deep.equal([1, 1, 1, 1, 1]);
      const x = tf.randomNormal([4, 3], 0, 1, 'float32', 7) as tf.Tensor2D;
      const { grads } = tf.variableGrads(() => tf.sum(tf.square(head.forward(x))) as tf.Scalar);
      expect(g.variable.name in grads).to.equal(!norm);
      tf.dispose(grads);
      x.dispose();
      head.dispose();
    }
  });

  it('rows of the last layer have unit norm when frozen, so logits are cosine similarities in [-1, 1]', () => {
    const head = new DinoHead({ inDim: 3, outDim: 9, hiddenDim: 6, bottleneckDim: 4 }, new Rng(4));
    const x = tf.randomNormal([5, 3], 0, 1, 'float32', 1) as tf.Tensor2D;
    const y = Array.from(head.forward(x).dataSync());
    expect(y.every((v) => Math.abs(v) <= 1 + 1e-6)).to.equal(true);
    const norms = tf.norm(head.lastLayer.effectiveWeight(), 'euclidean', 0).dataSync();
    expectClose(norms, new Array(9).fill(1), { rtol: 1e-5 });
    x.dispose();
    head.dispose();
  });
});
