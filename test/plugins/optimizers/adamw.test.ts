import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { registry } from '../../../src/core/registry';
import '../../../plugins/optimizers';
import { AdamW, adamwSchema } from '../../../plugins/optimizers/adamw';
import { expectClose, loadReference, type RefTensor } from '../../helpers/reference';
import { depsFor, disposeMap, makeParam, values } from './util';

interface AdamwStep {
  step: number;
  lr: number;
  weight_decay_group0: number;
  params_after: Record<'weight' | 'bias', RefTensor>;
  exp_avg: Record<'weight' | 'bias', RefTensor>;
  exp_avg_sq: Record<'weight' | 'bias', RefTensor>;
}
interface AdamwRef {
  hyper: { betas: [number, number]; eps: number };
  inputs: { weight_init: RefTensor; bias_init: RefTensor; grads_per_step: Record<'weight' | 'bias', RefTensor>[] };
  cases: Record<string, { steps: AdamwStep[] }>;
}

const ref = loadReference<AdamwRef>('adamw');

describe('plugins/optimizers/adamw', () => {
  describe('matches torch.optim.AdamW in reference/adamw.json (params atol 1e-7, moments rtol 1e-5)', function () {
    if (!ref) {
      it('skipped: reference/adamw.json is absent');
      return;
    }
    for (const caseName of ['constant', 'scheduled']) {
      it(`case '${caseName}': weight decayed (group 0), bias not (group 1), 3 steps`, () => {
        // Group 0 = 2-D weight (kind 'weight'), group 1 = bias with weight_decay 0 (kind 'bias').
        const weight = makeParam('weight', ref.inputs.weight_init, 'weight');
        const bias = makeParam('bias', ref.inputs.bias_init, 'bias');
        const opt = new AdamW(adamwSchema.parse({ betas: ref.hyper.betas, eps: ref.hyper.eps }), depsFor([weight, bias]));
        ref.cases[caseName].steps.forEach((s, k) => {
          const g = ref.inputs.grads_per_step[k];
          const grads = new Map([
            [weight, tf.tensor(g.weight.data, g.weight.shape)],
            [bias, tf.tensor(g.bias.data, g.bias.shape)],
          ]);
          opt.apply(grads, { lr: s.lr, weightDecay: s.weight_decay_group0 });
          disposeMap(grads);
          const st = opt.tensorState();
          for (const p of [weight, bias]) {
            const n = p.name as 'weight' | 'bias';
            expectClose(values(p.variable), s.params_after[n].data, { rtol: 0, atol: 1e-7, what: `${caseName} step ${s.step} ${n}` });
            expectClose(values(st.get(`${n}.exp_avg`)!), s.exp_avg[n].data, { rtol: 1e-5, atol: 1e-12, what: `${n}.exp_avg` });
            expectClose(values(st.get(`${n}.exp_avg_sq`)!), s.exp_avg_sq[n].data, { rtol: 1e-5, atol: 1e-14, what: `${n}.exp_avg_sq` });
          }
        });
        expect(opt.jsonState()).to.deep.equal({ step: { weight: 3, bias: 3 } });
        opt.dispose();
      });
    }
  });

  it('paper ViT defaults: lr 5e-4 x batch/256, min 1e-5, wd cosine 0.04 -> 0.4, betas (0.9, 0.999)', () => {
    const o = adamwSchema.parse({});
    expect(o).to.deep.include({ lr: 5e-4, min_lr: 1e-5, weight_decay: 0.04, weight_decay_end: 0.4, betas: [0.9, 0.999], eps: 1e-8 });
  });

  it('hyperAt reproduces schedules.json cases lr_adamw_vit_style and weight_decay (rtol 1e-6)', function () {
    const s = loadReference<{ cases: Record<string, { values: RefTensor }> }>('schedules');
    if (!s) this.skip();
    const opt = new AdamW(adamwSchema.parse({ lr: 5e-4, min_lr: 1e-6, warmup_epochs: 2, weight_decay: 0.04, weight_decay_end: 0.4 }), {
      params: [],
      batchSize: 64,
      epochs: 6,
      stepsPerEpoch: 5,
    });
    const hs = Array.from({ length: 30 }, (_, i) => opt.hyperAt(i));
    expectClose(hs.map((h) => h.lr), s!.cases.lr_adamw_vit_style.values.data, { rtol: 1e-6, atol: 1e-14, what: 'lr' });
    expectClose(hs.map((h) => h.weightDecay), s!.cases.weight_decay.values.data, { rtol: 1e-6, atol: 1e-14, what: 'wd' });
  });

  it('a parameter without a gradient keeps its own step count (torch skips it entirely)', () => {
    const a = makeParam('a', [1, 2], 'weight', [2]);
    const b = makeParam('b', [1, 2], 'weight', [2]);
    const opt = new AdamW(adamwSchema.parse({}), depsFor([a, b]));
    const g1 = new Map([[a, tf.ones([2])]]);
    opt.apply(g1, { lr: 0.1, weightDecay: 0.5 });
    disposeMap(g1);
    expect(Array.from(values(b.variable))).to.deep.equal([1, 2]); // not even decayed
    expect(opt.jsonState()).to.deep.equal({ step: { a: 1 } });
    const g2 = new Map([[a, tf.ones([2])], [b, tf.ones([2])]]);
    opt.apply(g2, { lr: 0.1, weightDecay: 0 });
    disposeMap(g2);
    // b's first step: bias-corrected m/sqrt(v) = 1 -> moves by lr (up to eps).
    expectClose(values(b.variable), [0.9, 1.9], { rtol: 1e-6, what: 'b' });
    expect(opt.jsonState()).to.deep.equal({ step: { a: 2, b: 1 } });
    opt.dispose();
  });

  it('state round-trips (tensorState + jsonState) and apply leaks nothing', () => {
    const mk = () => [makeParam('w', [0.3, -0.2, 0.5, 0.1], 'weight', [2, 2]), makeParam('n', [1, 1], 'norm', [2])];
    const a = mk();
    const optA = new AdamW(adamwSchema.parse({}), depsFor(a));
    const grads = (ps: typeof a, k: number) => new Map(ps.map((p) => [p, tf.fill(p.variable.shape, 0.1 * (k + 1))] as const));
    const g0 = grads(a, 0);
    optA.apply(g0, { lr: 1e-2, weightDecay: 0.1 });
    disposeMap(g0);
    const before = tf.memory().numTensors;
    const g1 = grads(a, 1);
    optA.apply(g1, { lr: 1e-2, weightDecay: 0.1 });
    disposeMap(g1);
    expect(tf.memory().numTensors).to.equal(before);

    const b = mk();
    a.forEach((p, i) => b[i].variable.assign(p.variable));
    const optB = new AdamW(adamwSchema.parse({}), depsFor(b));
    optB.loadTensorState(optA.tensorState());
    optB.loadJsonState(JSON.parse(JSON.stringify(optA.jsonState())));
    for (const [opt, ps] of [[optA, a], [optB, b]] as const) {
      const g = grads(ps, 2);
      opt.apply(g, { lr: 1e-2, weightDecay: 0.1 });
      disposeMap(g);
    }
    a.forEach((p, i) => expect(Array.from(values(b[i].variable))).to.deep.equal(Array.from(values(p.variable))));
    optA.dispose();
    optB.dispose();
  });

  it('is registered as optimizer "adamw"', () => {
    expect(registry.names('optimizer')).to.include.members(['adamw', 'lars', 'sgd']);
  });
});
