import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { sinkhorn, sinkhornTrace } from '../../../../plugins/methods/swav/sinkhorn';
import { Rng } from '../../../../src/core/rng';
import { expectClose, loadReference, type RefTensor } from '../../../helpers/reference';

interface SwavRef {
  sinkhorn_test: {
    inputs: { scores: RefTensor; epsilon: number; iterations: number };
    outputs: { Q: RefTensor; trace: RefTensor[] };
  };
  sinkhorn_with_queue_test: {
    inputs: { queue_scores: RefTensor; batch_scores: RefTensor };
    outputs: { Q_batch_rows: RefTensor };
  };
}

const ref = loadReference<SwavRef>('swav');
const t2 = (r: RefTensor) => tf.tensor2d(r.data, r.shape as [number, number]);
/** swav.json "tolerance": float32, atol 1e-5 on Q (exp(x / 0.05) amplifies input rounding 20x). */
const Q_TOL = { rtol: 0, atol: 1e-5 };

describe('plugins/methods/swav/sinkhorn', () => {
  describe('matches reference/swav.json (Q: atol 1e-5, the file\'s tolerance)', function () {
    if (!ref) {
      it('skipped: reference/swav.json is absent');
      return;
    }

    it('sinkhorn_test: Q (3 iterations, epsilon 0.05)', () => {
      const c = ref.sinkhorn_test;
      const q = sinkhorn(t2(c.inputs.scores), { epsilon: c.inputs.epsilon, iterations: c.inputs.iterations });
      expect(q.shape).to.deep.equal(c.outputs.Q.shape);
      const got = q.dataSync();
      expectClose(got, c.outputs.Q.data, { ...Q_TOL, what: 'sinkhorn_test Q' });
      // Stricter than the file asks: the tiny codes are right in relative terms too, so no entry
      // underflows or is swamped by rounding (float32 inputs, 20x amplification: ~1e-6 relative).
      expectClose(got, c.outputs.Q.data, { rtol: 1e-4, atol: 1e-20, what: 'sinkhorn_test Q (relative)' });
      tf.dispose(q);
    });

    it('sinkhorn_test: trace (initial normalisation and every iteration)', () => {
      const c = ref.sinkhorn_test;
      const trace = sinkhornTrace(t2(c.inputs.scores), { epsilon: c.inputs.epsilon, iterations: c.inputs.iterations });
      expect(trace.length).to.equal(c.outputs.trace.length);
      trace.forEach((s, i) => {
        expectClose(s.dataSync(), c.outputs.trace[i].data, { ...Q_TOL, what: `trace[${i}]` });
        expectClose(s.dataSync(), c.outputs.trace[i].data, { rtol: 1e-4, atol: 1e-20, what: `trace[${i}] (relative)` });
      });
      tf.dispose(trace);
    });

    it('sinkhorn_with_queue_test: the batch rows of sinkhorn(cat([queue, batch]))', () => {
      const c = ref.sinkhorn_with_queue_test;
      const batch = t2(c.inputs.batch_scores);
      const all = sinkhorn(tf.concat([t2(c.inputs.queue_scores), batch], 0) as tf.Tensor2D);
      const rows = tf.slice(all, [c.inputs.queue_scores.shape[0], 0], batch.shape);
      expectClose(rows.dataSync(), c.outputs.Q_batch_rows.data, { ...Q_TOL, what: 'Q_batch_rows' });
      // Without the queue the same batch gets different codes: the queue is not a no-op.
      const alone = sinkhorn(batch).dataSync();
      expect(Math.max(...Array.from(alone, (v, i) => Math.abs(v - c.outputs.Q_batch_rows.data[i])))).to.be.greaterThan(1e-3);
    });
  });

  it('rows of the codes sum to 1, prototypes get about B/K each; adding a constant changes nothing', () => {
    const rng = new Rng(3);
    const b = 16;
    const k = 5;
    const scores = tf.tensor2d(Float32Array.from({ length: b * k }, () => rng.range(-1, 1)), [b, k]);
    const q = sinkhorn(scores);
    const rows = tf.sum(q, 1).dataSync();
    expectClose(rows, new Array(b).fill(1), { rtol: 0, atol: 1e-5, what: 'row sums' });
    const cols = tf.sum(q, 0).dataSync();
    // 3 iterations leave the prototype marginals close to, not exactly at, B/K.
    for (const cs of cols) expect(Math.abs(cs - b / k) / (b / k)).to.be.lessThan(0.5);
    const shifted = sinkhorn(tf.add(scores, 0.7) as tf.Tensor2D);
    expectClose(shifted.dataSync(), q.dataSync(), { rtol: 1e-4, atol: 1e-7, what: 'shift invariance' });
  });

  it('stays finite for scores that are not cosines (exp(scores / epsilon) beyond float32 range)', () => {
    // exp(6 / 0.05) = e^120 overflows float32; the max shift keeps it at most 1.
    const scores = tf.tensor2d([[6, 5, 4], [5.5, 6.2, 4.1]]);
    const q = sinkhorn(scores).dataSync();
    expect(Array.from(q).every(Number.isFinite)).to.equal(true);
    expectClose([q[0] + q[1] + q[2], q[3] + q[4] + q[5]], [1, 1], { rtol: 0, atol: 1e-5, what: 'row sums' });
  });

  it('frees its intermediates and rejects bad arguments', () => {
    const scores = tf.tensor2d([[0.1, 0.2], [0.3, -0.4]]);
    const before = tf.memory().numTensors;
    const q = sinkhorn(scores, { iterations: 5 });
    expect(tf.memory().numTensors).to.equal(before + 1);
    q.dispose();
    expect(() => sinkhorn(scores, { epsilon: 0 })).to.throw(/epsilon/);
    expect(() => sinkhorn(scores, { iterations: 1.5 })).to.throw(/iterations/);
    expect(() => sinkhorn(tf.zeros([2, 2, 2]) as unknown as tf.Tensor2D)).to.throw(/\[B, K\]/);
    scores.dispose();
  });
});
