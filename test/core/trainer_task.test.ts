import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { EventBus, type TrainerEvent } from '../../src/core/events';
import { Trainer } from '../../src/core/trainer';
import { trainerSchema } from '../../src/core/config';
import { Rng } from '../../src/core/rng';
import type { BatchSource, StepContext, TaskLoss, TrainBatch, TrainTask } from '../../src/core/interfaces';
import type { Module } from '../../src/nn/module';
import { ToyNet, ToySgd } from '../helpers/toy';

/** A non-SSL batch: feature rows and regression targets, as a detector's batch would be its own shape. */
interface RegressionBatch extends TrainBatch {
  x: tf.Tensor2D;
  y: tf.Tensor2D;
}

class RegressionBatches implements BatchSource<RegressionBatch> {
  readonly stepsPerEpoch = 3;
  disposed = 0;
  async *batchesForEpoch(epoch: number, startBatch = 0): AsyncIterable<RegressionBatch> {
    for (let k = startBatch; k < this.stepsPerEpoch; k++) {
      const rng = new Rng(100 * epoch + k);
      const x = tf.tensor2d(Float32Array.from({ length: 4 * 5 }, () => rng.normal()), [4, 5]);
      const y = tf.tensor2d(Float32Array.from({ length: 4 * 2 }, () => rng.normal()), [4, 2]);
      yield {
        x,
        y,
        batchSize: 4,
        stats: { k },
        dispose: () => {
          this.disposed++;
          tf.dispose([x, y]);
        },
      };
    }
  }
}

/** Two-term loss (squared error + L1 of the output), reported by name. */
class RegressionTask implements TrainTask<RegressionBatch> {
  readonly name = 'regression';
  readonly net = new ToyNet(5, 2, new Rng(3));
  studentModules(): Record<string, Module> {
    return { net: this.net };
  }
  targetModules(): Record<string, Module> {
    return {};
  }
  loss(batch: RegressionBatch, _ctx: StepContext): TaskLoss {
    const out = this.net.forward(batch.x);
    const mse = tf.mean(tf.square(tf.sub(out, batch.y))) as tf.Scalar;
    const l1 = tf.mul(tf.mean(tf.abs(out)), 0.1) as tf.Scalar;
    return { total: tf.add(mse, l1) as tf.Scalar, terms: { mse, l1 } };
  }
}

describe('core/trainer with a non-SSL task', () => {
  it('trains any TrainTask over its own batches, reports loss terms and disposes every batch', async () => {
    const task = new RegressionTask();
    const batches = new RegressionBatches();
    const bus = new EventBus();
    const events: TrainerEvent[] = [];
    bus.events$.subscribe((e) => events.push(e));
    const trainer = new Trainer<RegressionBatch>({
      options: trainerSchema.parse({ epochs: 2, batch_size: 4 }),
      events: bus,
      batches,
      method: task,
      optimizer: new ToySgd(task.net.namedParameters('net.'), 0.05),
      callbacks: [],
      checkpoints: null,
      backendName: tf.getBackend(),
      runDir: null,
      config: {},
    });
    const before = tf.memory().numTensors;
    const res = await trainer.run();
    expect(res.step).to.equal(6);
    expect(batches.disposed).to.equal(6);
    expect(tf.memory().numTensors).to.equal(before);
    const ends = events.filter((e): e is Extract<TrainerEvent, { type: 'step:end' }> => e.type === 'step:end');
    expect(ends).to.have.length(6);
    for (const e of ends) {
      expect(Object.keys(e.losses).sort()).to.deep.equal(['l1', 'loss', 'mse']);
      expect(e.losses.loss).to.be.closeTo(e.losses.mse + e.losses.l1, 1e-5);
    }
    expect(ends[2].metrics.k).to.equal(2);
    expect(res.losses).to.deep.equal(ends.map((e) => e.losses.loss));
  });
});
