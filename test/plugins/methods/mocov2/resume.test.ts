import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { expect } from 'chai';
import '../../../../plugins/methods';
import '../../../../plugins/optimizers';
import type { Mocov2 } from '../../../../plugins/methods/mocov2/mocov2';
import type { Callback } from '../../../../src/core/interfaces';
import type { Trainer } from '../../../../src/core/trainer';
import { methodRun, saveAfterStep } from '../../../helpers/method_run';
import { ToyViewBatches } from '../../../helpers/toy_views';

const B = 4;
const STEPS_PER_EPOCH = 4;
const EPOCHS = 3;

function setup(runDir: string | null, maxSteps: number | null, callbacks: Callback[] = []): { trainer: Trainer; method: Mocov2 } {
  // Queue of 12 = 3 batches: the pointer wraps around during the run and at the resume point.
  return methodRun<Mocov2>({
    method: 'mocov2',
    options: { out_dim: 8, hidden_dim: 12, queue_length: 12, momentum: 0.9, alpha: 0.4 },
    params: (m) => m.encoderQ.namedParameters('encoder_q.'),
    batches: new ToyViewBatches(STEPS_PER_EPOCH, B, 3),
    batchSize: B,
    epochs: EPOCHS,
    lr: 3e-4,
    runDir,
    maxSteps,
    callbacks,
  });
}

describe('plugins/methods/mocov2 through the trainer and checkpoints', function () {
  this.timeout(60000);

  it('a run resumed from a checkpoint (queue, pointer, key encoder) reproduces the uninterrupted losses (1e-5)', async () => {
    const full = setup(null, null);
    const ref = await full.trainer.run();
    expect(ref.losses).to.have.length(EPOCHS * STEPS_PER_EPOCH);

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-mocov2-'));
    const first = setup(dir, 5, [saveAfterStep(5)]);
    const r1 = await first.trainer.run();
    expect(first.method.queue.ptr).to.equal((5 * B) % 12);
    const second = setup(dir, null);
    expect(second.method.queue.ptr).to.equal(0);
    await second.trainer.resume(dir);
    expect(second.method.queue.ptr).to.equal((5 * B) % 12);
    expect(Array.from(second.method.queue.queue.dataSync())).to.deep.equal(Array.from(first.method.queue.queue.dataSync()));
    const r2 = await second.trainer.run();
    const resumed = [...r1.losses, ...r2.losses];
    expect(resumed).to.have.length(ref.losses.length);
    resumed.forEach((l, i) => expect(Math.abs(l - ref.losses[i]), `step ${i + 1}: ${resumed} vs ${ref.losses}`).to.be.at.most(1e-5));
    const a = full.method.queue.queue.dataSync();
    const b = second.method.queue.queue.dataSync();
    expect(Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])))).to.be.at.most(1e-5);
    expect(second.method.queue.ptr).to.equal(full.method.queue.ptr);
    [full, first, second].forEach((s) => s.method.dispose());
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
