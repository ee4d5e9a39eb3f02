import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { chunkWeights, mocoLoss, uniformAlpha, type MocoLossResult } from '../../../../plugins/methods/mocov2/loss';
import { Rng } from '../../../../src/core/rng';
import { ensureGradients } from '../../../../src/nn/gradients';
import { expectClose, loadReference, type RefTensor } from '../../../helpers/reference';

interface MocoRef {
  config: { batch_size: number; dim: number; queue_len_K: number; temperature: number; n_local: number; alpha: number; queue_ptr_before: number };
  inputs: { queue: RefTensor; k_raw: RefTensor; q_global_raw: RefTensor; q_local_raw: RefTensor };
  outputs: {
    k_normalized: RefTensor;
    standard: { logits: RefTensor; per_row_ce: RefTensor; loss: number; grad_loss_wrt_q_global_raw: RefTensor };
    multicrop: {
      logits: RefTensor;
      per_row_ce: RefTensor;
      g_loss: number;
      l_loss_sum: number;
      loss_uniform: number;
      'loss_alpha_0.4': number;
      alpha_equivalent_to_uniform: number;
      grad_alpha_wrt_query_raw_concat: RefTensor;
      grad_uniform_wrt_query_raw_concat: RefTensor;
    };
  };
}

const ref = loadReference<MocoRef>('moco');
const t2 = (r: RefTensor) => tf.tensor2d(r.data, r.shape as [number, number]);
/** The file's tolerance line: "float32: rtol 1e-5 on losses, atol 1e-6 on logits/grads". */
const LOSS_TOL = { rtol: 1e-5, atol: 0 };
const LOGIT_TOL = { rtol: 0, atol: 1e-6 };

/** [pos | neg] as the reference's [N, 1 + K] logits, row-major. */
function logitsOf(r: MocoLossResult): Float32Array {
  return tf.tidy(() => tf.concat([tf.expandDims(r.posLogits, 1), r.negLogits], 1).dataSync() as Float32Array);
}

describe('plugins/methods/mocov2/loss', () => {
  before(() => ensureGradients());

  describe('matches reference/moco.json (losses rtol 1e-5, logits and grads atol 1e-6, as the file states)', function () {
    if (!ref) {
      it('skipped: reference/moco.json is absent');
      return;
    }
    const c = ref.config;
    const o = ref.outputs;
    const opts = (nLocal: number, alpha: number | null) => ({ temperature: c.temperature, nGlobalQueries: 1, nLocal, alpha });
    const queries = () => tf.concat([t2(ref.inputs.q_global_raw), t2(ref.inputs.q_local_raw)], 0) as tf.Tensor2D;

    it('config: B 4, dim 8, K 16, T 0.2, 3 local views, alpha 0.4 (the case this file checks)', () => {
      expect([c.batch_size, c.dim, c.queue_len_K, c.temperature, c.n_local, c.alpha]).to.deep.equal([4, 8, 16, 0.2, 3, 0.4]);
    });

    it('standard (two views): k_normalized, logits [4, 17], per_row_ce, loss, grad wrt q_global_raw', () => {
      tf.tidy(() => {
        const q = t2(ref.inputs.q_global_raw);
        const f = (x: tf.Tensor) => mocoLoss(x as tf.Tensor2D, t2(ref.inputs.k_raw), t2(ref.inputs.queue), opts(0, null)).loss;
        const r = mocoLoss(q, t2(ref.inputs.k_raw), t2(ref.inputs.queue), opts(0, null));
        expectClose(r.keys.dataSync(), o.k_normalized.data, { ...LOGIT_TOL, what: 'k_normalized' });
        expect([r.posLogits.shape[0], 1 + r.negLogits.shape[1]]).to.deep.equal(o.standard.logits.shape);
        expectClose(logitsOf(r), o.standard.logits.data, { ...LOGIT_TOL, what: 'standard.logits' });
        expectClose(r.perRowCe.dataSync(), o.standard.per_row_ce.data, { ...LOSS_TOL, what: 'standard.per_row_ce' });
        expectClose(r.loss.dataSync(), [o.standard.loss], { ...LOSS_TOL, what: 'standard.loss' });
        expectClose(tf.grad(f)(q).dataSync(), o.standard.grad_loss_wrt_q_global_raw.data, { ...LOGIT_TOL, what: 'standard.grad' });
      });
    });

    it('multicrop: logits [16, 17] and per_row_ce; g_loss, l_loss_sum from the chunk means', () => {
      tf.tidy(() => {
        const r = mocoLoss(queries(), t2(ref.inputs.k_raw), t2(ref.inputs.queue), opts(c.n_local, null));
        expectClose(logitsOf(r), o.multicrop.logits.data, { ...LOGIT_TOL, what: 'multicrop.logits' });
        expectClose(r.perRowCe.dataSync(), o.multicrop.per_row_ce.data, { ...LOSS_TOL, what: 'multicrop.per_row_ce' });
        const chunks = Array.from(r.chunkLoss.dataSync());
        expect(chunks.length).to.equal(1 + c.n_local);
        expectClose([chunks[0], chunks.slice(1).reduce((a, b) => a + b, 0)], [o.multicrop.g_loss, o.multicrop.l_loss_sum], {
          ...LOSS_TOL,
          what: 'g_loss, l_loss_sum',
        });
      });
    });

    it("multicrop loss_uniform (alpha null) and 'loss_alpha_0.4' (eq. 3), with their grads wrt the concatenated raw queries", () => {
      tf.tidy(() => {
        const q = queries();
        for (const [alpha, want, grad] of [
          [null, o.multicrop.loss_uniform, o.multicrop.grad_uniform_wrt_query_raw_concat],
          [c.alpha, o.multicrop['loss_alpha_0.4'], o.multicrop.grad_alpha_wrt_query_raw_concat],
        ] as const) {
          const f = (x: tf.Tensor) => mocoLoss(x as tf.Tensor2D, t2(ref.inputs.k_raw), t2(ref.inputs.queue), opts(c.n_local, alpha)).loss;
          expectClose(f(q).dataSync(), [want], { ...LOSS_TOL, what: `loss alpha=${alpha}` });
          expectClose(tf.grad(f)(q).dataSync(), grad.data, { ...LOGIT_TOL, what: `grad alpha=${alpha}` });
        }
      });
    });

    it('alpha_equivalent_to_uniform: alpha = 1/(1+L) reproduces the uniform loss', () => {
      expect(uniformAlpha(1, c.n_local)).to.equal(o.multicrop.alpha_equivalent_to_uniform);
      tf.tidy(() => {
        const a = mocoLoss(queries(), t2(ref.inputs.k_raw), t2(ref.inputs.queue), opts(c.n_local, uniformAlpha(1, c.n_local))).loss;
        expectClose(a.dataSync(), [o.multicrop.loss_uniform], { ...LOSS_TOL, what: 'loss at the equivalent alpha' });
      });
    });
  });

  it('chunkWeights: uniform 1/nChunks; alpha split between global and local chunks; two-view mode is all global', () => {
    expect(Array.from(chunkWeights(1, 3, null))).to.deep.equal([0.25, 0.25, 0.25, 0.25]);
    expectClose(chunkWeights(1, 6, 0.4), [0.4, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1], { rtol: 1e-6, what: 'alpha 0.4, L 6' });
    expectClose(chunkWeights(2, 2, 0.4), [0.2, 0.2, 0.3, 0.3], { rtol: 1e-6, what: 'two global query chunks' });
    expect(Array.from(chunkWeights(1, 0, 0.4))).to.deep.equal([1]);
    expect(Array.from(chunkWeights(1, 0, null))).to.deep.equal([1]);
    expect(uniformAlpha(1, 6)).to.be.closeTo(1 / 7, 1e-12);
    expect(() => chunkWeights(0, 2, null)).to.throw(RangeError);
    expect(() => chunkWeights(1, 2, 1.5)).to.throw(/alpha/);
  });

  it('no gradient reaches the keys or the queue; the loss does not depend on the scale of the raw outputs', () => {
    const rng = new Rng(3);
    const draw = (r: number, c: number) => tf.tensor2d(Float32Array.from({ length: r * c }, () => rng.normal()), [r, c]);
    tf.tidy(() => {
      const q = draw(12, 5);
      const k = draw(4, 5);
      const queue = draw(5, 8);
      const o = { temperature: 0.2, nGlobalQueries: 1, nLocal: 2, alpha: 0.4 };
      const [gq, gk, gQueue] = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
        mocoLoss(a as tf.Tensor2D, b as tf.Tensor2D, c as tf.Tensor2D, o).loss,
      )([q, k, queue]);
      expect(tf.max(tf.abs(gq)).dataSync()[0]).to.be.greaterThan(1e-4);
      expect(Array.from(gk.dataSync()).every((v) => v === 0)).to.equal(true);
      expect(Array.from(gQueue.dataSync()).every((v) => v === 0)).to.equal(true);
      const l1 = mocoLoss(q, k, queue, o).loss.dataSync()[0];
      const l2 = mocoLoss(tf.mul(q, 3) as tf.Tensor2D, tf.mul(k, 0.5) as tf.Tensor2D, queue, o).loss.dataSync()[0];
      expect(l2).to.be.closeTo(l1, 1e-5);
    });
  });

  it('acc@1 counts rows whose positive beats every negative', () => {
    tf.tidy(() => {
      // dim 2, K 2: the key is e0; queue columns e1 and -e0.
      const k = tf.tensor2d([[1, 0]]);
      const queue = tf.tensor2d([[0, -1], [1, 0]]);
      const q = tf.tensor2d([[1, 0.1], [0, 1]]); // row 0 matches the key; row 1 matches queue column 0
      const r = mocoLoss(q, k, queue, { temperature: 0.2, nGlobalQueries: 1, nLocal: 1, alpha: null });
      expect(Array.from(r.correct.dataSync())).to.deep.equal([1, 0]);
    });
  });

  it('refuses inconsistent shapes with a message naming them', () => {
    tf.tidy(() => {
      const o = { temperature: 0.2, nGlobalQueries: 1, nLocal: 1, alpha: null };
      expect(() => mocoLoss(tf.zeros([6, 4]) as tf.Tensor2D, tf.zeros([4, 4]) as tf.Tensor2D, tf.zeros([4, 8]) as tf.Tensor2D, o)).to.throw(/queries \[6,4\]/);
      expect(() => mocoLoss(tf.zeros([8, 4]) as tf.Tensor2D, tf.zeros([4, 4]) as tf.Tensor2D, tf.zeros([3, 8]) as tf.Tensor2D, o)).to.throw(/queue \[3,8\]/);
    });
  });
});
