import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { MethodBase, type MethodLoss } from '../../../../plugins/methods/common/method_base';
import { MultiCropNetwork, networkMaker } from '../../../../plugins/methods/common/multicrop';
import { pairBlockMeans, pairWeights } from '../../../../plugins/methods/common/pairs';
import type { StepContext, ViewBatch } from '../../../../src/core/interfaces';
import { CheckpointError } from '../../../../src/core/errors';
import { Rng } from '../../../../src/core/rng';
import { Linear } from '../../../../src/nn/linear';
import { ensureGradients } from '../../../../src/nn/gradients';
import { expectClose } from '../../../helpers/reference';
import { ToyBackbone } from '../../../helpers/toy_backbone';
import { disposeViews, makeViews } from '../../../helpers/toy_views';

/** A minimal method on the base: MSE between student views and the target's first global view. */
class Toy extends MethodBase<{ mean: tf.Tensor2D }> {
  readonly name = 'toy';
  readonly student: MultiCropNetwork<tf.Tensor2D, Linear>;
  readonly target: MultiCropNetwork<tf.Tensor2D, Linear>;
  readonly running: tf.Variable;
  updates = 0;

  constructor(rng: Rng) {
    super();
    const net = networkMaker(
      { buildBackbone: (r) => new ToyBackbone(r), rng },
      (inDim, r) => new Linear(inDim, 4, r),
      (backbone, head) => new MultiCropNetwork<tf.Tensor2D, Linear>(backbone, head),
    );
    this.student = this.addStudent('student', net());
    this.target = this.addTarget('target', net(), this.student, (step) => 0.5 + 0.1 * step);
    this.running = this.addStateTensor('running', tf.variable(tf.zeros([1, 4]), false), '[1, 4]');
  }

  protected computeLoss(batch: ViewBatch): MethodLoss<{ mean: tf.Tensor2D }> {
    const nG = batch.globals.length;
    const nViews = nG + batch.locals.length;
    const b = batch.batchSize;
    const t = tf.reshape(this.target.forward(batch.globals), [nG, b * 4]);
    const s = tf.reshape(this.student.forward([...batch.globals, ...batch.locals]), [nViews, b * 4]);
    // pair (i, v): mean squared difference of target view i and student view v.
    const pair = tf.stack(Array.from({ length: nG }, (_, i) => tf.mean(tf.square(tf.sub(s, tf.slice(t, [i, 0], [1, b * 4]))), 1))) as tf.Tensor2D;
    const loss = tf.sum(tf.mul(pair, tf.tensor2d(pairWeights(nG, nViews - nG, null), [nG, nViews]))) as tf.Scalar;
    return { loss, pairLoss: { matrix: pair, nGlobal: nG }, keep: { mean: tf.mean(t, 1, true) as tf.Tensor2D }, metrics: { pair_max: tf.max(pair) } };
  }

  protected override afterUpdate(kept: { mean: tf.Tensor2D }): void {
    this.updates++;
    tf.tidy(() => this.running.assign(tf.add(this.running, tf.mean(kept.mean))));
  }
}

function ctxAt(step: number, metrics: Record<string, number> = {}): StepContext {
  return { step, epoch: 0, stepsPerEpoch: 4, totalSteps: 4, epochs: 1, metric: (n, v) => (metrics[n] = v) };
}

describe('plugins/methods/common/method_base', () => {
  before(() => ensureGradients());

  it('pairWeights: one eq. 2 / eq. 3 function for any set of target views; pairBlockMeans splits gg and gl', () => {
    // MoCo's form: one target view (0) of 2 globals + 2 locals, eq. 3 alpha 0.4.
    expectClose(pairWeights(2, 2, 0.4, [0]), [0, 0.4, 0.3, 0.3], { rtol: 1e-7, atol: 0, what: 'key view 0' });
    // DINO's form: both globals are targets; P_gg + P_gl = 2 + 4 pairs.
    expect(Array.from(pairWeights(2, 2, null))).to.deep.equal([0, 1, 1, 1, 1, 0, 1, 1].map((x) => Math.fround(x / 6)));
    expect(() => pairWeights(2, 2, null, [1, 1])).to.throw(/twice/);
    const pl = tf.tensor2d([9, 1, 2, 4, 3, 9, 6, 8], [2, 4]);
    expectClose(pairBlockMeans(pl, 2).dataSync(), [2, 5], { rtol: 0, atol: 1e-6, what: 'gg, gl' });
    pl.dispose();
  });

  it('networks, EMA target, kept tensors, metrics and state through one step; no leak', () => {
    const m = new Toy(new Rng(1));
    expect(Object.keys(m.studentModules())).to.deep.equal(['student']);
    expect(Object.keys(m.targetModules())).to.deep.equal(['target']);
    expect(m.evaluableBackbone()).to.deep.equal({ module: m.student.backbone, prefix: 'student.backbone.' });
    expect(m.target.namedParameters().every((p) => !p.variable.trainable)).to.equal(true);
    const batch = makeViews(3, 4);
    const params = m.student.namedParameters();
    const start = tf.memory().numTensors;
    for (let step = 0; step < 2; step++) {
      const metrics: Record<string, number> = {};
      const t0 = Float32Array.from(m.target.head.weight.dataSync());
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() => m.loss(batch, ctxAt(step)), params.map((p) => p.variable));
        for (const p of params) p.variable.assign(tf.sub(p.variable, tf.mul(grads[p.variable.name], 0.5)));
        m.afterStep(ctxAt(step, metrics));
      });
      const s1 = m.student.head.weight.dataSync();
      const mu = 0.5 + 0.1 * step;
      expectClose(m.target.head.weight.dataSync(), Array.from(t0, (t, i) => mu * t + (1 - mu) * s1[i]), { rtol: 1e-5, atol: 1e-6, what: 'EMA' });
      expect(Object.keys(metrics).sort()).to.deep.equal(['loss_gg', 'loss_gl', 'momentum', 'pair_max']);
      expect(metrics.momentum).to.equal(mu);
      expect(metrics.pair_max).to.be.at.least(Math.max(metrics.loss_gg, metrics.loss_gl));
      if (step === 0) expect(tf.memory().numTensors).to.equal(start);
    }
    expect(m.updates).to.equal(2);
    // A loss without its afterStep releases what the previous one kept.
    const before = tf.memory().numTensors;
    tf.dispose(m.loss(batch, ctxAt(2)));
    tf.dispose(m.loss(batch, ctxAt(2)));
    m.afterStep(ctxAt(2));
    expect(tf.memory().numTensors).to.equal(before);
    expect(() => m.afterStep(ctxAt(3))).to.throw(/toy.afterStep: no loss/);

    const saved = new Map([...m.tensorState()].map(([n, t]) => [n, t.clone()] as [string, tf.Tensor]));
    const other = new Toy(new Rng(2));
    other.loadTensorState(saved);
    expect(Array.from(other.running.dataSync())).to.deep.equal(Array.from(m.running.dataSync()));
    expect(() => other.loadTensorState(new Map())).to.throw(CheckpointError, /no 'running'/);
    const wrong = new Map([['running', tf.zeros([1, 5])]]);
    expect(() => other.loadTensorState(wrong)).to.throw(CheckpointError, /\[1, 4\]/);
    tf.dispose([...saved.values(), ...wrong.values()]);
    disposeViews(batch);
    m.dispose();
    other.dispose();
  });

  it('a method whose students are not MultiCropNetworks must name its backbone', () => {
    class Bare extends MethodBase {
      readonly name = 'bare';
      constructor() {
        super();
        this.addStudent('net', new Linear(2, 2, new Rng(0)));
      }
      protected computeLoss(): MethodLoss {
        throw new Error('unused');
      }
    }
    const b = new Bare();
    expect(() => b.evaluableBackbone()).to.throw(/override evaluableBackbone/);
    b.dispose();
  });
});
