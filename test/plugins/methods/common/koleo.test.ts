import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { koleoLoss } from '../../../../plugins/methods/common/koleo';
import { expectClose, repoRoot } from '../../../helpers/reference';

interface Case {
  shape: [number, number];
  x: number[];
  loss: number;
  grad: number[];
}
// torch 1.13 values of DINOv2's KoLeo and its gradient (test/fixtures/methods/make_koleo.py).
const fixture = JSON.parse(fs.readFileSync(path.join(repoRoot, 'test/fixtures/methods/koleo.json'), 'utf8')) as Record<string, Case>;

describe('plugins/methods/common/koleo', () => {
  for (const name of ['spread', 'gathered']) {
    it(`matches torch's loss and gradient (${name} rows)`, () => {
      const c = fixture[name];
      const x = tf.tensor2d(c.x, c.shape);
      const before = tf.memory().numTensors;
      const { value, grad } = tf.valueAndGrad((t: tf.Tensor) => koleoLoss(t as tf.Tensor2D))(x);
      expectClose([value.dataSync()[0]], [c.loss], { rtol: 1e-5, atol: 1e-6, what: 'loss' });
      expectClose(Array.from(grad.dataSync()), c.grad, { rtol: 1e-4, atol: 1e-5, what: 'grad' });
      tf.dispose([value, grad]);
      expect(tf.memory().numTensors, 'tensors left').to.equal(before);
      x.dispose();
    });
  }

  it('depends on directions only: scaling and permuting the rows leave it unchanged; needs 2 rows', () => {
    const c = fixture.gathered;
    const r = c.shape[0];
    const [base, moved] = tf.tidy(() => {
      const x = tf.tensor2d(c.x, c.shape);
      const scale = tf.tensor2d(Array.from({ length: r }, (_, i) => 0.5 + i), [r, 1]);
      const perm = tf.tensor1d(Array.from({ length: r }, (_, i) => (i * 3) % r), 'int32');
      return [koleoLoss(x).dataSync()[0], koleoLoss(tf.gather(tf.mul(x, scale), perm) as tf.Tensor2D).dataSync()[0]];
    });
    expectClose([moved], [base], { rtol: 1e-5, atol: 1e-6, what: 'scaled, permuted' });
    const one = tf.ones([1, 3]) as tf.Tensor2D;
    expect(() => koleoLoss(one)).to.throw(/at least 2 rows/);
    one.dispose();
  });
});
