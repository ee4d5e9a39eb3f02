import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { Rng } from '../../../src/core/rng';
import { registry } from '../../../src/core/registry';
import { selectBackend } from '../../../src/core/backend';
import { ensureGradients } from '../../../src/nn/gradients';
import { loadModuleStateDict, moduleStateDict, type StateEntry } from '../../../src/nn/state_dict';
import { countMacs } from '../../../src/nn/macs';
import { isRegularized } from '../../../plugins/optimizers/common';
import { VisionTransformer, bicubicMatrix1D, createViT, posEmbedInterpolationMatrix, vitSchema } from '../../../plugins/backbones/vit';
import { expectClose } from '../../helpers/reference';
import { backboneRef } from './common';

/** A small ViT for the numeric tests (the real ones are 5.5M+ parameters). */
function tinyViT(seed: number, opts: Partial<ConstructorParameters<typeof VisionTransformer>[0]> = {}): VisionTransformer {
  return new VisionTransformer({ embedDim: 12, depth: 2, numHeads: 2, patchSize: 4, imgSize: 8, ...opts }, new Rng(seed));
}

/** MINSTD LCG in [-0.5, 0.5): exact in float64, so the Python fixture generator draws the same. */
function lcg(): () => number {
  let s = 1;
  return () => {
    s = (s * 48271) % 2147483647;
    return s / 2147483647 - 0.5;
  };
}

/** NCHW-ordered values -> NHWC tensor. */
function fromNCHW(v: number[], n: number, c: number, h: number, w: number): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(tf.tensor4d(v, [n, c, h, w]), [0, 2, 3, 1]) as tf.Tensor4D);
}

/*
 * Torch fixture (torch 1.13). A DINO ViT written as facebookresearch/dino's VisionTransformer
 * (Block, Attention with reshape(B, N, 3, H, hd).permute(2, 0, 3, 1, 4), interpolate_pos_encoding
 * with bicubic scale_factor (w0 + 0.1) / sqrt(N)) with embed 12, depth 2, heads 2, patch 4,
 * img 8; every state-dict entry, in state-dict order, filled from one lcg() stream, then two
 * images [2, 3, 8, 8] and [2, 3, 12, 12] (values 4 * lcg(), NCHW order) from the same stream.
 * Outputs: norm(x)[:, 0], flattened.
 */
const TORCH_OUT_8 = [
  -0.4046588, 0.4374808, 0.287499, 0.9587599, 0.4843477, -0.1551051, -0.2740981, 0.0311259, 0.3724445, 0.1198016, -0.0228795,
  0.751672, -0.2450444, 0.4863783, 0.2385394, 0.8483309, 0.528459, -0.2399713, -0.2668317, 0.0371135, 0.4128619, 0.1899008,
  -0.0412572, 0.8840763,
];
// 12x12 input: a 3x3 grid, so pos_embed (2x2) goes through the bicubic interpolation.
const TORCH_OUT_12 = [
  -0.3091705, 0.448066, 0.4023183, 0.8696882, 0.4631444, -0.127309, -0.3176435, 0.0031568, 0.3833132, 0.1649606, -0.0040164,
  0.8248671, -0.3076707, 0.3438551, 0.16101, 0.9298922, 0.6118792, -0.2111563, -0.2274549, -0.0614882, 0.4055436, 0.3387551,
  -0.0140516, 0.8307033,
];

describe('plugins/backbones/vit', function () {
  this.timeout(60000);
  before(async () => {
    await ensureGradients();
  });

  it('has the parameter counts of reference/backbones.json (ViT-Ti/16, ViT-Ti/32, ViT-S/16)', function () {
    const cases: [string, 'vit_tiny' | 'vit_small', number][] = [
      ['vit_tiny_16', 'vit_tiny', 16],
      ['vit_tiny_32', 'vit_tiny', 32],
      ['vit_small_16', 'vit_small', 16],
    ];
    if (!backboneRef('vit_tiny_16')) this.skip();
    for (const [ref, name, patch] of cases) {
      const r = backboneRef(ref)!;
      const def = registry.get('backbone', name);
      const net = def.create(def.schema.parse({ patch_size: patch }), { rng: new Rng(0) });
      // 5,524,416 / 5,938,560 / 21,665,664
      expect(net.numParameters(), ref).to.equal(r.params);
      expect(net.featureDim, ref).to.equal(r.feature_dim);
      net.dispose();
    }
  });

  it('has the reference MAC counts (patch embed, Linears, q@k^T and attn@v) at 32x32 and 96x96', function () {
    if (!backboneRef('vit_tiny_16')) this.skip();
    for (const [ref, patch, sizes] of [
      ['vit_tiny_16', 16, [32]],
      ['vit_tiny_32', 32, [32, 96]],
    ] as const) {
      const r = backboneRef(ref)!;
      const net = createViT('vit_tiny', vitSchema.parse({ patch_size: patch }), new Rng(0));
      for (const s of sizes) {
        const x = tf.zeros([1, s, s, 3]) as tf.Tensor4D;
        expect(countMacs(() => tf.dispose(net.forward(x))), `${ref} at ${s}`).to.equal(s === 32 ? r.macs_32 : r.macs_96);
        x.dispose();
      }
      net.dispose();
    }
  });

  it("resamples like torch's bicubic F.interpolate with DINO's scale factor", () => {
    // torch 1.13: g = arange(16).reshape(1,1,4,4); g = g*g/7 - g;
    // F.interpolate(g, scale_factor=((n + 0.1) / 4,) * 2, mode='bicubic') for n = 2 and 6.
    const g = Array.from({ length: 16 }, (_, i) => (i * i) / 7 - i);
    const apply = (n: number) => {
      const m = posEmbedInterpolationMatrix(4, n, n);
      return Array.from({ length: n * n }, (_, o) => g.reduce((acc, v, i) => acc + m[o * 16 + i] * v, 0));
    };
    expectClose(apply(2), [-1.1900962591171265, -1.5793275833129883, 4.671097755432129, 9.269243240356445], { rtol: 1e-5, atol: 1e-5 });
    const six = apply(6);
    expect(six.length).to.equal(36);
    expectClose(
      [six[0], six[1], six[7], six[20], six[35]],
      [0.2364664077758789, -0.24886231124401093, -1.2706291675567627, 1.2353748083114624, 18.040607452392578],
      { rtol: 1e-5, atol: 1e-5 },
    );
    // Rows of the 1-D operator sum to 1, so a constant embedding stays constant.
    const m1 = bicubicMatrix1D(14, 2, 2.1 / 14);
    for (let o = 0; o < 2; o++) expect(m1.slice(o * 14, o * 14 + 14).reduce((a, b) => a + b, 0)).to.be.closeTo(1, 1e-12);
  });

  it('matches a DINO ViT in torch (state-dict layout, token order, attention, pos-embed interpolation)', () => {
    const net = tinyViT(0);
    const draw = lcg();
    const entries = new Map<string, StateEntry>();
    for (const [name, e] of moduleStateDict(net)) {
      entries.set(name, { dtype: 'F32', shape: e.shape, data: Float32Array.from({ length: e.data.length }, draw) });
    }
    loadModuleStateDict(net, entries);
    const x8 = fromNCHW(Array.from({ length: 2 * 3 * 64 }, () => 4 * draw()), 2, 3, 8, 8);
    const x12 = fromNCHW(Array.from({ length: 2 * 3 * 144 }, () => 4 * draw()), 2, 3, 12, 12);
    const y8 = net.forward(x8);
    const y12 = net.forward(x12);
    expect(y12.shape).to.deep.equal([2, 12]);
    expectClose(y8.dataSync(), TORCH_OUT_8, { rtol: 1e-5, atol: 3e-6, what: '8x8' });
    expectClose(y12.dataSync(), TORCH_OUT_12, { rtol: 1e-5, atol: 3e-6, what: '12x12' });
    tf.dispose([x8, x12, y8, y12]);
    net.dispose();
  });

  it('gives [B, 5, D] tokens at 32x32 with patch 16 and interpolates pos_embed for 32, 96 and non-square inputs', () => {
    const net = tinyViT(1, { patchSize: 16, imgSize: 224, embedDim: 24, numHeads: 3 });
    expect(net.gridSize).to.equal(14);
    for (const [h, w, n] of [
      [32, 32, 5],
      [96, 96, 37],
      [48, 32, 7],
      [224, 224, 197],
    ]) {
      const x = tf.randomNormal([2, h, w, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
      const t = net.tokens(x);
      expect(t.shape, `${h}x${w}`).to.deep.equal([2, n, 24]);
      const y = net.forward(x);
      expect(y.shape).to.deep.equal([2, 24]);
      expect(Array.from(y.dataSync()).every(Number.isFinite)).to.equal(true);
      tf.dispose([x, t, y]);
    }
    // The interpolated embedding of a 2x2 grid: cls row kept, 4 rows each a mix of the 196.
    const pe = net.posEmbedFor(2, 2);
    expect(pe.shape).to.deep.equal([5, 24]);
    const full = tf.reshape(net.pos_embed, [197, 24]);
    expectClose(tf.slice(pe, [0, 0], [1, 24]).dataSync(), tf.slice(full, [0, 0], [1, 24]).dataSync());
    const same = net.posEmbedFor(14, 14);
    expectClose(same.dataSync(), full.dataSync());
    tf.dispose([pe, full, same]);
    expect(() => net.forward(tf.zeros([1, 8, 8, 3]) as tf.Tensor4D)).to.throw(/smaller than one 16x16 patch/);
    net.dispose();
  });

  it("uses DINO/timm state-dict names and PyTorch shapes, and DINO's weight-decay groups", () => {
    const net = createViT('vit_tiny', vitSchema.parse({}), new Rng(0));
    const sd = moduleStateDict(net);
    // 4 + 12 blocks x 12 + 2 = DINO's vit_tiny state dict (no head)
    expect(sd.size).to.equal(150);
    const shapes: Record<string, number[]> = {
      cls_token: [1, 1, 192],
      pos_embed: [1, 197, 192],
      'patch_embed.proj.weight': [192, 3, 16, 16],
      'patch_embed.proj.bias': [192],
      'blocks.0.norm1.weight': [192],
      'blocks.0.attn.qkv.weight': [576, 192],
      'blocks.0.attn.qkv.bias': [576],
      'blocks.0.attn.proj.weight': [192, 192],
      'blocks.0.mlp.fc1.weight': [768, 192],
      'blocks.0.mlp.fc2.weight': [192, 768],
      'blocks.11.norm2.bias': [192],
      'norm.weight': [192],
      'norm.bias': [192],
    };
    for (const [k, s] of Object.entries(shapes)) {
      expect(sd.has(k), k).to.equal(true);
      expect(sd.get(k)!.shape, k).to.deep.equal(s);
    }
    expect([...sd.keys()].slice(0, 4)).to.deep.equal(['cls_token', 'pos_embed', 'patch_embed.proj.weight', 'patch_embed.proj.bias']);
    // DINO's get_params_groups: biases and 1-D params are not regularized; 3-D tokens are.
    const params = new Map(net.namedParameters().map((p) => [p.name, p]));
    for (const p of params.values()) {
      const dinoRegularized = !p.name.endsWith('.bias') && sd.get(p.name)!.shape.length !== 1;
      expect(isRegularized(p), p.name).to.equal(dinoRegularized);
    }
    expect(params.get('blocks.3.norm1.weight')!.kind).to.equal('norm');
    expect(params.get('pos_embed')!.kind).to.equal('weight');
    // Init: trunc normal std .02 for Linear weights and tokens, zero Linear biases, LN 1/0.
    const std = (t: tf.Tensor) => Math.sqrt(tf.tidy(() => tf.moments(t).variance.dataSync()[0]));
    expect(std(net.blocks.at(0).mlp.fc1.weight)).to.be.closeTo(0.02, 0.001);
    expect(std(net.pos_embed)).to.be.closeTo(0.02, 0.002);
    expect(Array.from(net.blocks.at(0).attn.qkv.bias!.dataSync()).every((v) => v === 0)).to.equal(true);
    expect(Array.from(net.norm.weight!.dataSync()).every((v) => v === 1)).to.equal(true);
    net.dispose();
  });

  it('is deterministic from the seed', () => {
    const w = (m: VisionTransformer) => Array.from(m.stateTensors().get('blocks.1.attn.qkv.weight')!.tensor.dataSync());
    const [a, b, c] = [tinyViT(42), tinyViT(42), tinyViT(43)];
    expect(w(a)).to.deep.equal(w(b));
    expect(w(a)).to.not.deep.equal(w(c));
    expect(Array.from(a.cls_token.dataSync())).to.deep.equal(Array.from(b.cls_token.dataSync()));
    [a, b, c].forEach((m) => m.dispose());
  });

  it('runs forward and backward on cpu with a gradient for every parameter and no leaked tensors', () => {
    const net = tinyViT(3, { patchSize: 16, imgSize: 32, embedDim: 24, numHeads: 3 });
    const x = tf.randomNormal([3, 48, 48, 3], 0, 1, 'float32', 5) as tf.Tensor4D; // 3x3 grid vs 2x2 pos_embed
    const step = () =>
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(net.forward(x))) as tf.Scalar);
        expect(Object.keys(grads).length).to.equal(net.trainableVariables().length);
        for (const g of Object.values(grads)) expect(tf.max(tf.abs(g)).dataSync()[0], 'non-zero gradient').to.be.greaterThan(0);
        return value;
      });
    step().dispose();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 2; i++) step().dispose();
    expect(tf.memory().numTensors).to.equal(before);
    x.dispose();
    net.dispose();
  });

  it('agrees between the wasm (our kernels) and cpu backends, forward and gradients', async () => {
    const net = tinyViT(4, { patchSize: 8, imgSize: 16, embedDim: 32, numHeads: 2 });
    const loss = (x: tf.Tensor4D) => () => tf.sum(tf.mul(net.forward(x), tf.range(1, 33))) as tf.Scalar;
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor4d(Float32Array.from({ length: 2 * 24 * 24 * 3 }, lcg()), [2, 24, 24, 3]);
        const y = net.forward(x);
        const { value, grads } = tf.variableGrads(loss(x));
        return { y: Array.from(y.dataSync()), loss: value.dataSync()[0], grads: Object.values(grads).map((g) => Array.from(g.dataSync())) };
      });
    try {
      const cpu = run();
      await selectBackend('wasm');
      const wasm = run();
      expectClose(wasm.y, cpu.y, { rtol: 1e-4, atol: 1e-5, what: 'features' });
      expect(wasm.loss).to.be.closeTo(cpu.loss, 1e-3 * Math.abs(cpu.loss));
      expect(wasm.grads.length).to.equal(cpu.grads.length);
      wasm.grads.forEach((g, i) => {
        const scale = Math.max(...cpu.grads[i].map(Math.abs));
        expectClose(g, cpu.grads[i], { rtol: 1e-3, atol: 1e-4 * scale, what: `grad ${net.namedParameters()[i].name}` });
      });
    } finally {
      await tf.setBackend('cpu');
    }
    net.dispose();
  });

  it('is registered as vit_tiny / vit_small with a strict schema; drop_path_rate must be 0', () => {
    const def = registry.get('backbone', 'vit_small');
    expect(def.schema.parse({})).to.deep.equal({ patch_size: 16, img_size: 224, drop_path_rate: 0 });
    expect(() => def.schema.parse({ patchSize: 16 })).to.throw();
    expect(() => def.schema.parse({ drop_path_rate: 0.1 })).to.throw(/drop_path_rate must be 0/);
    expect(() => tinyViT(0, { dropPathRate: 0.1 })).to.throw(/drop_path_rate 0.1 is not supported/);
    expect(() => tinyViT(0, { imgSize: 10 })).to.throw(/not a multiple/);
    const t = registry.get('backbone', 'vit_tiny');
    const b = t.create(t.schema.parse({ patch_size: 32, img_size: 64 }), { rng: new Rng(0) });
    expect(b.featureDim).to.equal(192);
    expect(b.namedParameters().find((p) => p.name === 'pos_embed')!.variable.shape).to.deep.equal([1, 5, 192]);
    b.dispose();
  });
});
