import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import '../../../../plugins/methods';
import '../../../../plugins/optimizers';
import { l2Normalize } from '../../../../plugins/methods/common/normalize';
import { mocoLoss } from '../../../../plugins/methods/mocov2/loss';
import { Mocov2, mocov2Schema, type Mocov2Options } from '../../../../plugins/methods/mocov2/mocov2';
import { ConfigError } from '../../../../src/core/errors';
import type { Optimizer, StepContext, ViewBatch } from '../../../../src/core/interfaces';
import { registry } from '../../../../src/core/registry';
import { Rng } from '../../../../src/core/rng';
import { ensureGradients } from '../../../../src/nn/gradients';
import { Module, type Parameter } from '../../../../src/nn/module';
import { expectClose } from '../../../helpers/reference';
import { ToyBackbone } from '../../../helpers/toy_backbone';
import { disposeViews, makeViews } from '../../../helpers/toy_views';

const B = 4;
const SMALL = { out_dim: 8, hidden_dim: 12, queue_length: 16 };

function makeMoco(opts: Partial<Mocov2Options> = {}, deps: Partial<{ nGlobal: number; nLocal: number; batchSize: number }> = {}): Mocov2 {
  const def = registry.get('method', 'mocov2');
  return def.create(def.schema.parse({ ...SMALL, ...opts }), {
    buildBackbone: (rng) => new ToyBackbone(rng),
    rng: new Rng(42),
    nGlobal: deps.nGlobal ?? 2,
    nLocal: deps.nLocal ?? 2,
    batchSize: deps.batchSize ?? B,
    epochs: 4,
    stepsPerEpoch: 5,
  }) as Mocov2;
}

function makeBatch(seed: number, nLocal = 2): ViewBatch {
  return makeViews(seed, B, nLocal);
}

function disposeBatch(b: ViewBatch): void {
  disposeViews(b);
}

function ctxAt(step: number, metrics: Record<string, number> = {}): StepContext {
  return { step, epoch: Math.floor(step / 5), stepsPerEpoch: 5, totalSteps: 20, epochs: 4, metric: (n, v) => void (metrics[n] = v) };
}

function queryParams(m: Mocov2): Parameter[] {
  return m.encoderQ.namedParameters('encoder_q.').filter((p) => p.trainable);
}

function sgdFor(m: Mocov2, lr = 0.5): Optimizer {
  const opt = registry.get('optimizer', 'sgd');
  return opt.create(opt.schema.parse({ lr, scale_lr_by_batch: false }), { params: queryParams(m), batchSize: B, epochs: 4, stepsPerEpoch: 5 });
}

/** One training step the way the trainer runs it: grads, optimizer, afterStep. */
function trainStep(m: Mocov2, opt: Optimizer, batch: ViewBatch, ctx: StepContext): number {
  return tf.tidy(() => {
    const params = queryParams(m);
    const { value, grads } = tf.variableGrads(() => m.loss(batch, ctx), params.map((p) => p.variable));
    opt.apply(new Map(params.map((p) => [p, grads[p.variable.name]] as [Parameter, tf.Tensor])), opt.hyperAt(ctx.step));
    m.afterStep(ctx);
    return value.dataSync()[0];
  });
}

function snapshot(mod: Module): Map<string, Float32Array> {
  return new Map(mod.namedParameters().map((p) => [p.name, (p.variable.dataSync() as Float32Array).slice()]));
}

describe('plugins/methods/mocov2/mocov2', function () {
  this.timeout(60000);
  before(() => ensureGradients());

  it('is registered as method "mocov2" with the MoCo-v2 / SSLight defaults; the schema is strict', () => {
    expect(mocov2Schema.parse({})).to.deep.equal({
      out_dim: 128, hidden_dim: 2048, n_layers: 2, use_bn_in_head: false, last_bn: false, queue_length: 65536, temperature: 0.2,
      momentum: 0.999, momentum_end: null, global_only: false, alpha: null,
    });
    expect(registry.names('method')).to.include('mocov2');
    expect(() => mocov2Schema.parse({ alpha: 1.2 })).to.throw();
    expect(() => mocov2Schema.parse({ queue_size: 4 })).to.throw();
    expect(() => mocov2Schema.parse({ temperature: 0 })).to.throw();
  });

  it('key encoder starts as a copy of the query encoder, in train mode, with no trainable variables; networks encoder_q / encoder_k', () => {
    const m = makeMoco();
    const q = snapshot(m.encoderQ);
    const k = snapshot(m.encoderK);
    expect([...k.keys()]).to.deep.equal([...q.keys()]);
    expect([...q.keys()]).to.include.members(['backbone.conv.weight', 'head.mlp.0.weight', 'head.mlp.2.bias']);
    for (const [n, v] of q) expect(Array.from(k.get(n)!), n).to.deep.equal(Array.from(v));
    expect(m.encoderK.training).to.equal(true);
    expect(m.encoderK.namedParameters().every((p) => !p.variable.trainable)).to.equal(true);
    expect(Object.keys(m.studentModules())).to.deep.equal(['encoder_q']);
    expect(Object.keys(m.targetModules())).to.deep.equal(['encoder_k']);
    expect(m.collapseLoss()).to.be.closeTo(Math.log(17), 1e-12);
    expect(m.queue.queue.shape).to.deep.equal([8, 16]);
    m.dispose();
  });

  it('keys come from global view 0 (key encoder), queries from global view 1 + locals; the loss is mocoLoss of those', () => {
    const m = makeMoco({ alpha: 0.4 });
    const batch = makeBatch(1);
    const loss = m.loss(batch, ctxAt(0));
    expect((m.encoderQ.backbone as ToyBackbone).calls).to.deep.equal([[B, 8, 8, 3], [2 * B, 4, 4, 3]]);
    expect((m.encoderK.backbone as ToyBackbone).calls).to.deep.equal([[B, 8, 8, 3]]);
    // Train-mode BN uses batch statistics, so recomputing the forwards gives the same outputs.
    const want = tf.tidy(() => {
      const k = m.encoderK.forward([batch.globals[0]]);
      const q = m.encoderQ.forward([batch.globals[1], ...batch.locals]);
      return mocoLoss(q, k, m.queue.queue as tf.Tensor2D, { temperature: 0.2, nGlobalQueries: 1, nLocal: 2, alpha: 0.4 }).loss;
    });
    const swapped = tf.tidy(() => {
      const k = m.encoderK.forward([batch.globals[1]]);
      const q = m.encoderQ.forward([batch.globals[0], ...batch.locals]);
      return mocoLoss(q, k, m.queue.queue as tf.Tensor2D, { temperature: 0.2, nGlobalQueries: 1, nLocal: 2, alpha: 0.4 }).loss;
    });
    expectClose(loss.dataSync(), want.dataSync(), { rtol: 1e-5, atol: 1e-6, what: 'method loss' });
    expect(Math.abs(loss.dataSync()[0] - swapped.dataSync()[0])).to.be.greaterThan(1e-4);
    tf.dispose([loss, want, swapped]);
    disposeBatch(batch);
    m.dispose();
  });

  it('two-view mode: global_only ignores the local views; no local views at all works the same', () => {
    for (const [opts, nLocal] of [[{ global_only: true }, 2], [{}, 0]] as const) {
      const m = makeMoco({ ...opts, alpha: 0.4 }, { nLocal });
      const batch = makeBatch(2, nLocal);
      const metrics: Record<string, number> = {};
      const loss = m.loss(batch, ctxAt(0));
      expect((m.encoderQ.backbone as ToyBackbone).calls).to.deep.equal([[B, 8, 8, 3]]);
      m.afterStep(ctxAt(0, metrics));
      expect(metrics.loss_gl).to.equal(0);
      expect(metrics.loss_gg).to.be.closeTo(loss.dataSync()[0], 1e-5);
      tf.dispose(loss);
      disposeBatch(batch);
      m.dispose();
    }
  });

  it('the key encoder gets no gradient, even when tf.variableGrads takes every trainable variable', () => {
    const m = makeMoco();
    const batch = makeBatch(3);
    const { value, grads } = tf.variableGrads(() => m.loss(batch, ctxAt(0)));
    const keyNames = new Set(m.encoderK.namedParameters().map((p) => p.variable.name));
    const queryNames = new Set(queryParams(m).map((p) => p.variable.name));
    expect(Object.keys(grads).some((n) => keyNames.has(n))).to.equal(false);
    expect(Object.keys(grads).filter((n) => queryNames.has(n)).length).to.equal(queryNames.size);
    expect(Object.keys(grads)).to.not.include(m.queue.queue.name);
    tf.dispose([value, grads]);
    m.afterStep(ctxAt(0));
    disposeBatch(batch);
    m.dispose();
  });

  it('afterStep: key encoder = m k + (1 - m) q (EMA), the batch keys enter the queue at the pointer, metrics', () => {
    const m = makeMoco({ momentum: 0.9 });
    const batch = makeBatch(4);
    const expectedKeys = tf.tidy(() => l2Normalize(m.encoderK.forward([batch.globals[0]])));
    const k0 = snapshot(m.encoderK);
    const queueBefore = Array.from(m.queue.queue.dataSync());
    const expectedCos = tf.tidy(() => {
      const qv = l2Normalize(m.encoderQ.forward([batch.globals[1], ...batch.locals]));
      const chunks = tf.reshape(qv, [-1, B, qv.shape[1]]);
      return {
        pos: tf.mean(tf.sum(tf.mul(chunks, expectedKeys), -1)).dataSync()[0],
        neg: tf.mean(tf.matMul(qv, m.queue.queue)).dataSync()[0],
      };
    });
    const metrics: Record<string, number> = {};
    trainStep(m, sgdFor(m), batch, ctxAt(7, metrics));
    const qAfter = snapshot(m.encoderQ);
    let moved = 0;
    for (const [n, after] of snapshot(m.encoderK)) {
      const want = Array.from(k0.get(n)!, (v, i) => 0.9 * v + 0.1 * qAfter.get(n)![i]);
      expectClose(after, want, { rtol: 1e-5, atol: 1e-6, what: `encoder_k ${n}` });
      if (after.some((v, i) => v !== k0.get(n)![i])) moved++;
    }
    expect(moved).to.be.greaterThan(0);
    // Columns 0..B-1 now hold the normalised keys; the rest is untouched.
    const q = m.queue.queue.dataSync();
    const kk = expectedKeys.dataSync();
    const K = 16;
    for (let d = 0; d < 8; d++) {
      for (let j = 0; j < K; j++) {
        const want = j < B ? kk[j * 8 + d] : queueBefore[d * K + j];
        expect(Math.abs(q[d * K + j] - want), `queue[${d}, ${j}]`).to.be.at.most(1e-6);
      }
    }
    expect(m.queue.ptr).to.equal(B);
    expect(metrics.momentum).to.equal(0.9);
    for (const k of ['loss_gg', 'loss_gl', 'acc1', 'pos_cos', 'neg_cos']) expect(metrics[k], k).to.be.a('number').and.not.NaN;
    expect(metrics.acc1).to.be.within(0, 1);
    // Mean cosines of the step's queries (taken before the update) to their keys and to the
    // queue as it was before this step's enqueue.
    expect(metrics.pos_cos).to.be.closeTo(expectedCos.pos, 1e-5);
    expect(metrics.neg_cos).to.be.closeTo(expectedCos.neg, 1e-5);
    expect(() => m.afterStep(ctxAt(8))).to.throw(/no loss/);
    tf.dispose(expectedKeys);
    disposeBatch(batch);
    m.dispose();
  });

  it('momentum: constant 0.999 by default; momentum_end gives DINO-style cosine from momentum to it', () => {
    const a = makeMoco();
    expect([0, 10, 19].map((s) => a.momentumAt(s))).to.deep.equal([0.999, 0.999, 0.999]);
    const b = makeMoco({ momentum: 0.99, momentum_end: 1 });
    expect(b.momentumAt(0)).to.equal(0.99);
    expect(b.momentumAt(10)).to.be.closeTo(0.995, 1e-12);
    expect(b.momentumAt(19)).to.be.lessThan(1).and.greaterThan(0.9999);
    a.dispose();
    b.dispose();
  });

  it('loss decreases over a few AdamW steps with a fixed key encoder and queue (a stationary objective)', () => {
    // Momentum 1 fixes the key encoder; restoring the queue after each step fixes the negatives
    // (enqueueing this batch's own keys would make them negatives of the next step). The queue
    // holds keys of 16 other images, hard negatives as in a real run.
    const m = makeMoco({ momentum: 1, alpha: 0.4 });
    // AdamW: the toy head's outputs are tiny (two 0.02-std layers on 6 features), so the gradients
    // through the normalisation are large; Adam's per-parameter step size keeps the steps small.
    const def = registry.get('optimizer', 'adamw');
    const opt = def.create(def.schema.parse({ lr: 3e-4, scale_lr_by_batch: false, warmup_epochs: 0 }), {
      params: queryParams(m),
      batchSize: B,
      epochs: 4,
      stepsPerEpoch: 5,
    });
    const batch = makeBatch(6);
    const saved = tf.tidy(() => {
      const others = [20, 21, 22, 23].map((s) => makeBatch(s, 0));
      const keys = others.map((b) => l2Normalize(m.encoderK.forward([b.globals[0]])));
      others.forEach(disposeBatch);
      return tf.transpose(tf.concat(keys, 0));
    });
    m.loadTensorState(new Map([['queue', saved]]));
    const losses: number[] = [];
    for (let s = 0; s < 6; s++) {
      losses.push(trainStep(m, opt, batch, ctxAt(s)));
      m.loadTensorState(new Map([['queue', saved]]));
      m.loadJsonState({ queue_ptr: 0 });
    }
    expect(losses.every(Number.isFinite)).to.equal(true);
    for (let s = 1; s < losses.length; s++) expect(losses[s], `step ${s}: ${losses}`).to.be.lessThan(losses[s - 1]);
    expect(losses[5], `${losses}`).to.be.lessThan(losses[0] - 0.2);
    saved.dispose();
    disposeBatch(batch);
    m.dispose();
  });

  it('training steps (EMA + enqueue, new batches, wrap-around) leak no tensors', () => {
    const m = makeMoco({ momentum: 0.99, queue_length: 12 }); // 3 batches of 4 per lap
    const sgd = sgdFor(m, 0.05);
    let afterFirst = 0;
    for (let s = 0; s < 5; s++) {
      const batch = makeBatch(10 + s);
      expect(Number.isFinite(trainStep(m, sgd, batch, ctxAt(s)))).to.equal(true);
      disposeBatch(batch);
      if (s === 1) afterFirst = tf.memory().numTensors;
    }
    expect(tf.memory().numTensors).to.equal(afterFirst);
    expect(m.queue.ptr).to.equal((5 * B) % 12);
    m.dispose();
  });

  it('queue and pointer round-trip through tensorState / jsonState; a wrong queue shape is refused', () => {
    const a = makeMoco();
    const batch = makeBatch(7);
    trainStep(a, sgdFor(a), batch, ctxAt(0));
    const b = makeMoco();
    const saved = a.tensorState().get('queue')!.clone();
    b.loadTensorState(new Map([['queue', saved]]));
    b.loadJsonState(JSON.parse(JSON.stringify(a.jsonState())));
    expect(b.jsonState()).to.deep.equal({ queue_ptr: B });
    expect(Array.from(b.queue.queue.dataSync())).to.deep.equal(Array.from(a.queue.queue.dataSync()));
    const c = makeMoco({ queue_length: 32 });
    expect(() => c.loadTensorState(new Map([['queue', saved]]))).to.throw(/queue_length/);
    saved.dispose();
    disposeBatch(batch);
    [a, b, c].forEach((x) => x.dispose());
  });

  it('refuses one global view and a queue smaller than a batch, naming the key', () => {
    expect(() => makeMoco({}, { nGlobal: 1 })).to.throw(ConfigError, /n_global/);
    expect(() => makeMoco({ queue_length: 8 }, { batchSize: 16 })).to.throw(ConfigError, /queue_length/);
  });
});
