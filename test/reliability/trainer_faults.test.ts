import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointStore, readCheckpoint } from '../../src/core/checkpoint';
import { ConfigError, InterruptedError, WriteError } from '../../src/core/errors';
import { clearStopRequest, requestStop, throwIfStopRequested } from '../../src/core/signals';
import { InterruptedError as RunInterrupted } from '../../src/core/trainer';
import { extractFeatures } from '../../src/eval/features';
import { knnPredict } from '../../src/eval/knn';
import type { Backbone } from '../../src/core/interfaces';
import { repoRoot } from '../helpers/reference';
import { FaultyFs } from '../helpers/faulty_fs';
import { ckptName, jsonLines, rejection, tmpDir, toyRun } from './toy_run';

describe('reliability: the training loop', () => {
  let faults: FaultyFs | null = null;
  afterEach(() => {
    faults?.restore();
    faults = null;
    clearStopRequest();
  });

  describe('2. resuming with another batch size', () => {
    it('is refused plainly instead of spinning on an empty epoch', async () => {
      const dir = tmpDir('bs');
      await toyRun(dir, { batchSize: 3, maxSteps: 3, everySteps: 3 }).trainer.run(); // batch 3 of 4 per epoch
      const err = await rejection(toyRun(dir, { batchSize: 6 }).trainer.resume(dir)); // 2 steps per epoch
      expect(err).to.be.instanceOf(ConfigError);
      expect(err.message).to.contain('trainer.batch_size').and.contain('batch size 3').and.contain('--set trainer.batch_size=3');
    });

    it('a checkpoint without the saved batch size (older format) is refused too, not looped on', async () => {
      const dir = tmpDir('bsold');
      await toyRun(dir, { batchSize: 3, maxSteps: 3, everySteps: 3 }).trainer.run();
      const st = path.join(dir, 'checkpoints', ckptName(3), 'state.json');
      const s = JSON.parse(fs.readFileSync(st, 'utf8'));
      delete s.batchSize;
      delete s.stepsPerEpoch;
      fs.writeFileSync(st, JSON.stringify(s));
      const err = await rejection(toyRun(dir, { batchSize: 6 }).trainer.resume(dir));
      expect(err).to.be.instanceOf(ConfigError);
      expect(err.message).to.contain('2 steps per epoch');
    });
  });

  describe('6. disk full while writing events.jsonl', () => {
    it('ends the run with run:error and a WriteError naming the file; no partial line; the last checkpoint intact', async () => {
      const dir = tmpDir('enospc');
      faults = new FaultyFs([{ op: 'writeSync', match: /events\.jsonl$/, nth: 5, fail: 'ENOSPC', partial: true }]).install();
      const r = toyRun(dir);
      const err = await rejection(r.trainer.run());
      expect(err).to.be.instanceOf(WriteError);
      expect(err.message).to.equal(`cannot write ${path.join(dir, 'events.jsonl')}: no space left on device (ENOSPC)`);
      expect(r.events.some((e) => e.type === 'run:error')).to.equal(true);
      faults.restore();
      const text = fs.readFileSync(path.join(dir, 'events.jsonl'), 'utf8');
      expect(text.endsWith('\n')).to.equal(true);
      expect(jsonLines(path.join(dir, 'events.jsonl'))).to.have.length(4);
      expect(() => readCheckpoint(CheckpointStore.resolve(dir) as string)).not.to.throw();
    });

    it('a checkpoint that cannot be written (permissions) ends the run with a WriteError and keeps the last one', async () => {
      const dir = tmpDir('eacces');
      faults = new FaultyFs([{ op: 'openSync', match: /step_00000004\.tmp-.*model\.safetensors$/, fail: 'EACCES' }]).install();
      const r = toyRun(dir);
      const err = await rejection(r.trainer.run());
      expect(err).to.be.instanceOf(WriteError);
      expect(err.message).to.match(/^cannot write .*step_00000004\.tmp-.*model\.safetensors: permission denied \(EACCES\)$/);
      expect((err as WriteError & { exitCode?: number }).exitCode ?? 1).to.equal(1);
      expect(CheckpointStore.resolve(dir)).to.match(/step_00000002$/);
      expect(fs.readdirSync(path.join(dir, 'checkpoints')).filter((n) => n.startsWith('.'))).to.deep.equal([]);
      const last = jsonLines(path.join(dir, 'events.jsonl')).pop();
      expect(last?.type).to.equal('run:error');
    });

    it('any event subscriber that throws ends the run with run:error instead of an uncaught exception', async () => {
      const r = toyRun(null);
      let seen = 0;
      r.bus.events$.subscribe((e) => {
        if (e.type === 'step:end' && ++seen === 2) throw new Error('tensorboard: disk quota exceeded');
      });
      const err = await rejection(r.trainer.run());
      expect(err.message).to.equal('an event subscriber failed: tensorboard: disk quota exceeded');
      const end = r.events.find((e) => e.type === 'run:error');
      expect(end && end.type === 'run:error' && end.step).to.equal(2);
    });

    it('a resume drops a partial last line before appending', async () => {
      const dir = tmpDir('partial');
      await toyRun(dir, { maxSteps: 2 }).trainer.run();
      fs.appendFileSync(path.join(dir, 'events.jsonl'), '{"type":"step:end","ste');
      const r = toyRun(dir);
      await r.trainer.resume(dir);
      await r.trainer.run();
      const lines = jsonLines(path.join(dir, 'events.jsonl')); // throws on a garbled line
      expect(lines.filter((e) => e.type === 'step:end')).to.have.length(8);
    });
  });

  describe('10. replayed steps', () => {
    it('a resumed run logs each step once, not the steps after its checkpoint twice', async () => {
      const dir = tmpDir('replay');
      // A run that died at step 5, with its last checkpoint at 4.
      const r1 = toyRun(dir, { maxSteps: 5, everySteps: 4 });
      r1.trainer['d'].callbacks.find((c) => c.name === 'checkpoint')!.afterTrain = undefined;
      await r1.trainer.run();
      expect(CheckpointStore.resolve(dir)).to.match(/step_00000004$/);
      const r2 = toyRun(dir);
      await r2.trainer.resume(dir);
      await r2.trainer.run();
      const steps = jsonLines(path.join(dir, 'events.jsonl'))
        .filter((e) => e.type === 'step:end')
        .map((e) => e.step);
      expect(steps).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8]);
    });
  });

  describe('step numbering', () => {
    it('step:start and step:end of one step carry the same 1-based number', async () => {
      const r = toyRun(null, { epochs: 1 });
      await r.trainer.run();
      const starts = r.events.filter((e) => e.type === 'step:start').map((e) => e.type === 'step:start' && e.step);
      const ends = r.events.filter((e) => e.type === 'step:end').map((e) => e.type === 'step:end' && e.step);
      expect(starts).to.deep.equal([1, 2, 3, 4]);
      expect(ends).to.deep.equal(starts);
    });
  });

  describe('9. stop signals', () => {
    it('SIGTERM (as a flag) finishes the step, checkpoints, ends the run and carries exit code 143', async () => {
      const dir = tmpDir('term');
      const r = toyRun(dir, { everySteps: null, callbacks: [{ name: 'term', afterStep: (_r, s) => void (s === 3 && requestStop('SIGTERM')) }] });
      const err = await rejection(r.trainer.run());
      expect(err).to.be.instanceOf(RunInterrupted);
      expect((err as InterruptedError).exitCode).to.equal(143);
      expect(CheckpointStore.resolve(dir)).to.match(/step_00000003$/);
      const end = r.events.find((e) => e.type === 'run:end');
      expect(end && end.type === 'run:end' && end.reason).to.equal('interrupted');
    });

    it('a signal that stops an evaluation inside a callback still checkpoints the finished step', async () => {
      const dir = tmpDir('evalstop');
      const monitor = {
        name: 'monitor',
        afterStep: (_r: unknown, step: number) => {
          if (step === 3) requestStop('SIGINT');
          throwIfStopRequested('k-NN monitor'); // what an evaluation loop does per batch
        },
      };
      const r = toyRun(dir, { everySteps: null, callbacks: [monitor] });
      const err = await rejection(r.trainer.run());
      expect(err).to.be.instanceOf(RunInterrupted);
      expect((err as InterruptedError).exitCode).to.equal(130);
      expect(CheckpointStore.resolve(dir)).to.match(/step_00000003$/);
      const end = r.events.find((e) => e.type === 'run:end');
      expect(end && end.type === 'run:end' && end.reason).to.equal('interrupted');
    });

    it('evaluation loops poll the flag and stop with InterruptedError', async () => {
      const backbone = { featureDim: 2, training: false, eval() {}, train() {}, forward: (x: tf.Tensor4D) => tf.slice(tf.mean(x, [1, 2]), [0, 0], [-1, 2]) };
      async function* batches() {
        for (let i = 0; i < 3; i++) yield { images: tf.ones([2, 2, 2, 3]) as tf.Tensor4D, labels: new Int32Array(2), dispose() {} };
      }
      requestStop('SIGINT');
      const err = await rejection(extractFeatures(backbone as unknown as Backbone, batches() as never));
      expect(err).to.be.instanceOf(InterruptedError);
      expect((err as InterruptedError).exitCode).to.equal(130);
      const f = tf.ones([4, 2]) as tf.Tensor2D;
      expect(() => knnPredict(f, new Int32Array(4), f, { k: 2, temperature: 0.07, numClasses: 2 })).to.throw(InterruptedError);
      f.dispose();
    });

    it('a second signal exits at once with 130 / 143', function () {
      const script = `
        const s = require(${JSON.stringify(path.join(repoRoot, 'dist/src/core/signals.js'))});
        s.installStopHandlers({ onFirst: (sig) => console.log('first ' + sig), onSecond: (sig) => console.log('second ' + sig) });
        process.kill(process.pid, 'SIGTERM');
        setTimeout(() => process.kill(process.pid, 'SIGTERM'), 50);
        setTimeout(() => { console.log('not stopped'); process.exit(0); }, 3000);
      `;
      const res = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10000 });
      expect(res.stdout).to.equal('first SIGTERM\nsecond SIGTERM\n');
      expect(res.status).to.equal(143);
    });
  });
});
