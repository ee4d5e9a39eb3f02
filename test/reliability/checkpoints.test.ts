import * as fs from 'fs';
import * as path from 'path';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointStore, pruneCheckpoints, readCheckpoint } from '../../src/core/checkpoint';
import { CheckpointError, NonFiniteValueError } from '../../src/core/errors';
import type { Backbone, Callback, TensorState } from '../../src/core/interfaces';
import { decodeSafetensors, encodeSafetensors } from '../../src/nn/safetensors';
import { loadBackboneWeights } from '../../src/cli/eval_setup';
import { ToyNet } from '../helpers/toy';
import { Rng } from '../../src/core/rng';
import { FaultyFs, SimulatedKill } from '../helpers/faulty_fs';
import { ckptName, rejection, tmpDir, toyRun } from './toy_run';

/** Overwrite one value of one tensor in a checkpoint's model.safetensors (a flipped bit, a bad disk). */
function poison(ckptDir: string, tensor: string, value = NaN): void {
  const file = path.join(ckptDir, 'model.safetensors');
  const { tensors } = decodeSafetensors(fs.readFileSync(file));
  (tensors.get(tensor)!.data as Float32Array)[0] = value;
  fs.writeFileSync(file, encodeSafetensors(tensors, { format: 'pt' }));
}

function allFinite(vars: tf.Tensor[]): boolean {
  return vars.every((v) => (v.dataSync() as Float32Array).every(Number.isFinite));
}

/** A run of 4 steps with checkpoints at 2 and 4. */
async function twoCheckpoints(): Promise<string> {
  const dir = tmpDir('ckpt');
  await toyRun(dir, { epochs: 1 }).trainer.run();
  expect(fs.readdirSync(path.join(dir, 'checkpoints')).filter((n) => n.startsWith('step_'))).to.deep.equal([ckptName(2), ckptName(4)]);
  return dir;
}

describe('reliability: checkpoints', () => {
  let faults: FaultyFs | null = null;
  afterEach(() => {
    faults?.restore();
    faults = null;
  });

  describe('1. poisoned weights', () => {
    it('a NaN in a checkpoint is refused on resume, naming the tensor and the file', async () => {
      const dir = await twoCheckpoints();
      const latest = path.join(dir, 'checkpoints', ckptName(4));
      poison(latest, 'teacher.weight');
      const err = await rejection(toyRun(dir).trainer.resume(latest));
      expect(err).to.be.instanceOf(CheckpointError);
      expect(err.message).to.contain(`${latest}/model.safetensors`).and.contain("'teacher.weight'").and.contain('NaN');
      expect((err as CheckpointError).exitCode).to.equal(2);
    });

    it('a run directory whose latest is poisoned resumes from the newest sound checkpoint, with a warning naming both', async () => {
      const dir = await twoCheckpoints();
      poison(path.join(dir, 'checkpoints', ckptName(4)), 'student.bias', Infinity);
      const pick = CheckpointStore.pickForResume(dir);
      expect(pick.checkpoint.dir).to.equal(path.join(dir, 'checkpoints', ckptName(2)));
      expect(pick.warning).to.contain(ckptName(4)).and.contain(ckptName(2)).and.contain("'student.bias'");
      // An explicit checkpoint directory is not replaced silently: the error suggests the sound one.
      const err = (() => {
        try {
          CheckpointStore.pickForResume(path.join(dir, 'checkpoints', ckptName(4)));
        } catch (e) {
          return e as Error;
        }
        return null;
      })();
      expect(err?.message).to.contain(`--resume ${path.join(dir, 'checkpoints', ckptName(2))}`);
      const r = toyRun(dir, { keep: 1 });
      await r.trainer.resume(pick.checkpoint);
      const res = await r.trainer.run();
      expect(res.step).to.equal(8);
      expect(allFinite([r.method.student.w, r.method.teacher.w])).to.equal(true);
      expect(() => readCheckpoint(CheckpointStore.resolve(dir) as string)).not.to.throw();
    });

    it('a non-finite gradient stops the run before the update, and nothing non-finite is saved', async () => {
      const dir = tmpDir('grad');
      const r = toyRun(dir, { epochs: 1 });
      const w = r.method.student.w;
      const loss = r.method.loss.bind(r.method);
      // Finite loss (sqrt(0) = 0), infinite slope: d sqrt(x)/dx at 0.
      r.method.loss = (b, ctx) => (ctx.step === 2 ? (tf.sum(tf.sqrt(tf.mul(w, 0))) as tf.Scalar) : loss(b, ctx));
      let before: Float32Array | null = null;
      r.trainer['d'].callbacks.push({ name: 'snap', afterStep: () => void (before = w.dataSync().slice() as Float32Array) } as Callback);
      const err = await rejection(r.trainer.run());
      expect(err).to.be.instanceOf(NonFiniteValueError);
      expect(err.message).to.match(/gradient of 'student\.weight' is not finite at step 3/).and.contain(ckptName(2));
      expect(Array.from(w.dataSync())).to.deep.equal(Array.from(before!));
      expect(CheckpointStore.resolve(dir)).to.match(/step_00000002$/);
      expect(r.events.some((e) => e.type === 'run:error')).to.equal(true);
    });

    it('a non-finite weight after the update stops the run before any checkpoint could keep it', async () => {
      const dir = tmpDir('weight');
      const r = toyRun(dir, { epochs: 1, everySteps: 1 });
      const hyper = r.optimizer.hyperAt.bind(r.optimizer);
      r.optimizer.hyperAt = (s) => (s === 2 ? { lr: NaN, weightDecay: 0 } : hyper(s));
      const err = await rejection(r.trainer.run());
      expect(err).to.be.instanceOf(NonFiniteValueError);
      expect(err.message).to.match(/weight 'student\.(weight|bias)' is not finite at step 3/);
      expect(CheckpointStore.resolve(dir)).to.match(/step_00000002$/);
      expect(() => readCheckpoint(CheckpointStore.resolve(dir) as string)).not.to.throw();
    });

    it('a checkpoint with a non-finite tensor is never written, so retention keeps the sound ones', async () => {
      const dir = await twoCheckpoints();
      const r = toyRun(dir, { keep: 1 });
      await r.trainer.resume(dir);
      r.method.teacher.w.assign(tf.fill(r.method.teacher.w.shape, NaN));
      const err = await rejection(new CheckpointStore(dir).save({ ...r.trainer.state(), step: 6 }, r.method, r.optimizer, [], {}));
      expect(err).to.be.instanceOf(NonFiniteValueError);
      expect(err.message).to.contain("'teacher.weight'");
      expect(fs.existsSync(path.join(dir, 'checkpoints', ckptName(6)))).to.equal(false);
      // Retention never removes the checkpoint `latest` names, even when it is not among the newest.
      fs.writeFileSync(path.join(dir, 'checkpoints', 'latest'), ckptName(2) + '\n');
      pruneCheckpoints(dir, 1);
      expect(fs.existsSync(path.join(dir, 'checkpoints', ckptName(2)))).to.equal(true);
    });

    it('evaluation refuses backbone weights with a NaN, naming the tensor and the file', () => {
      const dir = tmpDir('evalw');
      const net = new ToyNet(3, 2, new Rng(1));
      const w = new Float32Array(6).fill(0.5);
      w[4] = NaN;
      const file = path.join(dir, 'model.safetensors');
      fs.writeFileSync(
        file,
        encodeSafetensors(
          new Map([
            ['student.backbone.weight', { dtype: 'F32' as const, shape: [2, 3], data: w }],
            ['student.backbone.bias', { dtype: 'F32' as const, shape: [2], data: new Float32Array(2) }],
          ]),
          { format: 'pt' },
        ),
      );
      expect(() => loadBackboneWeights(net as unknown as Backbone, dir, 'student.backbone.')).to.throw(CheckpointError, /'student\.backbone\.weight'.*NaN/);
      net.dispose();
    });
  });

  describe('4. re-saving a step', () => {
    it('a crash while replacing step_N leaves latest on a complete checkpoint', async () => {
      const dir = await twoCheckpoints();
      const r = toyRun(dir);
      await r.trainer.resume(dir);
      faults = new FaultyFs([{ op: 'renameSync', match: /tmp-.* -> .*step_00000004$/, fail: 'kill' }]).install();
      const err = await rejection(new CheckpointStore(dir).save(r.trainer.state(), r.method, r.optimizer, [], {}));
      expect(err).to.be.instanceOf(SimulatedKill);
      faults.restore();
      const resolved = CheckpointStore.resolve(dir) as string;
      expect(() => readCheckpoint(resolved)).not.to.throw();
      const pick = CheckpointStore.pickForResume(dir);
      expect(pick.warning).to.equal(null);
      expect(path.basename(pick.checkpoint.dir)).to.equal(ckptName(2));
    });

    it('the same step is not written twice (Ctrl-C right after a periodic checkpoint, resuming a finished run)', async () => {
      const dir = tmpDir('same');
      let stop: () => void = () => undefined;
      const r = toyRun(dir, { callbacks: [{ name: 'stop', afterStep: (_run, step) => void (step === 2 && stop()) }] });
      stop = () => r.trainer.requestInterrupt('SIGINT');
      await rejection(r.trainer.run());
      const saves = r.events.filter((e) => e.type === 'checkpoint:saved');
      expect(saves.map((e) => e.type === 'checkpoint:saved' && e.step)).to.deep.equal([2]);

      const done = tmpDir('done');
      await toyRun(done).trainer.run();
      const again = toyRun(done);
      await again.trainer.resume(done);
      faults = new FaultyFs([{ op: 'renameSync', match: /checkpoints/, fail: 'kill' }]).install(); // any rename would be a rewrite
      const res = await again.trainer.run();
      expect(res.step).to.equal(8);
      expect(again.events.filter((e) => e.type === 'checkpoint:saved')).to.have.length(0);
    });
  });

  describe('5. corrupt checkpoints', () => {
    it('state.json with "step": "banana" is refused on load, naming the file and the key (exit code 2)', async () => {
      const dir = await twoCheckpoints();
      const ck = path.join(dir, 'checkpoints', ckptName(4));
      const st = JSON.parse(fs.readFileSync(path.join(ck, 'state.json'), 'utf8'));
      st.step = 'banana';
      fs.writeFileSync(path.join(ck, 'state.json'), JSON.stringify(st));
      const err = await rejection(toyRun(dir).trainer.resume(ck));
      expect(err).to.be.instanceOf(CheckpointError);
      expect(err.message).to.contain(`${ck}/state.json`).and.contain("'step'").and.contain('"banana"');
      expect((err as CheckpointError).exitCode).to.equal(2);
    });

    it('a truncated latest falls back to the newest complete checkpoint', async () => {
      const dir = await twoCheckpoints();
      const file = path.join(dir, 'checkpoints', ckptName(4), 'optimizer.safetensors');
      fs.truncateSync(file, 20);
      const pick = CheckpointStore.pickForResume(dir);
      expect(path.basename(pick.checkpoint.dir)).to.equal(ckptName(2));
      expect(pick.warning).to.contain('optimizer.safetensors').and.contain('corrupt');
    });
  });

  describe('10. smaller', () => {
    it('folders of interrupted checkpoint writes are removed by the next save', async () => {
      const dir = tmpDir('stale');
      faults = new FaultyFs([{ op: 'writeSync', match: /step_00000004\.tmp-.*state\.json$/, fail: 'kill' }]).install();
      await rejection(toyRun(dir, { epochs: 1 }).trainer.run());
      faults.restore();
      const stale = () => fs.readdirSync(path.join(dir, 'checkpoints')).filter((n) => n.startsWith('.'));
      expect(stale()).to.have.length(1);
      const r = toyRun(dir, { epochs: 1 });
      await r.trainer.resume(dir);
      await r.trainer.run();
      expect(stale()).to.deep.equal([]);
      expect(fs.readFileSync(path.join(dir, 'checkpoints', 'latest'), 'utf8').trim()).to.equal(ckptName(4));
    });
  });

  describe('trainer state in checkpoints', () => {
    it("saves and restores a callback's tensor state and the collapse streak", async () => {
      class Counter implements Callback {
        readonly name = 'counter';
        readonly v: tf.Variable = tf.variable(tf.scalar(0));
        afterStep(): void {
          this.v.assign(tf.add(this.v, 1));
        }
        tensorState(): TensorState {
          return new Map([['count', this.v as tf.Tensor]]);
        }
        loadTensorState(s: TensorState): void {
          this.v.assign(s.get('count') as tf.Tensor);
        }
      }
      const dir = tmpDir('cbstate');
      const a = new Counter();
      const r = toyRun(dir, { maxSteps: 3, callbacks: [a] });
      r.trainer['collapseStreak'] = 2; // as if the loss had sat at the collapse value
      await r.trainer.run();
      expect(fs.existsSync(path.join(dir, 'checkpoints', ckptName(3), 'callbacks.safetensors'))).to.equal(true);
      const b = new Counter();
      const s = toyRun(dir, { callbacks: [b] });
      await s.trainer.resume(dir);
      expect(b.v.dataSync()[0]).to.equal(3);
      expect(s.trainer.state().trainer).to.deep.equal({ collapseStreak: 2, collapseWarned: false });
      tf.dispose([a.v, b.v]);
    });
  });
});
