import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { noGrad } from '../../src/kernels/no_grad';
import { expectClose } from '../helpers/reference';

const engineState = () => (tf.engine() as unknown as { state: { gradientDepth: number; activeTape: unknown[] | null } }).state;

describe('noGrad (ops off the gradient tape)', () => {
  it('its result is a constant to the enclosing gradient; the rest still differentiates', () => {
    const v = tf.variable(tf.tensor1d([1, 2, 3]));
    const x = tf.tensor1d([0.5, -1, 2]);
    const { value, grads } = tf.variableGrads(() => tf.add(tf.sum(tf.mul(v, x)), noGrad(() => tf.sum(tf.square(v)))) as tf.Scalar);
    expectClose(value.dataSync(), [0.5 - 2 + 6 + 14]);
    // d/dv of sum(v * x) only: the noGrad term (whose gradient would be 2v) is not seen
    expectClose(grads[v.name].dataSync(), [0.5, -1, 2]);
    tf.dispose([value, grads, x, v]);
  });

  it('adds no tape nodes, and the tape is intact afterwards', () => {
    const v = tf.variable(tf.tensor1d([1, 2]));
    let inside = -1;
    let after = -1;
    let before = -1;
    const { grads } = tf.variableGrads(() => {
      const a = tf.mul(v, 3);
      before = engineState().activeTape!.length;
      noGrad(() => tf.exp(tf.mul(tf.add(v, 1), 2)));
      inside = engineState().activeTape!.length;
      const y = tf.sum(tf.square(a)) as tf.Scalar;
      after = engineState().activeTape!.length;
      return y;
    });
    expect(inside).to.equal(before);
    expect(after).to.be.above(inside);
    expectClose(grads[v.name].dataSync(), [18, 36]); // d/dv sum((3v)^2) = 18 v
    tf.dispose([grads, v]);
  });

  it('frees its intermediates inside a gradient computation (nothing kept for backward)', () => {
    const v = tf.variable(tf.ones([4, 4]));
    const counts: number[] = [];
    const run = (useNoGrad: boolean) =>
      tf.variableGrads(() => {
        const before = tf.memory().numTensors;
        const f = () => tf.tidy(() => tf.sum(tf.relu(tf.matMul(tf.exp(v), tf.sin(v)))));
        const t = useNoGrad ? noGrad(f) : f();
        counts.push(tf.memory().numTensors - before);
        return tf.sum(tf.mul(v, t)) as tf.Scalar;
      });
    const a = run(false);
    const b = run(true);
    // on the tape, exp/sin/matMul/relu keep saved tensors alive; off it, only the result remains
    expect(counts[1]).to.equal(1);
    expect(counts[0]).to.be.above(counts[1]);
    expectClose(b.value.dataSync(), a.value.dataSync());
    tf.dispose([a.value, a.grads, b.value, b.grads, v]);
  });

  it('restores the recording state when its function throws, and is a no-op outside gradients', () => {
    const v = tf.variable(tf.tensor1d([2]));
    const { grads } = tf.variableGrads(() => {
      const depth = engineState().gradientDepth;
      expect(() => noGrad(() => { throw new Error('boom'); })).to.throw('boom');
      expect(engineState().gradientDepth).to.equal(depth);
      return tf.sum(tf.square(v)) as tf.Scalar;
    });
    expectClose(grads[v.name].dataSync(), [4]);
    expect(engineState().gradientDepth).to.equal(0);
    expect(noGrad(() => 7)).to.equal(7);
    tf.dispose([grads, v]);
  });
});
