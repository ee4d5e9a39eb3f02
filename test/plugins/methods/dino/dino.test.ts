import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import '../../../../plugins/methods';
import '../../../../plugins/optimizers';
import { koleoLoss } from '../../../../plugins/methods/common/koleo';
import { Dino, dinoSchema, type DinoOptions } from '../../../../plugins/methods/dino/dino';
import type { Optimizer, StepContext, ViewBatch } from '../../../../src/core/interfaces';
import { registry } from '../../../../src/core/registry';
import { Rng } from '../../../../src/core/rng';
import { ensureGradients } from '../../../../src/nn/gradients';
import { Module, type Parameter } from '../../../../src/nn/module';
import { expectClose } from '../../../helpers/reference';
import { ToyBackbone } from '../../../helpers/toy_backbone';
import { makeViewBatch } from '../../../../data/host_batch';

const B = 4;
const SMALL = { out_dim: 16, hidden_dim: 12, bottleneck_dim: 8 };

function makeDino(opts: Partial<DinoOptions> = {}, deps: Partial<{ epochs: number; stepsPerEpoch: number; nLocal: number }> = {}): Dino {
  const def = registry.get('method', 'dino');
  return def.create(def.schema.parse({ ...SMALL, ...opts }), {
    buildBackbone: (rng) => new ToyBackbone(rng),
    rng: new Rng(42),
    nGlobal: 2,
    nLocal: deps.nLocal ?? 2,
    batchSize: B,
    epochs: deps.epochs ?? 4,
    stepsPerEpoch: deps.stepsPerEpoch ?? 5,
  }) as Dino;
}

function makeBatch(seed: number, nLocal = 2): ViewBatch {
  const rng = new Rng(seed);
  const img = (s: number) => tf.tensor4d(Float32Array.from({ length: B * s * s * 3 }, () => rng.normal()), [B, s, s, 3]);
  return makeViewBatch({
    globals: [img(8), img(8)],
    locals: Array.from({ length: nLocal }, () => img(4)),
    labels: new Int32Array(B),
  });
}

function disposeBatch(b: ViewBatch): void {
  tf.dispose([...b.globals, ...b.locals]);
}

function ctxAt(step: number, stepsPerEpoch = 5, metrics: Record<string, number> = {}): StepContext {
  return {
    step,
    epoch: Math.floor(step / stepsPerEpoch),
    stepsPerEpoch,
    totalSteps: 20,
    epochs: 4,
    metric: (n, v) => {
      metrics[n] = v;
    },
  };
}

function studentParams(d: Dino): Parameter[] {
  return d.student.namedParameters('student.').filter((p) => p.trainable);
}

/** One training step the way the trainer runs it: grads, processGradients, optimizer, afterStep. */
function trainStep(d: Dino, opt: Optimizer, batch: ViewBatch, ctx: StepContext): number {
  return tf.tidy(() => {
    const params = studentParams(d);
    const { value, grads } = tf.variableGrads(() => d.loss(batch, ctx), params.map((p) => p.variable));
    const gmap = new Map(params.map((p) => [p, grads[p.variable.name]] as [Parameter, tf.Tensor]));
    opt.apply(d.processGradients(gmap, ctx), opt.hyperAt(ctx.step));
    d.afterStep(ctx);
    return value.dataSync()[0];
  });
}

function snapshot(m: Module): Map<string, Float32Array> {
  return new Map(m.namedParameters().map((p) => [p.name, (p.variable.dataSync() as Float32Array).slice()]));
}

describe('plugins/methods/dino/dino', function () {
  this.timeout(60000);
  before(() => ensureGradients());

  it('is registered as method "dino" with the SSLight CNN recipe defaults', () => {
    const o = dinoSchema.parse({});
    expect(o).to.deep.equal({
      out_dim: 4096, hidden_dim: 2048, bottleneck_dim: 256, n_layers: 3, use_bn_in_head: true, norm_last_layer: true,
      warmup_teacher_temp: 0.04, teacher_temp: 0.07, warmup_teacher_temp_epochs: null, student_temp: 0.1,
      center_momentum: 0.9, momentum_teacher: 0.996, momentum_teacher_end: 1, freeze_last_layer: 1, clip_grad: 0, alpha: null,
      koleo_weight: 0,
    });
    expect(registry.names('method')).to.include('dino');
    expect(() => dinoSchema.parse({ alpha: 1.2 })).to.throw();
    expect(() => dinoSchema.parse({ out_dims: 3 })).to.throw();
  });

  it('teacher starts as a copy of the student, in train mode, with no trainable variables', () => {
    const d = makeDino();
    const s = snapshot(d.student);
    const t = snapshot(d.teacher);
    expect([...t.keys()]).to.deep.equal([...s.keys()]);
    for (const [n, v] of s) expect(Array.from(t.get(n)!)).to.deep.equal(Array.from(v));
    expect(d.teacher.training).to.equal(true);
    expect(d.teacher.namedParameters().every((p) => !p.variable.trainable)).to.equal(true);
    expect(Object.keys(d.studentModules())).to.deep.equal(['student']);
    expect(Object.keys(d.targetModules())).to.deep.equal(['teacher']);
    expect(d.collapseLoss()).to.be.closeTo(Math.log(16), 1e-12);
    d.dispose();
  });

  it('student runs one backbone batch per resolution (MultiCropWrapper), teacher sees the globals only', () => {
    const d = makeDino();
    const batch = makeBatch(1);
    const loss = d.loss(batch, ctxAt(0));
    expect((d.student.backbone as ToyBackbone).calls).to.deep.equal([[2 * B, 8, 8, 3], [2 * B, 4, 4, 3]]);
    expect((d.teacher.backbone as ToyBackbone).calls).to.deep.equal([[2 * B, 8, 8, 3]]);
    expect(Number.isFinite(loss.dataSync()[0])).to.equal(true);
    tf.dispose(loss);
    disposeBatch(batch);
    d.dispose();
  });

  it('the teacher gets no gradient, even when tf.variableGrads takes every trainable variable', () => {
    const d = makeDino();
    const batch = makeBatch(2);
    const { value, grads } = tf.variableGrads(() => d.loss(batch, ctxAt(0)));
    const teacherNames = new Set(d.teacher.namedParameters().map((p) => p.variable.name));
    const studentNames = new Set(studentParams(d).map((p) => p.variable.name));
    expect(Object.keys(grads).some((n) => teacherNames.has(n))).to.equal(false);
    expect(Object.keys(grads).filter((n) => studentNames.has(n)).length).to.equal(studentNames.size);
    tf.dispose([value, grads]);
    disposeBatch(batch);
    d.dispose();
  });

  it('afterStep: center = 0.9 center + 0.1 mean(teacher output); EMA with the scheduled momentum; metrics', () => {
    const d = makeDino({ momentum_teacher: 0.9, momentum_teacher_end: 0.9 });
    const batch = makeBatch(3);
    // Train-mode BN uses batch statistics, so the teacher's output is the same in the loss.
    const expectedCenter = tf.tidy(() => tf.mul(tf.mean(d.teacher.forward(batch.globals), 0), 0.1));
    const teacherBefore = snapshot(d.teacher);
    const opt = registry.get('optimizer', 'sgd');
    const sgd = opt.create(opt.schema.parse({ lr: 0.5, scale_lr_by_batch: false }), { params: studentParams(d), batchSize: B, epochs: 4, stepsPerEpoch: 5 });
    const metrics: Record<string, number> = {};
    trainStep(d, sgd, batch, ctxAt(7, 5, metrics));
    expectClose(d.center.dataSync(), expectedCenter.dataSync(), { rtol: 1e-5, atol: 1e-6, what: 'center' });
    const studentAfter = snapshot(d.student);
    for (const [n, after] of snapshot(d.teacher)) {
      const want = Array.from(teacherBefore.get(n)!, (t, i) => 0.9 * t + 0.1 * studentAfter.get(n)![i]);
      expectClose(after, want, { rtol: 1e-5, atol: 1e-6, what: `teacher ${n}` });
    }
    expect(metrics.teacher_temp).to.equal(d.teacherTempAt(1));
    expect(metrics.momentum).to.equal(0.9);
    for (const k of ['teacher_entropy', 'teacher_batch_entropy', 'loss_gg', 'loss_gl']) expect(metrics[k]).to.be.a('number').and.not.NaN;
    expect(metrics.teacher_entropy).to.be.within(0, Math.log(16) + 1e-5);
    tf.dispose(expectedCenter);
    disposeBatch(batch);
    d.dispose();
  });

  it('EMA momentum 1 leaves the teacher parameters unchanged while the student moves', () => {
    const d = makeDino({ momentum_teacher: 1 });
    const batch = makeBatch(4);
    const t0 = snapshot(d.teacher);
    const s0 = snapshot(d.student);
    const opt = registry.get('optimizer', 'sgd');
    const sgd = opt.create(opt.schema.parse({ lr: 0.5, scale_lr_by_batch: false }), { params: studentParams(d), batchSize: B, epochs: 4, stepsPerEpoch: 5 });
    trainStep(d, sgd, batch, ctxAt(6));
    for (const [n, v] of snapshot(d.teacher)) expect(Array.from(v), n).to.deep.equal(Array.from(t0.get(n)!));
    const moved = [...snapshot(d.student)].some(([n, v]) => v.some((x, i) => x !== s0.get(n)![i]));
    expect(moved).to.equal(true);
    disposeBatch(batch);
    d.dispose();
  });

  it('works with two global views and no local views (only global-global pairs)', () => {
    const d = makeDino({ alpha: 0.4 }, { nLocal: 0 });
    const batch = makeBatch(8, 0);
    const metrics: Record<string, number> = {};
    const loss = d.loss(batch, ctxAt(0, 5, metrics));
    expect(Number.isFinite(loss.dataSync()[0])).to.equal(true);
    d.afterStep(ctxAt(0, 5, metrics));
    expect(metrics.loss_gl).to.equal(0);
    expect(metrics.loss_gg).to.be.closeTo(loss.dataSync()[0], 1e-5);
    tf.dispose(loss);
    disposeBatch(batch);
    d.dispose();
  });

  it('momentum follows the cosine schedule 0.996 -> 1 over the run', () => {
    const d = makeDino({}, { epochs: 4, stepsPerEpoch: 5 });
    expect(d.momentumAt(0)).to.equal(0.996);
    expect(d.momentumAt(10)).to.be.closeTo(0.998, 1e-12);
    expect(d.momentumAt(19)).to.be.lessThan(1).and.greaterThan(0.9999);
    d.dispose();
  });

  it('freeze_last_layer drops the last layer gradients during the first epochs only; clip_grad bounds every norm', () => {
    const d = makeDino({ freeze_last_layer: 1, clip_grad: 0.01, norm_last_layer: false });
    const batch = makeBatch(5);
    const params = studentParams(d);
    tf.tidy(() => {
      const { grads } = tf.variableGrads(() => d.loss(batch, ctxAt(0)), params.map((p) => p.variable));
      const gmap = new Map(params.map((p) => [p, grads[p.variable.name]] as [Parameter, tf.Tensor]));
      const last = params.filter((p) => p.name.startsWith('student.head.last_layer.')).map((p) => p.name);
      expect(last).to.deep.equal(['student.head.last_layer.weight_g', 'student.head.last_layer.weight_v']);
      const epoch0 = d.processGradients(gmap, ctxAt(0));
      expect([...epoch0.keys()].map((p) => p.name)).to.not.include.members(last);
      expect(epoch0.size).to.equal(params.length - 2);
      const epoch1 = d.processGradients(gmap, ctxAt(5));
      expect([...epoch1.keys()].map((p) => p.name)).to.include.members(last);
      let clipped = 0;
      for (const [p, g] of epoch1) {
        const n = tf.norm(g).dataSync()[0];
        const n0 = tf.norm(gmap.get(p)!).dataSync()[0];
        expect(n).to.be.at.most(0.01 + 1e-6);
        if (n0 > 0.01) clipped++;
        else expect(n).to.be.closeTo(n0, 1e-7);
      }
      expect(clipped).to.be.greaterThan(0);
    });
    disposeBatch(batch);
    d.dispose();
  });

  it('koleo_weight: adds weight x the KoLeo of each global view\'s normalised bottleneck (summed), logged as koleo; no leaks', () => {
    const w = 0.5;
    const plain = makeDino({ alpha: 0.4 });
    const d = makeDino({ alpha: 0.4, koleo_weight: w });
    const batch = makeBatch(5);
    const views = [...batch.globals, ...batch.locals];
    const [base, koleo] = tf.tidy(() => {
      const both = d.student.head.forwardWithEmbedding(d.student.features(views));
      // One pass gives the logits of forward() and the embedding of forward({ignoreLastLayer}).
      expectClose(both.logits.dataSync(), d.student.forward(views).dataSync(), { rtol: 1e-5, atol: 1e-6, what: 'logits' });
      const feats = d.student.features(views);
      expectClose(both.embedding.dataSync(), d.student.head.forward(feats, { ignoreLastLayer: true }).dataSync(), { rtol: 1e-5, atol: 1e-6, what: 'embedding' });
      const e = both.embedding;
      const k = tf.add(koleoLoss(tf.slice(e, [0, 0], [B, 8])), koleoLoss(tf.slice(e, [B, 0], [B, 8])));
      return [plain.loss(batch, ctxAt(0)).dataSync()[0], k.dataSync()[0]];
    });
    plain.afterStep(ctxAt(0));
    const metrics: Record<string, number> = {};
    const before = tf.memory().numTensors;
    const loss = d.loss(batch, ctxAt(0, 5, metrics));
    expectClose([loss.dataSync()[0]], [base + w * koleo], { rtol: 1e-5, atol: 1e-6, what: 'loss' });
    loss.dispose();
    d.afterStep(ctxAt(0, 5, metrics));
    expectClose([metrics.koleo], [koleo], { rtol: 1e-5, atol: 1e-6, what: 'koleo metric' });
    expect(tf.memory().numTensors).to.equal(before);
    const opt = registry.get('optimizer', 'sgd');
    const sgd = opt.create(opt.schema.parse({ lr: 0.5, scale_lr_by_batch: false }), { params: studentParams(d), batchSize: B, epochs: 4, stepsPerEpoch: 5 });
    trainStep(d, sgd, batch, ctxAt(6));
    const n = tf.memory().numTensors;
    trainStep(d, sgd, batch, ctxAt(7));
    expect(tf.memory().numTensors).to.equal(n);
    expect(() => dinoSchema.parse({ koleo_weight: -1 })).to.throw();
    disposeBatch(batch);
    plain.dispose();
    d.dispose();
  });

  it('loss decreases over a few LARS steps on a fixed batch, and steps leak no tensors', () => {
    // A fixed teacher and center make the objective stationary, so descent must show.
    const fixed = { momentum_teacher: 1, center_momentum: 1 };
    const d = makeDino({ ...fixed, warmup_teacher_temp_epochs: 0, teacher_temp: 0.04, alpha: 0.4, freeze_last_layer: 0 }, { epochs: 4, stepsPerEpoch: 5 });
    const def = registry.get('optimizer', 'lars');
    const lars = def.create(def.schema.parse({ lr: 0.5, warmup_epochs: 0, depthwise_rule: 'paper' }), {
      params: studentParams(d),
      batchSize: B,
      epochs: 4,
      stepsPerEpoch: 5,
    });
    const batch = makeBatch(6);
    const losses: number[] = [];
    let afterFirst = 0;
    for (let s = 0; s < 6; s++) {
      losses.push(trainStep(d, lars, batch, ctxAt(s)));
      if (s === 1) afterFirst = tf.memory().numTensors;
    }
    expect(tf.memory().numTensors).to.equal(afterFirst);
    expect(losses.every(Number.isFinite)).to.equal(true);
    for (let s = 1; s < losses.length; s++) expect(losses[s], `step ${s}: ${losses}`).to.be.lessThan(losses[s - 1]);
    expect(losses[5]).to.be.lessThan(d.collapseLoss());
    disposeBatch(batch);
    d.dispose();
  });

  it('center round-trips through tensorState; a wrong out_dim is refused', () => {
    const a = makeDino();
    const b = makeDino();
    a.center.assign(tf.reshape(tf.range(0, 16), [1, 16]));
    b.loadTensorState(new Map([['center', a.tensorState().get('center')!.clone()]]));
    expect(Array.from(b.center.dataSync())).to.deep.equal(Array.from(a.center.dataSync()));
    expect(() => b.loadTensorState(new Map([['center', tf.zeros([1, 8])]]))).to.throw(/out_dim/);
    a.dispose();
    b.dispose();
  });

  it('refuses a teacher-temperature warm-up longer than the run, and defaults to a quarter of it', () => {
    expect(() => makeDino({ warmup_teacher_temp_epochs: 10 }, { epochs: 4 })).to.throw(/warmup_teacher_temp_epochs/);
    const d = makeDino({}, { epochs: 8 }); // warm-up 2 epochs: 0.04, then 0.07
    expect([0, 1, 2, 7].map((e) => d.teacherTempAt(e))).to.deep.equal([0.04, 0.07, 0.07, 0.07]);
    d.dispose();
  });
});
