import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import '../../../../plugins/methods';
import '../../../../plugins/optimizers';
import type { Swav, SwavOptions } from '../../../../plugins/methods/swav/swav';
import type { BatchSource, Callback, ViewBatch } from '../../../../src/core/interfaces';
import { Rng } from '../../../../src/core/rng';
import { methodRun, saveAfterStep } from '../../../helpers/method_run';
import { makeViewBatch } from '../../../../data/host_batch';

const B = 4;
const STEPS_PER_EPOCH = 4;
const EPOCHS = 3;

/** Batch (epoch, k) depends only on (epoch, k), as the real loader guarantees. */
class Batches implements BatchSource {
  readonly stepsPerEpoch = STEPS_PER_EPOCH;

  async *batchesForEpoch(epoch: number, startBatch = 0): AsyncIterable<ViewBatch> {
    for (let k = startBatch; k < this.stepsPerEpoch; k++) {
      const rng = new Rng(1000 + epoch * 101 + k);
      const img = (s: number) => tf.tensor4d(Float32Array.from({ length: B * s * s * 3 }, () => rng.normal()), [B, s, s, 3]);
      yield makeViewBatch({ globals: [img(8), img(8)], locals: [img(4), img(4)], labels: new Int32Array(B) });
    }
  }
}

// Queue of 8 = two batches, filled from epoch 1 (step 4): 4 rows after step 5, full after step 6,
// used from step 7 on. Prototypes frozen during epoch 0 (null = one epoch).
const OPTIONS: Partial<SwavOptions> = { feat_dim: 8, hidden_dim: 12, nmb_prototypes: 10, queue_length: 8, epoch_queue_starts: 1, alpha: 0.4 };

function setup(runDir: string | null, maxSteps: number | null, callbacks: Callback[] = [], opts: Partial<SwavOptions> = OPTIONS) {
  return methodRun<Swav>({
    method: 'swav',
    options: opts,
    params: (m) => m.student.namedParameters('student.'),
    batches: new Batches(),
    batchSize: B,
    epochs: EPOCHS,
    lr: 1e-3,
    runDir,
    maxSteps,
    callbacks,
  });
}

describe('plugins/methods/swav through the trainer and checkpoints', function () {
  this.timeout(60000);

  it('a run resumed with a half-filled queue reproduces the uninterrupted losses (1e-5) and queue', async () => {
    const full = setup(null, null);
    const ref = await full.trainer.run();
    expect(ref.losses).to.have.length(EPOCHS * STEPS_PER_EPOCH);
    expect(full.method.queueRows).to.equal(8);

    // The queue matters: without it the losses part from step 7 (losses[6]) on and agree before.
    const noQueue = setup(null, null, [], { ...OPTIONS, queue_length: 0 });
    const nq = await noQueue.trainer.run();
    nq.losses.slice(0, 6).forEach((l, i) => expect(l).to.be.closeTo(ref.losses[i], 1e-6));
    expect(Math.abs(nq.losses[6] - ref.losses[6])).to.be.greaterThan(1e-4);

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-swav-'));
    const first = setup(dir, 5, [saveAfterStep(5)]);
    const r1 = await first.trainer.run();
    expect(first.method.queueRows).to.equal(4);
    const second = setup(dir, null);
    expect(second.method.queue).to.equal(null);
    await second.trainer.resume(dir);
    expect(second.method.queueRows).to.equal(4);
    expect(Array.from(second.method.queue!.dataSync())).to.deep.equal(Array.from(first.method.queue!.dataSync()));
    const r2 = await second.trainer.run();
    const resumed = [...r1.losses, ...r2.losses];
    expect(resumed).to.have.length(ref.losses.length);
    resumed.forEach((l, i) => expect(Math.abs(l - ref.losses[i]), `step ${i + 1}: ${resumed} vs ${ref.losses}`).to.be.at.most(1e-5));
    const a = full.method.queue!.dataSync();
    const b = second.method.queue!.dataSync();
    expect(Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])))).to.be.at.most(1e-5);
    [full, noQueue, first, second].forEach((s) => s.method.dispose());
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('with target_momentum: the EMA target is saved and restored, and a resumed run reproduces the losses (1e-5)', async () => {
    const opts = { ...OPTIONS, target_momentum: 0.9, target_momentum_end: 0.99 };
    const full = setup(null, null, [], opts);
    const ref = await full.trainer.run();
    // The target matters: SwAV's own codes give other losses from the first step on.
    const plain = setup(null, null);
    const own = await plain.trainer.run();
    expect(Math.abs(own.losses[0] - ref.losses[0])).to.be.greaterThan(1e-4);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-swav-target-'));
    const first = setup(dir, 5, [saveAfterStep(5)], opts);
    const r1 = await first.trainer.run();
    const second = setup(dir, null, [], opts);
    await second.trainer.resume(dir);
    const t1 = first.method.target!.namedParameters();
    second.method.target!.namedParameters().forEach((p, i) => expect(Array.from(p.variable.dataSync()), p.name).to.deep.equal(Array.from(t1[i].variable.dataSync())));
    const r2 = await second.trainer.run();
    const resumed = [...r1.losses, ...r2.losses];
    resumed.forEach((l, i) => expect(Math.abs(l - ref.losses[i]), `step ${i + 1}: ${resumed} vs ${ref.losses}`).to.be.at.most(1e-5));
    [full, plain, first, second].forEach((s) => s.method.dispose());
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
