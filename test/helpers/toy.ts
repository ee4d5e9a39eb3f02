import * as tf from '@tensorflow/tfjs-core';
import { Module, type Parameter } from '../../src/nn/module';
import { Rng } from '../../src/core/rng';
import type {
  Backbone,
  BatchSource,
  EvaluableBackbone,
  Optimizer,
  OptimizerHyper,
  SSLMethod,
  StepContext,
  TensorState,
  ViewBatch,
} from '../../src/core/interfaces';
import { makeViewBatch } from '../../data/host_batch';

/**
 * Small, fully deterministic stand-ins for the trainer tests: a linear "network", a regression
 * "method", momentum SGD and a batch source whose batch (epoch, k) depends only on the seed.
 */
export class ToyNet extends Module implements Backbone {
  readonly featureDim: number;
  readonly w: tf.Variable;
  readonly b: tf.Variable;
  constructor(inDim: number, outDim: number, rng: Rng) {
    super();
    this.featureDim = outDim;
    const w = new Float32Array(inDim * outDim).map(() => rng.normal() * 0.1);
    this.w = this.addParam('weight', tf.tensor2d(w, [inDim, outDim]), 'weight', 'linear');
    this.b = this.addParam('bias', tf.zeros([outDim]), 'bias');
  }
  /** [B, inDim] rows, or images flattened to them. */
  forward(x: tf.Tensor): tf.Tensor2D {
    return tf.add(tf.matMul(tf.reshape(x, [x.shape[0], -1]) as tf.Tensor2D, this.w), this.b) as tf.Tensor2D;
  }
}

export class ToyMethod implements SSLMethod {
  readonly name = 'toy';
  readonly student: ToyNet;
  readonly teacher: ToyNet;
  /** Makes the loss NaN at this step (to test the non-finite stop). */
  nanAtStep: number | null = null;
  private readonly target: tf.Variable;
  constructor(readonly inDim: number, rng: Rng) {
    this.student = new ToyNet(inDim, 2, rng);
    this.teacher = new ToyNet(inDim, 2, rng);
    this.teacher.copyFrom(this.student);
    this.target = tf.variable(tf.tensor1d([0.5, -0.25]), false);
  }
  studentModules(): Record<string, Module> {
    return { student: this.student };
  }
  targetModules(): Record<string, Module> {
    return { teacher: this.teacher };
  }
  evaluableBackbone(): EvaluableBackbone {
    return { module: this.student, prefix: 'student.' };
  }
  loss(batch: ViewBatch, ctx: StepContext): tf.Scalar {
    const x = tf.reshape(batch.globals[0], [batch.batchSize, -1]) as tf.Tensor2D;
    const y = this.student.forward(x);
    ctx.metric('toy_metric', ctx.step);
    const l = tf.mean(tf.square(tf.sub(y, this.target))) as tf.Scalar;
    return this.nanAtStep === ctx.step ? (tf.mul(l, NaN) as tf.Scalar) : l;
  }
  afterStep(): void {
    // EMA "teacher" so checkpoints carry a target network that changes.
    for (const [t, s] of [
      [this.teacher.w, this.student.w],
      [this.teacher.b, this.student.b],
    ] as const) {
      t.assign(tf.add(tf.mul(t, 0.9), tf.mul(s, 0.1)));
    }
  }
  tensorState(): TensorState {
    return new Map([['target', this.target as tf.Tensor]]);
  }
  loadTensorState(s: TensorState): void {
    this.target.assign(s.get('target') as tf.Tensor);
  }
  collapseLoss(): number | null {
    return null;
  }
}

export class ToySgd implements Optimizer {
  readonly name = 'toy-sgd';
  private readonly momentum = new Map<string, tf.Variable>();
  constructor(private readonly params: Parameter[], private readonly lr = 0.01) {
    for (const p of params) this.momentum.set(p.name, tf.variable(tf.zerosLike(p.variable), false));
  }
  hyperAt(step: number): OptimizerHyper {
    return { lr: this.lr / (1 + 0.01 * step), weightDecay: 0 };
  }
  apply(grads: Map<Parameter, tf.Tensor>, hyper: OptimizerHyper): void {
    for (const [p, g] of grads) {
      const m = this.momentum.get(p.name) as tf.Variable;
      m.assign(tf.add(tf.mul(m, 0.9), g));
      p.variable.assign(tf.sub(p.variable, tf.mul(m, hyper.lr)));
    }
  }
  tensorState(): TensorState {
    return new Map([...this.momentum].map(([k, v]) => [`${k}.momentum_buffer`, v as tf.Tensor]));
  }
  loadTensorState(s: TensorState): void {
    for (const [k, v] of this.momentum) v.assign(s.get(`${k}.momentum_buffer`) as tf.Tensor);
  }
}

export class ToyBatches implements BatchSource {
  constructor(
    readonly stepsPerEpoch: number,
    private readonly batchSize: number,
    private readonly side: number,
    private readonly seed: number,
  ) {}
  async *batchesForEpoch(epoch: number, startBatch = 0): AsyncIterable<ViewBatch> {
    for (let k = startBatch; k < this.stepsPerEpoch; k++) {
      const rng = new Rng(this.seed * 1000003 + epoch * 1009 + k);
      const n = this.batchSize * this.side * this.side * 3;
      const data = new Float32Array(n).map(() => rng.normal());
      yield makeViewBatch({
        globals: [tf.tensor4d(data, [this.batchSize, this.side, this.side, 3])],
        locals: [],
        labels: new Int32Array(this.batchSize),
        stats: { ps_ratio: 1 },
      });
    }
  }
}
