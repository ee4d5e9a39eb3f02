import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import '../../../../plugins/methods';
import '../../../../plugins/optimizers';
import { SwavHead, normalizeRows } from '../../../../plugins/methods/swav/head';
import { swavLoss } from '../../../../plugins/methods/swav/loss';
import { koleoLoss } from '../../../../plugins/methods/common/koleo';
import { Swav, meanPairCosine, swavSchema, type SwavOptions } from '../../../../plugins/methods/swav/swav';
import type { Optimizer, StepContext, ViewBatch } from '../../../../src/core/interfaces';
import { ConfigError } from '../../../../src/core/errors';
import { registry } from '../../../../src/core/registry';
import { Rng } from '../../../../src/core/rng';
import { Module, type Parameter } from '../../../../src/nn/module';
import { moduleStateDict } from '../../../../src/nn/state_dict';
import { expectClose } from '../../../helpers/reference';
import { ToyBackbone } from '../../../helpers/toy_backbone';
import { makeViewBatch } from '../../../../data/host_batch';

const B = 4;
const K = 10;
const SMALL = { feat_dim: 8, hidden_dim: 12, nmb_prototypes: K };
const STEPS_PER_EPOCH = 3;

function makeSwav(opts: Partial<SwavOptions> = {}, nLocal = 2): Swav {
  const def = registry.get('method', 'swav');
  return def.create(def.schema.parse({ ...SMALL, ...opts }), {
    buildBackbone: (rng) => new ToyBackbone(rng),
    rng: new Rng(7),
    nGlobal: 2,
    nLocal,
    batchSize: B,
    epochs: 4,
    stepsPerEpoch: STEPS_PER_EPOCH,
  }) as Swav;
}

function makeBatch(seed: number, nLocal = 2): ViewBatch {
  const rng = new Rng(seed);
  const img = (s: number) => tf.tensor4d(Float32Array.from({ length: B * s * s * 3 }, () => rng.normal()), [B, s, s, 3]);
  return makeViewBatch({ globals: [img(8), img(8)], locals: Array.from({ length: nLocal }, () => img(4)), labels: new Int32Array(B) });
}

function disposeBatch(b: ViewBatch): void {
  tf.dispose([...b.globals, ...b.locals]);
}

function ctxAt(step: number, metrics: Record<string, number> = {}): StepContext {
  return {
    step,
    epoch: Math.floor(step / STEPS_PER_EPOCH),
    stepsPerEpoch: STEPS_PER_EPOCH,
    totalSteps: 4 * STEPS_PER_EPOCH,
    epochs: 4,
    metric: (n, v) => {
      metrics[n] = v;
    },
  };
}

function params(s: Swav): Parameter[] {
  return s.student.namedParameters('student.').filter((p) => p.trainable);
}

function makeOptimizer(s: Swav, name: 'sgd' | 'lars' | 'adamw', options: Record<string, unknown>): Optimizer {
  const def = registry.get('optimizer', name);
  return def.create(def.schema.parse(options), { params: params(s), batchSize: B, epochs: 4, stepsPerEpoch: STEPS_PER_EPOCH });
}

/** One training step the way the trainer runs it: grads, processGradients, optimizer, afterStep. */
function trainStep(s: Swav, opt: Optimizer, batch: ViewBatch, ctx: StepContext): number {
  return tf.tidy(() => {
    const ps = params(s);
    const { value, grads } = tf.variableGrads(() => s.loss(batch, ctx), ps.map((p) => p.variable));
    const gmap = new Map(ps.map((p) => [p, grads[p.variable.name]] as [Parameter, tf.Tensor]));
    opt.apply(s.processGradients(gmap, ctx), opt.hyperAt(ctx.step));
    s.afterStep(ctx);
    return value.dataSync()[0];
  });
}

/** Column norms of the prototype weight ([featDim, K] here; torch's rows). */
function prototypeNorms(head: SwavHead): number[] {
  return Array.from(tf.tidy(() => tf.sqrt(tf.sum(tf.square(head.prototypes.weight), 0))).dataSync());
}

const sgdOpts = { lr: 0.5, scale_lr_by_batch: false, warmup_epochs: 0 };

describe('plugins/methods/swav', function () {
  this.timeout(60000);

  it('is registered as method "swav" with SwAV defaults; the schema is strict', () => {
    expect(registry.names('method')).to.include('swav');
    expect(swavSchema.parse({})).to.deep.equal({
      feat_dim: 128, hidden_dim: 2048, n_layers: 2, use_bn_in_head: true, last_bn: false, last_bn_per_resolution: false, nmb_prototypes: 3000, temperature: 0.1,
      epsilon: 0.05, sinkhorn_iterations: 3, crops_for_assign: [0, 1], freeze_prototypes_niters: null,
      queue_length: 0, epoch_queue_starts: 15, alpha: null, target_momentum: null, target_momentum_end: 1, koleo_weight: 0,
    });
    expect(() => swavSchema.parse({ nmb_prototype: 10 })).to.throw();
    expect(() => swavSchema.parse({ alpha: -0.1 })).to.throw();
    expect(() => makeSwav({ crops_for_assign: [0, 2] })).to.throw(ConfigError, /crops_for_assign/);
  });

  it('head: projection Linear-BN-ReLU-Linear, L2-normalised embedding, bias-free unit prototypes, torch names', () => {
    const head = new SwavHead({ inDim: 6, featDim: 8, hiddenDim: 12, nPrototypes: K }, new Rng(1));
    expect(head.namedParameters().map((p) => `${p.name}:${p.variable.shape}`)).to.deep.equal([
      'projection.mlp.0.weight:6,12', 'projection.mlp.0.bias:12', 'projection.mlp.1.weight:12', 'projection.mlp.1.bias:12',
      'projection.mlp.3.weight:12,8', 'projection.mlp.3.bias:8', 'prototypes.weight:8,10',
    ]);
    expectClose(prototypeNorms(head), new Array(K).fill(1), { rtol: 0, atol: 1e-6, what: 'prototype norms at init' });
    const x = tf.tensor2d(Float32Array.from({ length: 5 * 6 }, (_, i) => Math.sin(i)), [5, 6]);
    const { embedding, scores } = head.forward(x);
    expect(scores.shape).to.deep.equal([5, K]);
    expectClose(tf.sqrt(tf.sum(tf.square(embedding), 1)).dataSync(), new Array(5).fill(1), { rtol: 0, atol: 1e-5, what: 'embedding norms' });
    expect(Math.max(...Array.from(tf.abs(scores).dataSync()))).to.be.at.most(1 + 1e-5);
    // normalizePrototypes restores unit rows after any change.
    head.prototypes.weight.assign(tf.mul(head.prototypes.weight, tf.range(1, K + 1)));
    head.normalizePrototypes();
    expectClose(prototypeNorms(head), new Array(K).fill(1), { rtol: 0, atol: 1e-6, what: 'prototype norms after normalize' });
    tf.dispose([x, embedding, scores]);
    head.dispose();
  });

  it('last_bn: BN without affine on the projection output, before the L2 norm (centred embeddings)', () => {
    const head = new SwavHead({ inDim: 6, featDim: 8, hiddenDim: 12, nPrototypes: K, lastBn: true }, new Rng(1));
    expect(head.namedParameters().map((p) => p.name)).to.deep.equal([
      'projection.mlp.0.weight', 'projection.mlp.0.bias', 'projection.mlp.1.weight', 'projection.mlp.1.bias',
      'projection.mlp.3.weight', 'projection.mlp.3.bias', 'prototypes.weight',
    ]);
    head.train();
    tf.tidy(() => {
      // Inputs sharing a large common offset: without the BN every embedding points the same way.
      const x = tf.add(tf.randomNormal([32, 6], 0, 1, 'float32', 5), 3) as tf.Tensor2D;
      const plain = new SwavHead({ inDim: 6, featDim: 8, hiddenDim: 12, nPrototypes: K }, new Rng(1));
      plain.train();
      const withBn = meanPairCosine(head.forward(x).embedding).dataSync()[0];
      const without = meanPairCosine(plain.forward(x).embedding).dataSync()[0];
      expect(without).to.be.above(0.3);
      expect(Math.abs(withBn)).to.be.below(0.1);
      plain.dispose();
    });
    // The method option reaches the head: the BN's running statistics follow the output Linear.
    const s = makeSwav({ last_bn: true });
    expect([...moduleStateDict(s.student.head).keys()]).to.include.members(['projection.mlp.4.running_mean', 'projection.mlp.4.running_var']);
    const plain = makeSwav();
    expect([...moduleStateDict(plain.student.head).keys()]).to.not.include('projection.mlp.4.running_mean');
    [s, plain].forEach((m) => m.dispose());
    head.dispose();
  });

  it('last_bn_per_resolution: each resolution group centred apart; same names; the network passes the groups', () => {
    const opts = { inDim: 6, featDim: 8, hiddenDim: 12, nPrototypes: K, lastBn: true };
    const grouped = new SwavHead({ ...opts, lastBnPerResolution: true }, new Rng(1));
    const joint = new SwavHead(opts, new Rng(1));
    expect(grouped.namedParameters().map((p) => p.name)).to.deep.equal(joint.namedParameters().map((p) => p.name));
    expect([...moduleStateDict(grouped).keys()]).to.deep.equal([...moduleStateDict(joint).keys()]);
    grouped.train();
    joint.train();
    tf.tidy(() => {
      // 16 "global" rows, then 48 "local" rows far from them: normalised together, the globals
      // all sit on the side opposite the locals' offset and share a direction.
      const g = tf.randomNormal([16, 6], 0, 1, 'float32', 5);
      const l = tf.add(tf.randomNormal([48, 6], 0, 1, 'float32', 6), 4);
      const x = tf.concat([g, l], 0) as tf.Tensor2D;
      const globalsCos = (h: SwavHead, groups?: number[]) => meanPairCosine(tf.slice(h.forward(x, groups).embedding, [0, 0], [16, -1])).dataSync()[0];
      expect(globalsCos(joint, [16, 48])).to.be.above(0.3);
      expect(Math.abs(globalsCos(grouped, [16, 48]))).to.be.below(0.1);
      // Without groups (or one group) it is the joint BN.
      expectClose([globalsCos(grouped)], [globalsCos(joint)], { rtol: 1e-5, atol: 1e-6, what: 'no groups' });
    });
    // The option reaches the head, and the network gives it the views' resolution groups.
    const s = makeSwav({ last_bn: true, last_bn_per_resolution: true });
    s.student.train();
    const batch = makeBatch(3);
    const views = [...batch.globals, ...batch.locals];
    tf.tidy(() => {
      const viaNetwork = s.student.forward(views).embedding;
      const direct = s.student.head.forward(s.student.features(views), [2 * B, 2 * B]).embedding;
      const jointDirect = s.student.head.forward(s.student.features(views)).embedding;
      expectClose(viaNetwork.dataSync(), direct.dataSync(), { rtol: 1e-5, atol: 1e-6, what: 'network forward' });
      expect(tf.max(tf.abs(tf.sub(direct, jointDirect))).dataSync()[0]).to.be.above(1e-3);
    });
    disposeBatch(batch);
    s.dispose();
    [grouped, joint].forEach((m) => m.dispose());
    expect(() => makeSwav({ last_bn_per_resolution: true })).to.throw(ConfigError, /method\.last_bn_per_resolution.*needs method\.last_bn: true/);
  });

  it('meanPairCosine: mean cosine over pairs i != j of unit rows', () => {
    tf.tidy(() => {
      const same = normalizeRows(tf.tensor2d([[1, 2], [1, 2], [1, 2]]));
      expectClose([meanPairCosine(same).dataSync()[0]], [1], { rtol: 0, atol: 1e-6, what: 'identical rows' });
      const z = normalizeRows(tf.tensor2d([[1, 0], [0, 1], [-1, 1]]));
      // pairs: (0,1) 0, (0,2) -1/sqrt2, (1,2) 1/sqrt2 -> mean 0
      const rows = [[1, 0], [0, 1], [-Math.SQRT1_2, Math.SQRT1_2]];
      let sum = 0;
      for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) if (i !== j) sum += rows[i][0] * rows[j][0] + rows[i][1] * rows[j][1];
      expectClose([meanPairCosine(z).dataSync()[0]], [sum / 6], { rtol: 0, atol: 1e-6, what: 'mixed rows' });
    });
  });

  it('one student, no target network; one backbone batch per resolution; loss = swavLoss of the head scores', () => {
    const s = makeSwav({ alpha: 0.4 });
    expect(Object.keys(s.studentModules())).to.deep.equal(['student']);
    expect(s.targetModules()).to.deep.equal({});
    expect(s.collapseLoss()).to.be.closeTo(Math.log(K), 1e-12);
    const batch = makeBatch(1);
    const expected = tf.tidy(() => {
      const { scores } = s.student.forward([...batch.globals, ...batch.locals]);
      return swavLoss(scores, { nGlobal: 2, nLocal: 2, alpha: 0.4 }).loss;
    });
    (s.student.backbone as ToyBackbone).calls = [];
    const loss = s.loss(batch, ctxAt(0));
    expect((s.student.backbone as ToyBackbone).calls).to.deep.equal([[2 * B, 8, 8, 3], [2 * B, 4, 4, 3]]);
    // Train-mode BN uses batch statistics, so the two forwards agree.
    expectClose([loss.dataSync()[0]], [expected.dataSync()[0]], { rtol: 1e-6, atol: 0, what: 'loss' });
    const metrics: Record<string, number> = {};
    s.afterStep(ctxAt(0, metrics));
    expect(metrics.loss_gg).to.be.a('number').and.not.NaN;
    expect(metrics.loss_gl).to.be.a('number').and.not.NaN;
    expectClose([0.4 * metrics.loss_gg + 0.6 * metrics.loss_gl], [loss.dataSync()[0]], { rtol: 1e-5, atol: 0, what: 'loss from blocks' });
    expect(metrics.code_entropy).to.be.within(0, Math.log(K) + 1e-5);
    expect(metrics.emb_cos).to.be.within(-1, 1);
    // The per-view direction metrics: two views' means and the locals'.
    const [viewCos, localCos] = tf.tidy(() => {
      const { embedding } = s.student.forward([...batch.globals, ...batch.locals]);
      const mean = (start: number, n: number) => tf.mean(tf.slice(embedding, [start, 0], [n, 8]), 0);
      const cos = (u: tf.Tensor, v: tf.Tensor) => tf.div(tf.sum(tf.mul(u, v)), tf.mul(tf.norm(u), tf.norm(v)));
      return [cos(mean(0, B), mean(B, B)).dataSync()[0], cos(mean(0, B), mean(2 * B, 2 * B)).dataSync()[0]];
    });
    expectClose([metrics.view_cos, metrics.local_cos], [viewCos, localCos], { rtol: 1e-4, atol: 1e-5, what: 'view_cos, local_cos' });
    expect(metrics.prototypes_frozen).to.equal(1);
    expect(metrics).to.not.have.property('queue_used');
    expect(() => s.loss(makeBatch(2, 3), ctxAt(1))).to.throw(/2 \+ 2 views/);
    tf.dispose([loss, expected]);
    disposeBatch(batch);
    s.dispose();
  });

  it('koleo_weight: adds weight x the KoLeo of each global view\'s embeddings (summed), logged as koleo; no leaks', () => {
    const w = 0.5;
    const plain = makeSwav({ alpha: 0.4 });
    const s = makeSwav({ alpha: 0.4, koleo_weight: w });
    const batch = makeBatch(3);
    const [base, koleo] = tf.tidy(() => {
      const { embedding } = s.student.forward([...batch.globals, ...batch.locals]);
      const k = tf.add(koleoLoss(tf.slice(embedding, [0, 0], [B, 8])), koleoLoss(tf.slice(embedding, [B, 0], [B, 8])));
      return [plain.loss(batch, ctxAt(0)).dataSync()[0], k.dataSync()[0]];
    });
    plain.afterStep(ctxAt(0));
    const metrics: Record<string, number> = {};
    const before = tf.memory().numTensors;
    const loss = s.loss(batch, ctxAt(0));
    expectClose([loss.dataSync()[0]], [base + w * koleo], { rtol: 1e-5, atol: 1e-6, what: 'loss' });
    loss.dispose();
    s.afterStep(ctxAt(0, metrics));
    expectClose([metrics.koleo], [koleo], { rtol: 1e-5, atol: 1e-6, what: 'koleo metric' });
    expect(tf.memory().numTensors).to.equal(before);
    const sgd = makeOptimizer(s, 'sgd', sgdOpts);
    trainStep(s, sgd, batch, ctxAt(1));
    const n = tf.memory().numTensors;
    trainStep(s, sgd, batch, ctxAt(2));
    expect(tf.memory().numTensors).to.equal(n);
    expect(() => swavSchema.parse({ koleo_weight: -1 })).to.throw();
    disposeBatch(batch);
    plain.dispose();
    s.dispose();
  });

  it('target_momentum: codes and queued embeddings from an EMA target that starts equal and follows the student', () => {
    const m = 0.9;
    const s = makeSwav({ target_momentum: m, target_momentum_end: m, freeze_prototypes_niters: 0, alpha: 0.4, queue_length: 8, epoch_queue_starts: 0 });
    expect(Object.keys(s.targetModules())).to.deep.equal(['target']);
    expect(s.momentumAt(0)).to.be.closeTo(m, 1e-12);
    const target = s.target!;
    const names = (mod: Module) => mod.namedParameters().map((p) => p.name);
    expect(names(target)).to.deep.equal(names(s.student));
    for (const [a, b] of target.namedParameters().map((p, i) => [p.variable, s.student.namedParameters()[i].variable])) {
      expect(a.dataSync()).to.deep.equal(b.dataSync());
    }
    const batch = makeBatch(40);
    // The loss: the student's scores predict the codes of the target's scores of the global views
    // (its BN sees only those views, so they differ from the student's own).
    const [expected, plain, targetEmb] = tf.tidy(() => {
      const { scores } = s.student.forward([...batch.globals, ...batch.locals]);
      const t = target.forward(batch.globals);
      const opts = { nGlobal: 2, nLocal: 2, alpha: 0.4 };
      return [swavLoss(scores, { ...opts, codeScores: t.scores }).loss, swavLoss(scores, opts).loss, t.embedding];
    });
    expect(Math.abs(expected.dataSync()[0] - plain.dataSync()[0])).to.be.greaterThan(1e-5);
    const before = target.namedParameters().map((p) => p.variable.dataSync().slice());
    const sgd = makeOptimizer(s, 'sgd', sgdOpts);
    const loss = trainStep(s, sgd, batch, ctxAt(0));
    expectClose([loss], [expected.dataSync()[0]], { rtol: 1e-5, atol: 0, what: 'loss with target codes' });
    // The queue holds the target's embeddings of the two assigned crops.
    const q = s.queue!.arraySync() as number[][][];
    const te = targetEmb.arraySync() as number[][];
    for (let i = 0; i < 2; i++) {
      expectClose(q[i].slice(0, B).flat(), te.slice(i * B, (i + 1) * B).flat(), { rtol: 1e-5, atol: 1e-6, what: `queue[${i}]` });
    }
    // EMA: target = m target + (1 - m) student for every parameter. The prototypes average the
    // stepped student's before its re-normalisation and are then re-normalised themselves, so
    // only their unit norm is checked below.
    const tp = target.namedParameters();
    const sp = s.student.namedParameters();
    for (let i = 0; i < tp.length; i++) {
      if (tp[i].name === 'head.prototypes.weight') continue;
      const want = Array.from(before[i], (v, j) => m * v + (1 - m) * sp[i].variable.dataSync()[j]);
      expectClose(tp[i].variable.dataSync(), want, { rtol: 1e-5, atol: 1e-6, what: `target ${tp[i].name}` });
    }
    expectClose(prototypeNorms(target.head), new Array(K).fill(1), { rtol: 0, atol: 1e-6, what: 'target prototype norms' });
    // Steady state leaks nothing.
    trainStep(s, sgd, batch, ctxAt(1));
    const n0 = tf.memory().numTensors;
    trainStep(s, sgd, batch, ctxAt(2));
    expect(tf.memory().numTensors).to.equal(n0);
    tf.dispose([expected, plain, targetEmb]);
    disposeBatch(batch);
    s.dispose();
  });

  it('prototype rows stay unit-norm after every optimizer step (afterStep renormalises)', () => {
    const s = makeSwav({ freeze_prototypes_niters: 0 });
    const sgd = makeOptimizer(s, 'sgd', sgdOpts);
    const batch = makeBatch(3);
    const w0 = s.student.head.prototypes.weight.dataSync().slice();
    for (let step = 0; step < 3; step++) {
      trainStep(s, sgd, batch, ctxAt(step));
      expectClose(prototypeNorms(s.student.head), new Array(K).fill(1), { rtol: 0, atol: 1e-6, what: `norms after step ${step}` });
    }
    const w1 = s.student.head.prototypes.weight.dataSync();
    expect(Math.max(...Array.from(w1, (v, i) => Math.abs(v - w0[i])))).to.be.greaterThan(1e-3);
    disposeBatch(batch);
    s.dispose();
  });

  it('prototypes get no update while frozen (freeze_prototypes_niters), and do after', () => {
    const s = makeSwav({ freeze_prototypes_niters: 2 });
    const sgd = makeOptimizer(s, 'sgd', { ...sgdOpts, weight_decay: 0.1 });
    const batch = makeBatch(4);
    const proto = s.student.head.prototypes.weight;
    const gmapAt = (step: number) =>
      tf.tidy(() => {
        const ps = params(s);
        const { grads } = tf.variableGrads(() => s.loss(batch, ctxAt(step)), ps.map((p) => p.variable));
        const out = s.processGradients(new Map(ps.map((p) => [p, grads[p.variable.name]] as [Parameter, tf.Tensor])), ctxAt(step));
        return [...out.keys()].map((p) => p.name);
      });
    expect(gmapAt(1)).to.not.include('student.head.prototypes.weight');
    expect(gmapAt(1).length).to.equal(params(s).length - 1);
    expect(gmapAt(2)).to.include('student.head.prototypes.weight');
    const p0 = proto.dataSync().slice();
    const other = s.student.head.projection.mlp.namedParameters()[0].variable;
    const o0 = other.dataSync().slice();
    trainStep(s, sgd, batch, ctxAt(0));
    trainStep(s, sgd, batch, ctxAt(1));
    // Renormalising unit rows may move the last bit; nothing else touches them (no decay, no momentum).
    expectClose(proto.dataSync(), p0, { rtol: 0, atol: 1e-7, what: 'prototypes during the freeze' });
    expect(Math.max(...Array.from(other.dataSync(), (v, i) => Math.abs(v - o0[i])))).to.be.greaterThan(1e-4);
    trainStep(s, sgd, batch, ctxAt(2));
    expect(Math.max(...Array.from(proto.dataSync(), (v, i) => Math.abs(v - p0[i])))).to.be.greaterThan(1e-4);
    disposeBatch(batch);
    s.dispose();
  });

  it('freeze_prototypes_niters null freezes exactly the first epoch', () => {
    const s = makeSwav();
    expect([0, STEPS_PER_EPOCH - 1, STEPS_PER_EPOCH].map((st) => s.prototypesFrozenAt(st))).to.deep.equal([true, true, false]);
    s.dispose();
  });

  it('queue: starts at epoch_queue_starts, fills newest-first, is used once full with the prototypes of the step', () => {
    // Queue of 8 = two batches; starts at epoch 1 = step 3.
    const s = makeSwav({ queue_length: 8, epoch_queue_starts: 1, freeze_prototypes_niters: 0, alpha: 0.4 });
    const sgd = makeOptimizer(s, 'sgd', sgdOpts);
    const used: number[] = [];
    for (let step = 0; step < 3; step++) {
      const batch = makeBatch(10 + step);
      const m: Record<string, number> = {};
      trainStep(s, sgd, batch, ctxAt(step, m));
      used.push(m.queue_used);
      disposeBatch(batch);
    }
    expect(s.queue).to.equal(null);
    expect(s.tensorState().size).to.equal(0);
    // Step 3: the queue is created and receives the embeddings of the two assigned crops.
    const b3 = makeBatch(13);
    const emb3 = tf.tidy(() => s.student.forward([...b3.globals, ...b3.locals]).embedding);
    const m3: Record<string, number> = {};
    trainStep(s, sgd, b3, ctxAt(3, m3));
    used.push(m3.queue_used);
    expect(s.queue!.shape).to.deep.equal([2, 8, 8]);
    expect(s.queueRows).to.equal(4);
    const q3 = s.queue!.arraySync() as number[][][];
    const e3 = emb3.arraySync() as number[][];
    for (let i = 0; i < 2; i++) {
      expectClose(q3[i].slice(0, 4).flat(), e3.slice(i * B, (i + 1) * B).flat(), { rtol: 1e-5, atol: 1e-6, what: `queue[${i}] rows 0-3` });
      expect(q3[i].slice(4).flat().every((v) => v === 0)).to.equal(true);
    }
    // Step 4: not full before it (4 of 8 rows), so unused; after it the step-3 rows move back.
    const b4 = makeBatch(14);
    const m4: Record<string, number> = {};
    trainStep(s, sgd, b4, ctxAt(4, m4));
    used.push(m4.queue_used);
    expect(s.queueRows).to.equal(8);
    const q4 = s.queue!.arraySync() as number[][][];
    for (let i = 0; i < 2; i++) expect(q4[i].slice(4)).to.deep.equal(q3[i].slice(0, 4));
    // Step 5: full, so used: the loss is swavLoss with the queue's scores prepended.
    const b5 = makeBatch(15);
    const expected = tf.tidy(() => {
      const { scores } = s.student.forward([...b5.globals, ...b5.locals]);
      const w = s.student.head.prototypes.weight;
      const queueScores = [0, 1].map((i) => tf.matMul(tf.reshape(tf.slice(s.queue!, [i, 0, 0], [1, 8, 8]), [8, 8]), w) as tf.Tensor2D);
      const withQ = swavLoss(scores, { nGlobal: 2, nLocal: 2, alpha: 0.4, queueScores }).loss;
      const without = swavLoss(scores, { nGlobal: 2, nLocal: 2, alpha: 0.4 }).loss;
      return tf.stack([withQ, without]);
    });
    const m5: Record<string, number> = {};
    const loss5 = trainStep(s, sgd, b5, ctxAt(5, m5));
    used.push(m5.queue_used);
    const [withQ, without] = Array.from(expected.dataSync());
    expectClose([loss5], [withQ], { rtol: 1e-5, atol: 0, what: 'loss with the queue' });
    expect(Math.abs(withQ - without)).to.be.greaterThan(1e-4);
    expect(used).to.deep.equal([0, 0, 0, 0, 0, 1]);
    tf.dispose([emb3, expected]);
    [b3, b4, b5].forEach(disposeBatch);
    s.dispose();
  });

  it('queue round-trips through tensorState (contents) and jsonState (fill level); bad state is refused', () => {
    const a = makeSwav({ queue_length: 8, epoch_queue_starts: 0, freeze_prototypes_niters: 0 });
    const sgd = makeOptimizer(a, 'sgd', sgdOpts);
    const batch = makeBatch(20);
    trainStep(a, sgd, batch, ctxAt(0));
    expect(a.queueRows).to.equal(4);
    const b = makeSwav({ queue_length: 8, epoch_queue_starts: 0, freeze_prototypes_niters: 0 });
    const saved = new Map([...a.tensorState()].map(([n, t]) => [n, t.clone()] as [string, tf.Tensor]));
    expect([...saved.keys()]).to.deep.equal(['queue']);
    b.loadTensorState(saved);
    b.loadJsonState(JSON.parse(JSON.stringify(a.jsonState())));
    tf.dispose([...saved.values()]); // the checkpoint loader frees what it passed in
    expect(b.queue!.arraySync()).to.deep.equal(a.queue!.arraySync());
    expect(b.queueRows).to.equal(4);
    // A full queue reads back as full.
    trainStep(a, sgd, batch, ctxAt(1));
    const full = new Map([...a.tensorState()].map(([n, t]) => [n, t.clone()] as [string, tf.Tensor]));
    b.loadTensorState(full);
    expect(b.queueRows).to.equal(4);
    b.loadJsonState(a.jsonState());
    expect(b.queueRows).to.equal(8);
    expect(() => b.loadJsonState({ queue_filled: 9 })).to.throw(/queue_filled/);
    expect(() => b.loadJsonState({})).to.throw(/queue_filled/);
    expect(() => b.loadTensorState(new Map([['queue', tf.zeros([2, 4, 8])]]))).to.throw(/queue_length/);
    // A checkpoint from before the queue started clears it.
    b.loadTensorState(new Map());
    expect(b.queue).to.equal(null);
    expect(b.queueRows).to.equal(0);
    tf.dispose([...full.values()]);
    disposeBatch(batch);
    a.dispose();
    b.dispose();
  });

  it('steps leak no tensors, with the queue filling and in use', () => {
    const s = makeSwav({ queue_length: 8, epoch_queue_starts: 1, freeze_prototypes_niters: 1 });
    const sgd = makeOptimizer(s, 'sgd', sgdOpts);
    const batch = makeBatch(30);
    let counts: number[] = [];
    for (let step = 0; step < 9; step++) {
      trainStep(s, sgd, batch, ctxAt(step));
      counts.push(tf.memory().numTensors);
    }
    // The queue variable appears at step 3 (epoch 1); it is used from step 5 on.
    expect(counts[3]).to.equal(counts[2] + 1);
    counts = counts.slice(3);
    expect(counts.every((c) => c === counts[0]), `numTensors per step: ${counts}`).to.equal(true);
    // A loss without afterStep (e.g. an evaluation pass) releases the previous one's leftovers.
    const before = tf.memory().numTensors;
    tf.dispose(s.loss(batch, ctxAt(9)));
    tf.dispose(s.loss(batch, ctxAt(9)));
    s.afterStep(ctxAt(9));
    expect(tf.memory().numTensors).to.equal(before);
    disposeBatch(batch);
    s.dispose();
  });

  it('loss decreases over a few AdamW steps on a fixed batch (eq. 3, alpha 0.4)', () => {
    // AdamW as in configs/quickstart.yaml: on this 6-feature toy the last projection bias (not
    // LARS-adapted) takes steps of ~50 at LARS lr 0.5 (its gradient is scaled by 1 / ||z|| of a
    // tiny N(0, 0.01) projection), so LARS first jumps before it descends.
    const s = makeSwav({ alpha: 0.4, freeze_prototypes_niters: 0 });
    const adamw = makeOptimizer(s, 'adamw', { lr: 1e-3, scale_lr_by_batch: false, warmup_epochs: 0, weight_decay: 0, weight_decay_end: 0 });
    const batch = makeBatch(40);
    const losses: number[] = [];
    for (let step = 0; step < 6; step++) losses.push(trainStep(s, adamw, batch, ctxAt(step)));
    expect(losses.every(Number.isFinite)).to.equal(true);
    for (let i = 1; i < losses.length; i++) expect(losses[i], `step ${i}: ${losses}`).to.be.lessThan(losses[i - 1]);
    expect(losses[5]).to.be.lessThan(losses[0] - 1);
    disposeBatch(batch);
    s.dispose();
  });

  it('normalizeRows: a zero row (all ReLUs off) gets the finite gradient dy / eps as in torch, not NaN', () => {
    const x = tf.tensor2d([[0, 0, 0], [3, 4, 0]]);
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(normalizeRows(v as tf.Tensor2D), tf.tensor2d([[1, 2, 3], [1, 1, 1]]))))(x);
    const gv = Array.from(g.dataSync());
    expect(gv.every(Number.isFinite)).to.equal(true);
    expect(gv.slice(0, 3)).to.deep.equal([1e12, 2e12, 3e12].map(Math.fround));
    expectClose(normalizeRows(x).dataSync(), [0, 0, 0, 0.6, 0.8, 0], { rtol: 1e-6, atol: 0, what: 'normalizeRows' });
    tf.dispose([x, g]);
  });
});
