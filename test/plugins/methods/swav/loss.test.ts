import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { swavLoss } from '../../../../plugins/methods/swav/loss';
import { pairCounts, pairWeights } from '../../../../plugins/methods/common/pairs';
import { sinkhorn } from '../../../../plugins/methods/swav/sinkhorn';
import { Rng } from '../../../../src/core/rng';
import { expectClose, loadReference, type RefTensor } from '../../../helpers/reference';

interface SwavLossRef {
  loss_test: {
    config: {
      batch_size: number;
      n_prototypes: number;
      n_global: number;
      n_local: number;
      crops_for_assign: number[];
      temperature: number;
      epsilon: number;
      sinkhorn_iterations: number;
      alpha: number;
    };
    inputs: { scores: RefTensor };
    outputs: {
      q_assign_crop0: RefTensor;
      q_assign_crop1: RefTensor;
      pair_loss_matrix: Array<Array<number | null>>;
      standard_loss: number;
      Lg: number;
      Pgg: number;
      Ll: number;
      Pgl: number;
      'rebalanced_loss_alpha_0.4': number;
      alpha_equivalent_to_standard: number;
      grad_rebalanced_wrt_scores: RefTensor;
      grad_standard_wrt_scores: RefTensor;
    };
  };
  sinkhorn_with_queue_test: {
    inputs: { queue_scores: RefTensor; batch_scores: RefTensor };
    outputs: { Q_batch_rows: RefTensor };
  };
}

const ref = loadReference<SwavLossRef>('swav');
const t2 = (r: RefTensor) => tf.tensor2d(r.data, r.shape as [number, number]);
/** swav.json "tolerance": rtol 1e-5 on losses, atol 1e-5 on Q. */
const LOSS_TOL = { rtol: 1e-5, atol: 0 };
const Q_TOL = { rtol: 0, atol: 1e-5 };

describe('plugins/methods/swav/loss', () => {
  describe('matches reference/swav.json loss_test (losses rtol 1e-5, codes atol 1e-5, grads atol 1e-5)', function () {
    if (!ref) {
      it('skipped: reference/swav.json is absent');
      return;
    }
    const c = ref.loss_test.config;
    const o = ref.loss_test.outputs;
    const base = {
      nGlobal: c.n_global,
      nLocal: c.n_local,
      cropsForAssign: c.crops_for_assign,
      temperature: c.temperature,
      epsilon: c.epsilon,
      sinkhornIterations: c.sinkhorn_iterations,
    };
    const lossOf = (alpha: number | null) => tf.tidy(() => swavLoss(t2(ref.loss_test.inputs.scores), { ...base, alpha }));

    it('q_assign_crop0 / q_assign_crop1: the codes of the two global views', () => {
      const r = lossOf(null);
      const b = c.batch_size;
      const k = c.n_prototypes;
      expect(r.codes.shape).to.deep.equal([2 * b, k]);
      const codes = r.codes.dataSync();
      expectClose(codes.slice(0, b * k), o.q_assign_crop0.data, { ...Q_TOL, what: 'q_assign_crop0' });
      expectClose(codes.slice(b * k), o.q_assign_crop1.data, { ...Q_TOL, what: 'q_assign_crop1' });
      tf.dispose(r);
    });

    it('pair_loss_matrix, Lg / Pgg and Ll / Pgl', () => {
      const r = lossOf(null);
      const nv = c.n_global + c.n_local;
      const pl = r.pairLoss.dataSync();
      expect(r.pairLoss.shape).to.deep.equal([2, nv]);
      const want: number[] = [];
      const got: number[] = [];
      let lg = 0;
      let ll = 0;
      o.pair_loss_matrix.forEach((row, i) =>
        row.forEach((v, j) => {
          if (v === null) return;
          want.push(v);
          got.push(pl[i * nv + j]);
          if (j < c.n_global) lg += pl[i * nv + j];
          else ll += pl[i * nv + j];
        }),
      );
      expect(want.length).to.equal(6);
      expectClose(got, want, { ...LOSS_TOL, what: 'pair_loss_matrix' });
      expectClose([lg, ll], [o.Lg, o.Ll], { ...LOSS_TOL, what: 'Lg, Ll' });
      expect(pairCounts(c.n_global, c.n_local, c.crops_for_assign)).to.deep.equal({ pgg: o.Pgg, pgl: o.Pgl });
      tf.dispose(r);
    });

    it("standard_loss (alpha null, SwAV's average) and 'rebalanced_loss_alpha_0.4' (eq. 3)", () => {
      const std = lossOf(null);
      const reb = lossOf(c.alpha);
      expectClose([std.loss.dataSync()[0]], [o.standard_loss], { ...LOSS_TOL, what: 'standard_loss' });
      expectClose([reb.loss.dataSync()[0]], [o['rebalanced_loss_alpha_0.4']], { ...LOSS_TOL, what: 'rebalanced_loss_alpha_0.4' });
      tf.dispose([std, reb]);
    });

    it('alpha_equivalent_to_standard (1/3 here) reproduces the standard loss', () => {
      const eq = lossOf(o.alpha_equivalent_to_standard);
      expectClose([eq.loss.dataSync()[0]], [o.standard_loss], { ...LOSS_TOL, what: 'loss at alpha 1/3' });
      const { pgg, pgl } = pairCounts(c.n_global, c.n_local, c.crops_for_assign);
      expect(pgg / (pgg + pgl)).to.be.closeTo(o.alpha_equivalent_to_standard, 1e-8);
      tf.dispose(eq);
    });

    // The file gives no gradient tolerance; the gradient is sum_c w (softmax(s_v / T) - q_c) / (T B),
    // so Q's atol 1e-5 bounds it (w / (T B) <= 1 here).
    for (const [name, alpha] of [['grad_standard_wrt_scores', null], ['grad_rebalanced_wrt_scores', 0.4]] as const) {
      it(`${name}: codes take no gradient (Sinkhorn off the tape)`, () => {
        const g = tf.grad((s: tf.Tensor) => swavLoss(s as tf.Tensor2D, { ...base, alpha }).loss)(t2(ref.loss_test.inputs.scores));
        expectClose(g.dataSync(), o[name].data, { rtol: 0, atol: 1e-5, what: name });
        tf.dispose(g);
      });
    }
  });

  it('reference sinkhorn_with_queue_test through the loss: queue scores are prepended, batch rows used', function () {
    if (!ref) this.skip();
    const c = ref!.sinkhorn_with_queue_test;
    const batch = t2(c.inputs.batch_scores);
    // One global view (assigned) and one local view; the local view's scores do not affect the codes.
    const scores = tf.concat([batch, tf.reverse(batch, 0)], 0) as tf.Tensor2D;
    const r = swavLoss(scores, { nGlobal: 1, nLocal: 1, cropsForAssign: [0], alpha: null, queueScores: [t2(c.inputs.queue_scores)] });
    expectClose(r.codes.dataSync(), c.outputs.Q_batch_rows.data, { ...Q_TOL, what: 'Q_batch_rows via swavLoss' });
    tf.dispose(r);
  });

  it("codeScores: codes from other scores (a target network's); the assigned rows of scores reproduce SwAV", () => {
    const rng = new Rng(5);
    const b = 3;
    const k = 6;
    tf.tidy(() => {
      const scores = tf.tensor2d(Float32Array.from({ length: 4 * b * k }, () => rng.normal() * 0.3), [4 * b, k]);
      const opts = { nGlobal: 2, nLocal: 2, alpha: 0.4 };
      const own = swavLoss(scores, opts);
      const same = swavLoss(scores, { ...opts, codeScores: tf.slice(scores, [0, 0], [2 * b, k]) as tf.Tensor2D });
      expectClose(same.loss.dataSync(), own.loss.dataSync(), { rtol: 1e-6, atol: 0, what: 'loss' });
      expectClose(same.codes.dataSync(), own.codes.dataSync(), { rtol: 1e-6, atol: 1e-7, what: 'codes' });
      const other = tf.tensor2d(Float32Array.from({ length: 2 * b * k }, () => rng.normal() * 0.3), [2 * b, k]);
      const r = swavLoss(scores, { ...opts, codeScores: other });
      expectClose(r.codes.dataSync(), tf.concat([sinkhorn(tf.slice(other, [0, 0], [b, k])), sinkhorn(tf.slice(other, [b, 0], [b, k]))], 0).dataSync(), { rtol: 1e-5, atol: 1e-7, what: 'codes of the other scores' });
      expect(() => swavLoss(scores, { ...opts, codeScores: tf.slice(other, [0, 0], [b, k]) })).to.throw(/code scores/);
    });
  });

  it('pair weights: eq. 2 uniform, eq. 3 blocks, empty blocks, and refusals', () => {
    // 2 global + 6 local, crops [0, 1]: P_gg = 2, P_gl = 12; eq. 2 is alpha = 1/7.
    const w2 = pairWeights(2, 6, null, [0, 1]);
    expect(Array.from(w2.slice(0, 8))).to.deep.equal([0, ...new Array(7).fill(Math.fround(1 / 14))]);
    const w3 = pairWeights(2, 6, 0.4, [0, 1]);
    expectClose(Array.from(w3.slice(8)), [0.2, 0, ...new Array(6).fill(0.6 / 12)], { rtol: 1e-7, atol: 0, what: 'eq. 3 row 1' });
    // No local views: the global-global block takes everything whatever alpha is.
    expect(Array.from(pairWeights(2, 0, 0.4, [0, 1]))).to.deep.equal([0, 0.5, 0.5, 0]);
    // One assigned crop of three globals.
    expectClose(Array.from(pairWeights(3, 2, 0.5, [1])), [0.25, 0, 0.25, 0.25, 0.25], { rtol: 1e-7, atol: 0, what: 'single crop' });
    expect(() => pairWeights(2, 6, null, [2])).to.throw(/global views/);
    expect(() => pairWeights(2, 6, null, [0, 0])).to.throw(/twice/);
    expect(() => pairWeights(2, 6, null, [])).to.throw(/empty/);
    expect(() => pairWeights(1, 0, null, [0])).to.throw(/no pair/);
    expect(() => pairWeights(2, 6, 1.5, [0, 1])).to.throw(/alpha/);
  });

  it('every weighted term is a cross-entropy of the codes: a uniform prediction gives ln K', () => {
    const rng = new Rng(11);
    const b = 6;
    const k = 7;
    // The local view scores are constant: its predictions are uniform, so each pair (c, local) is ln K.
    const g = tf.tensor2d(Float32Array.from({ length: 2 * b * k }, () => rng.range(-1, 1)), [2 * b, k]);
    const scores = tf.concat([g, tf.zeros([b, k])], 0) as tf.Tensor2D;
    const r = swavLoss(scores, { nGlobal: 2, nLocal: 1, alpha: 0 });
    expect(r.loss.dataSync()[0]).to.be.closeTo(Math.log(k), 1e-5);
    // The codes are those of sinkhorn on each global view's rows alone.
    const q0 = sinkhorn(tf.slice(g, [0, 0], [b, k]));
    expectClose(r.codes.dataSync().slice(0, b * k), q0.dataSync(), { rtol: 0, atol: 1e-7, what: 'codes crop 0' });
    expect(() => swavLoss(tf.zeros([10, k]) as tf.Tensor2D, { nGlobal: 2, nLocal: 1, alpha: null })).to.throw(/expected scores/);
    tf.dispose([g, scores, r, q0]);
  });
});
