import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { EventBus, type TrainerEvent } from '../../src/core/events';
import { Trainer, InterruptedError, type TrainerDeps } from '../../src/core/trainer';
import { trainerSchema } from '../../src/core/config';
import { CheckpointStore } from '../../src/core/checkpoint';
import { NonFiniteLossError } from '../../src/core/errors';
import { Rng } from '../../src/core/rng';
import type { Callback, RunInfo } from '../../src/core/interfaces';
import { ToyBatches, ToyMethod, ToySgd } from '../helpers/toy';

interface Setup {
  trainer: Trainer;
  method: ToyMethod;
  events: TrainerEvent[];
}

function setup(opts: { runDir?: string | null; epochs?: number; maxSteps?: number | null; callbacks?: Callback[] } = {}): Setup {
  const method = new ToyMethod(4 * 4 * 3, new Rng(7));
  const params = method.student.namedParameters('student.');
  const bus = new EventBus();
  const events: TrainerEvent[] = [];
  bus.events$.subscribe((e) => events.push(e));
  const deps: TrainerDeps = {
    options: trainerSchema.parse({ epochs: opts.epochs ?? 2, batch_size: 3 }),
    events: bus,
    batches: new ToyBatches(4, 3, 4, 11),
    method,
    optimizer: new ToySgd(params),
    callbacks: opts.callbacks ?? [],
    checkpoints: opts.runDir ? new CheckpointStore(opts.runDir) : null,
    backendName: tf.getBackend(),
    runDir: opts.runDir ?? null,
    config: { test: true },
    maxSteps: opts.maxSteps ?? null,
  };
  return { trainer: new Trainer(deps), method, events };
}

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-trainer-'));
}

/** Saves a checkpoint after the given steps. */
function saveAt(steps: number[]): Callback {
  return {
    name: 'save-at',
    async afterStep(run: RunInfo, step: number) {
      if (steps.includes(step)) await run.saveCheckpoint('test');
    },
  };
}

describe('core/trainer', () => {
  it('runs epochs x steps and emits the lifecycle events in order', async () => {
    const { trainer, events } = setup();
    const res = await trainer.run();
    expect(res.step).to.equal(8);
    expect(res.reason).to.equal('completed');
    const types = events.map((e) => e.type).filter((t) => t !== 'step:start');
    expect(types[0]).to.equal('run:start');
    expect(types[1]).to.equal('epoch:start');
    expect(types.filter((t) => t === 'step:end')).to.have.length(8);
    expect(types.filter((t) => t === 'epoch:end')).to.have.length(2);
    expect(types[types.length - 1]).to.equal('run:end');
    const stepEnds = events.filter((e): e is Extract<TrainerEvent, { type: 'step:end' }> => e.type === 'step:end');
    expect(stepEnds.map((e) => e.step)).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(stepEnds[0].metrics.ps_ratio).to.equal(1);
    expect(stepEnds[3].metrics.toy_metric).to.equal(3);
    expect(stepEnds[0].images_per_s).to.be.greaterThan(0);
    // The regression loss falls (second epoch against the first; batches are noise, steps are not).
    const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
    expect(mean(res.losses.slice(4))).to.be.lessThan(mean(res.losses.slice(0, 4)));
  });

  it('keeps tf.memory().numTensors flat across steps', async () => {
    const counts: number[] = [];
    const { trainer } = setup({
      epochs: 3,
      callbacks: [{ name: 'count', afterStep: () => void counts.push(tf.memory().numTensors) }],
    });
    await trainer.run();
    expect(counts.length).to.equal(12);
    expect(new Set(counts.slice(1)).size, `numTensors per step: ${counts.join(',')}`).to.equal(1);
  });

  it('stops at --max-steps and a resumed run reproduces the uninterrupted losses (1e-5)', async () => {
    const full = setup({ epochs: 3 });
    const ref = await full.trainer.run();

    const dir = tmpDir();
    const first = setup({ runDir: dir, epochs: 3, maxSteps: 6, callbacks: [saveAt([6])] });
    const r1 = await first.trainer.run();
    expect(r1.step).to.equal(6);
    expect(r1.reason).to.equal('max-steps');

    const second = setup({ runDir: dir, epochs: 3 });
    await second.trainer.resume(dir);
    const r2 = await second.trainer.run();
    expect(r2.step).to.equal(12);
    const resumed = [...r1.losses, ...r2.losses];
    expect(resumed).to.have.length(12);
    resumed.forEach((l, i) => expect(Math.abs(l - ref.losses[i]), `step ${i + 1}`).to.be.at.most(1e-5));
  });

  it('stops on a NaN loss without touching the weights and keeps the last checkpoint', async () => {
    const dir = tmpDir();
    let before: number[] = [];
    const t: Setup = setup({
      runDir: dir,
      callbacks: [
        saveAt([2]),
        // Weights after the last good step: the 4th step (ctx.step 3) produces NaN.
        { name: 'snap', afterStep: (_r, step) => void (step === 3 && (before = Array.from(t.method.student.w.dataSync()))) },
      ],
    });
    t.method.nanAtStep = 3;
    let err: unknown;
    try {
      await t.trainer.run();
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(NonFiniteLossError);
    expect((err as Error).message).to.match(/loss is NaN at step 4/);
    expect((err as Error).message).to.contain('step_00000002');
    expect(before).to.have.length(4 * 4 * 3 * 2);
    expect(Array.from(t.method.student.w.dataSync())).to.deep.equal(before);
    expect(CheckpointStore.resolve(dir)).to.match(/step_00000002$/);
    expect(t.events.some((e) => e.type === 'run:error')).to.equal(true);
  });

  it('saves a checkpoint and throws InterruptedError after Ctrl-C', async () => {
    const dir = tmpDir();
    let trainerRef: Trainer | null = null;
    const interrupt: Callback = {
      name: 'interrupt',
      afterStep: (_r, step) => {
        if (step === 5) trainerRef?.requestInterrupt();
      },
    };
    const s = setup({ runDir: dir, callbacks: [interrupt] });
    trainerRef = s.trainer;
    let err: unknown;
    try {
      await s.trainer.run();
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(InterruptedError);
    expect(CheckpointStore.resolve(dir)).to.match(/step_00000005$/);
    const end = s.events.find((e) => e.type === 'run:end');
    expect(end && end.type === 'run:end' && end.reason).to.equal('interrupted');
  });

  it('warns once when the loss sits at the collapse value', async () => {
    const s = setup({ epochs: 3 });
    // Make the collapse value "whatever the loss is": a constant-loss method.
    const w = s.method.student.w;
    s.method.loss = () => tf.add(tf.mul(tf.sum(w), 0), Math.log(8)) as tf.Scalar;
    s.method.collapseLoss = () => Math.log(8);
    const s2 = new Trainer({
      ...((s.trainer as unknown as { d: TrainerDeps }).d),
      options: trainerSchema.parse({ epochs: 3, batch_size: 3, collapse_window: 5 }),
    });
    await s2.run();
    const warnings = s.events.filter((e) => e.type === 'warning');
    expect(warnings).to.have.length(1);
    expect(warnings[0].type === 'warning' && warnings[0].message).to.match(/collapse/);
  });
});
