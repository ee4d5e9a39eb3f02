import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { dinoLoss, teacherEntropies, updateCenter } from '../../../../plugins/methods/dino/loss';
import { equivalentAlpha, pairCounts, pairWeights } from '../../../../plugins/methods/common/pairs';
import { Rng } from '../../../../src/core/rng';
import { ensureGradients } from '../../../../src/nn/gradients';
import { expectClose, loadReference, type RefTensor } from '../../../helpers/reference';

interface DinoLossRef {
  config: { batch_size: number; out_dim: number; n_global: number; n_local: number; student_temp: number; teacher_temp: number; alpha: number; center_momentum: number };
  inputs: { student_output: RefTensor; teacher_output: RefTensor; center: RefTensor };
  outputs: {
    teacher_probs: RefTensor;
    pair_loss_matrix: RefTensor;
    standard_loss: number;
    Lg: number;
    Ll: number;
    Pgg: number;
    Pgl: number;
    'rebalanced_loss_alpha_0.4': number;
    alpha_equivalent_to_standard: number;
    center_new: RefTensor;
    grad_rebalanced_wrt_student_output: RefTensor;
    grad_standard_wrt_student_output: RefTensor;
  };
}

const ref = loadReference<DinoLossRef>('dino_loss');
const t = (r: RefTensor) => tf.tensor(r.data, r.shape);

function randomOutputs(rng: Rng, b: number, k: number, nGlobal: number, nLocal: number) {
  const draw = (rows: number) => tf.tensor2d(Float32Array.from({ length: rows * k }, () => rng.normal()), [rows, k]);
  return { student: draw(b * (nGlobal + nLocal)), teacher: draw(b * nGlobal), center: draw(1) };
}

describe('plugins/methods/dino/loss', () => {
  before(() => ensureGradients());

  describe('matches reference/dino_loss.json (losses rtol 1e-5/atol 1e-6, probs and grads atol 1e-6)', function () {
    if (!ref) {
      it('skipped: reference/dino_loss.json is absent');
      return;
    }
    const c = ref.config;
    const o = ref.outputs;
    const base = { nGlobal: c.n_global, nLocal: c.n_local, teacherTemp: c.teacher_temp, studentTemp: c.student_temp };
    const lossOf = (alpha: number | null) =>
      tf.tidy(() => dinoLoss(t(ref.inputs.student_output) as tf.Tensor2D, t(ref.inputs.teacher_output) as tf.Tensor2D, t(ref.inputs.center), { ...base, alpha }));

    it('teacher_probs, pair_loss_matrix, Lg / Ll', () => {
      const r = lossOf(null);
      expectClose(r.teacherProbs.dataSync(), o.teacher_probs.data, { rtol: 0, atol: 1e-6, what: 'teacher_probs' });
      const pl = r.pairLoss.dataSync();
      expect(r.pairLoss.shape).to.deep.equal(o.pair_loss_matrix.shape);
      expectClose(pl, o.pair_loss_matrix.data, { rtol: 1e-5, atol: 1e-6, what: 'pair_loss_matrix' });
      const nv = c.n_global + c.n_local;
      let lg = 0;
      let ll = 0;
      for (let i = 0; i < c.n_global; i++) {
        for (let v = 0; v < nv; v++) {
          if (v === i) continue;
          if (v < c.n_global) lg += pl[i * nv + v];
          else ll += pl[i * nv + v];
        }
      }
      expectClose([lg, ll], [o.Lg, o.Ll], { rtol: 1e-5, atol: 1e-6, what: 'Lg, Ll' });
      expect(pairCounts(c.n_global, c.n_local)).to.deep.equal({ pgg: o.Pgg, pgl: o.Pgl });
      tf.dispose(r);
    });

    it("standard_loss (eq. 2, alpha null) and 'rebalanced_loss_alpha_0.4' (eq. 3)", () => {
      const std = lossOf(null);
      const reb = lossOf(c.alpha);
      expectClose([std.loss.dataSync()[0]], [o.standard_loss], { rtol: 1e-5, atol: 1e-6, what: 'standard_loss' });
      expectClose([reb.loss.dataSync()[0]], [o['rebalanced_loss_alpha_0.4']], { rtol: 1e-5, atol: 1e-6, what: 'rebalanced' });
      tf.dispose([std, reb]);
    });

    it('alpha_equivalent_to_standard (0.2 here) reproduces the standard loss', () => {
      expect(equivalentAlpha(c.n_global, c.n_local)).to.be.closeTo(o.alpha_equivalent_to_standard, 1e-12);
      const r = lossOf(o.alpha_equivalent_to_standard);
      expectClose([r.loss.dataSync()[0]], [o.standard_loss], { rtol: 1e-5, atol: 1e-6, what: 'loss at alpha 0.2' });
      tf.dispose(r);
    });

    it('center_new = center*0.9 + mean(teacher rows)*0.1, from the raw teacher output', () => {
      const r = lossOf(null);
      const center = t(ref.inputs.center);
      const next = updateCenter(center, r.batchCenter, c.center_momentum);
      expectClose(next.dataSync(), o.center_new.data, { rtol: 1e-5, atol: 1e-6, what: 'center_new' });
      tf.dispose([r, center, next]);
    });

    for (const [name, alpha] of [['grad_standard_wrt_student_output', null], ['grad_rebalanced_wrt_student_output', 0.4]] as const) {
      it(`${name}`, () => {
        const g = tf.tidy(() =>
          tf.grad((s: tf.Tensor) =>
            dinoLoss(s as tf.Tensor2D, t(ref.inputs.teacher_output) as tf.Tensor2D, t(ref.inputs.center), { ...base, alpha }).loss,
          )(t(ref.inputs.student_output)),
        );
        expectClose(g.dataSync(), o[name].data, { rtol: 0, atol: 1e-6, what: name });
        g.dispose();
      });
    }
  });

  it('eq. 2 equals eq. 3 with alpha = P_gg/(P_gg+P_gl) = 1/7 ~ 0.143 for 2 global + 6 local views', () => {
    const { pgg, pgl } = pairCounts(2, 6);
    expect([pgg, pgl]).to.deep.equal([2, 12]);
    expect(equivalentAlpha(2, 6)).to.be.closeTo(0.143, 5e-4);
    const { student, teacher, center } = randomOutputs(new Rng(3), 4, 16, 2, 6);
    const opts = { nGlobal: 2, nLocal: 6, teacherTemp: 0.04, studentTemp: 0.1 };
    const a = dinoLoss(student, teacher, center, { ...opts, alpha: null });
    const b = dinoLoss(student, teacher, center, { ...opts, alpha: equivalentAlpha(2, 6) });
    const d = dinoLoss(student, teacher, center, { ...opts, alpha: 0.4 });
    expect(b.loss.dataSync()[0]).to.be.closeTo(a.loss.dataSync()[0], 1e-5);
    expect(Math.abs(d.loss.dataSync()[0] - a.loss.dataSync()[0])).to.be.greaterThan(1e-4);
    tf.dispose([student, teacher, center, a, b, d]);
  });

  it('no gradient reaches the teacher output or the center', () => {
    const { student, teacher, center } = randomOutputs(new Rng(5), 3, 8, 2, 2);
    const opts = { nGlobal: 2, nLocal: 2, teacherTemp: 0.05, studentTemp: 0.1, alpha: 0.4 };
    const [gt, gc] = tf.grads((tt: tf.Tensor, cc: tf.Tensor) => dinoLoss(student, tt as tf.Tensor2D, cc, opts).loss)([teacher, center]);
    expect(Array.from(gt.dataSync()).every((x) => x === 0)).to.equal(true);
    expect(Array.from(gc.dataSync()).every((x) => x === 0)).to.equal(true);
    const gs = tf.grad((s: tf.Tensor) => dinoLoss(s as tf.Tensor2D, teacher, center, opts).loss)(student);
    expect(Array.from(gs.dataSync()).some((x) => x !== 0)).to.equal(true);
    tf.dispose([student, teacher, center, gt, gc, gs]);
  });

  it('block mask: diagonal 0, global-global alpha/P_gg, global-local (1-alpha)/P_gl; empty blocks give the other all weight', () => {
    const w = Array.from(pairWeights(2, 3, 0.4));
    const gg = 0.4 / 2;
    const gl = 0.6 / 6;
    expectClose(w, [0, gg, gl, gl, gl, gg, 0, gl, gl, gl], { rtol: 1e-6 });
    expectClose(Array.from(pairWeights(2, 0, 0.4)), [0, 0.5, 0.5, 0], { rtol: 1e-6 });
    expectClose(Array.from(pairWeights(1, 2, 0.4)), [0, 0.5, 0.5], { rtol: 1e-6 });
    expect(() => pairWeights(1, 0, null)).to.throw(/no pair/);
    expect(() => pairWeights(2, 2, 1.5)).to.throw(/alpha/);
  });

  it('rejects outputs whose rows do not match the view counts', () => {
    const s = tf.zeros([10, 4]) as tf.Tensor2D;
    const te = tf.zeros([4, 4]) as tf.Tensor2D;
    expect(() => dinoLoss(s, te, tf.zeros([1, 4]), { nGlobal: 2, nLocal: 2, teacherTemp: 0.04, studentTemp: 0.1, alpha: null })).to.throw(/expected teacher/);
    tf.dispose([s, te]);
  });

  it('teacher entropies: uniform -> ln K per sample; one-hot on the same dim -> 0 for the batch mean', () => {
    const k = 8;
    const uniform = tf.fill([3, k], 1 / k) as tf.Tensor2D;
    const same = tf.cast(tf.oneHot(tf.tensor1d([2, 2, 2], 'int32'), k), 'float32') as tf.Tensor2D;
    const [u0, u1] = Array.from(teacherEntropies(uniform).dataSync());
    const [s0, s1] = Array.from(teacherEntropies(same).dataSync());
    expect(u0).to.be.closeTo(Math.log(k), 1e-5);
    expect(u1).to.be.closeTo(Math.log(k), 1e-5);
    expect(s0).to.be.closeTo(0, 1e-6);
    expect(s1).to.be.closeTo(0, 1e-6);
    tf.dispose([uniform, same]);
  });

  it('leaves no tensors behind besides its results', () => {
    const { student, teacher, center } = randomOutputs(new Rng(9), 2, 4, 2, 1);
    const before = tf.memory().numTensors;
    const r = dinoLoss(student, teacher, center, { nGlobal: 2, nLocal: 1, teacherTemp: 0.04, studentTemp: 0.1, alpha: 0.4 });
    expect(tf.memory().numTensors).to.equal(before + 4);
    tf.dispose([r, student, teacher, center]);
  });
});
