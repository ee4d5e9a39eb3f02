import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { KeyQueue } from '../../../../plugins/methods/mocov2/queue';
import { CheckpointError } from '../../../../src/core/errors';
import { Rng } from '../../../../src/core/rng';
import { expectClose, loadReference, type RefTensor } from '../../../helpers/reference';

interface QueueRef {
  config: { queue_ptr_before: number };
  inputs: { queue: RefTensor };
  outputs: { k_normalized: RefTensor; queue_after_enqueue: RefTensor; queue_ptr_after: number };
}
const ref = loadReference<QueueRef>('moco');

/** A [dim, K] queue whose column j holds (j, 100 + j, ...): easy to read back. */
function labelled(dim: number, k: number): KeyQueue {
  const t = tf.tensor2d(Float32Array.from({ length: dim * k }, (_, i) => Math.floor(i / k) * 100 + (i % k)), [dim, k]);
  const q = new KeyQueue(t);
  t.dispose();
  return q;
}

function columns(q: KeyQueue): number[][] {
  const d = q.queue.dataSync();
  return Array.from({ length: q.length }, (_, j) => Array.from({ length: q.dim }, (_, r) => d[r * q.length + j]));
}

describe('plugins/methods/mocov2/queue', () => {
  it('matches reference/moco.json queue_update: ptr 12, enqueue 4 keys -> queue_after_enqueue, ptr 0 (atol 1e-6)', function () {
    if (!ref) this.skip();
    const r = ref!;
    const init = tf.tensor2d(r.inputs.queue.data, r.inputs.queue.shape as [number, number]);
    const q = new KeyQueue(init, r.config.queue_ptr_before);
    const keys = tf.tensor2d(r.outputs.k_normalized.data, r.outputs.k_normalized.shape as [number, number]);
    q.enqueue(keys);
    expect(q.queue.shape).to.deep.equal(r.outputs.queue_after_enqueue.shape);
    expectClose(q.queue.dataSync(), r.outputs.queue_after_enqueue.data, { rtol: 0, atol: 1e-6, what: 'queue_after_enqueue' });
    expect(q.ptr).to.equal(r.outputs.queue_ptr_after);
    tf.dispose([init, keys]);
    q.dispose();
  });

  it('enqueue writes B columns at the pointer and wraps around the end (B need not divide K)', () => {
    const q = labelled(2, 6);
    const a = tf.tensor2d([[-1, -11], [-2, -12], [-3, -13], [-4, -14]]); // 4 keys of dim 2
    q.enqueue(a);
    expect(q.ptr).to.equal(4);
    expect(columns(q)).to.deep.equal([[-1, -11], [-2, -12], [-3, -13], [-4, -14], [4, 104], [5, 105]]);
    const b = tf.tensor2d([[-5, -15], [-6, -16], [-7, -17], [-8, -18]]);
    q.enqueue(b); // columns 4, 5, then 0, 1
    expect(q.ptr).to.equal(2);
    expect(columns(q)).to.deep.equal([[-7, -17], [-8, -18], [-3, -13], [-4, -14], [-5, -15], [-6, -16]]);
    const c = tf.tensor2d([[-9, -19], [-10, -20], [-11, -21], [-12, -22]]);
    q.enqueue(c); // exactly up to the end: pointer back to 0
    expect(q.ptr).to.equal(0);
    expect(columns(q).slice(2)).to.deep.equal([[-9, -19], [-10, -20], [-11, -21], [-12, -22]]);
    const full = tf.tensor2d(Array.from({ length: 6 }, (_, i) => [i, i]));
    q.enqueue(full); // B == K replaces everything
    expect(q.ptr).to.equal(0);
    expect(columns(q)).to.deep.equal(Array.from({ length: 6 }, (_, i) => [i, i]));
    tf.dispose([a, b, c, full]);
    q.dispose();
  });

  it('enqueue leaks no tensors and refuses keys of the wrong dim or a batch larger than the queue', () => {
    const q = labelled(2, 4);
    const keys = tf.ones([3, 2]) as tf.Tensor2D;
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) q.enqueue(keys);
    expect(tf.memory().numTensors).to.equal(before);
    expect(q.ptr).to.equal(15 % 4);
    tf.tidy(() => {
      expect(() => q.enqueue(tf.ones([2, 3]) as tf.Tensor2D)).to.throw(/\[B, 2\]/);
      expect(() => q.enqueue(tf.ones([5, 2]) as tf.Tensor2D)).to.throw(/does not fit/);
    });
    keys.dispose();
    q.dispose();
  });

  it('random(): unit-norm columns (normalize(randn(dim, K), dim=0)), reproducible from the seed', () => {
    const a = KeyQueue.random(16, 40, new Rng(7));
    const b = KeyQueue.random(16, 40, new Rng(7));
    const c = KeyQueue.random(16, 40, new Rng(8));
    const norms = tf.tidy(() => tf.sqrt(tf.sum(tf.square(a.queue), 0)).dataSync());
    expectClose(norms, new Array(40).fill(1), { rtol: 0, atol: 1e-6, what: 'column norms' });
    expect(Array.from(b.queue.dataSync())).to.deep.equal(Array.from(a.queue.dataSync()));
    expect(Array.from(c.queue.dataSync())).to.not.deep.equal(Array.from(a.queue.dataSync()));
    expect(a.ptr).to.equal(0);
    [a, b, c].forEach((q) => q.dispose());
  });

  it('state round-trips (queue via tensorState, pointer via jsonState); mismatches are refused', () => {
    const a = KeyQueue.random(4, 8, new Rng(1));
    const keys = tf.tensor2d(Float32Array.from({ length: 12 }, (_, i) => i / 10), [3, 4]);
    a.enqueue(keys);
    a.enqueue(keys);
    const b = KeyQueue.random(4, 8, new Rng(2));
    const saved = new Map([['queue', a.tensorState().get('queue')!.clone()]]);
    b.loadTensorState(saved);
    b.loadJsonState(JSON.parse(JSON.stringify(a.jsonState())));
    expect(a.jsonState()).to.deep.equal({ queue_ptr: 6 });
    expect(b.ptr).to.equal(6);
    expect(Array.from(b.queue.dataSync())).to.deep.equal(Array.from(a.queue.dataSync()));
    // Both continue identically (wrap-around from 6 with 3 keys).
    a.enqueue(keys);
    b.enqueue(keys);
    expect(b.ptr).to.equal(1);
    expect(Array.from(b.queue.dataSync())).to.deep.equal(Array.from(a.queue.dataSync()));
    const wrong = tf.zeros([4, 16]);
    expect(() => b.loadTensorState(new Map([['queue', wrong]]))).to.throw(CheckpointError, /queue_length/);
    expect(() => b.loadTensorState(new Map())).to.throw(CheckpointError, /'queue'/);
    expect(() => b.loadJsonState({ queue_ptr: 8 })).to.throw(CheckpointError, /queue_ptr 8/);
    expect(() => b.loadJsonState({})).to.throw(CheckpointError, /queue_ptr/);
    tf.dispose([keys, wrong, ...saved.values()]);
    a.dispose();
    b.dispose();
  });
});
