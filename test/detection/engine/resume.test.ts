import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import '../../../src/run/builtins';
import { selectBackend } from '../../../src/core/backend';
import { CheckpointStore, readCheckpoint } from '../../../src/core/checkpoint';
import { InterruptedError } from '../../../src/core/errors';
import { clearStopRequest, requestStop } from '../../../src/core/signals';
import { detectTrain } from '../../../src/cli/detect';
import { shapesConfig } from './shapes_config';
import YAML from 'yaml';
import { z } from 'zod';
import { registerPlugin, registry } from '../../../src/core/registry';
import type { Callback } from '../../../src/core/interfaces';

function stepLosses(runDir: string): Record<number, Record<string, number>> {
  const out: Record<number, Record<string, number>> = {};
  for (const l of fs.readFileSync(path.join(runDir, 'events.jsonl'), 'utf8').split('\n').filter(Boolean)) {
    const e = JSON.parse(l);
    if (e.type === 'step:end') out[e.step] = e.losses;
  }
  return out;
}

describe('detection training: exact resume, stop signals', function () {
  this.timeout(120000);
  let dir: string;
  let cfg: string;
  let backendBefore: string;
  const quiet = () => undefined;
  before(async () => {
    backendBefore = tf.getBackend();
    await selectBackend('wasm');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-detect-resume-'));
    cfg = (await shapesConfig(dir, { maxIter: 4, steps: [3], lr: 0.02 })).file;
  });
  after(async () => {
    clearStopRequest();
    fs.rmSync(dir, { recursive: true, force: true });
    await tf.setBackend(backendBefore);
  });

  it('2 steps + resume for 2 gives the weights and losses of 4 uninterrupted steps (1e-5)', async () => {
    const sets = ['trainer.eval_at_end=false'];
    const a = await detectTrain({ config: cfg, out: path.join(dir, 'a'), set: sets, backend: 'wasm' }, quiet);
    const b = path.join(dir, 'b');
    await detectTrain({ config: cfg, out: b, set: sets, 'max-steps': 2, backend: 'wasm' }, quiet);
    expect(readCheckpoint(CheckpointStore.resolve(b) as string).state.step).to.equal(2);
    await detectTrain({ resume: b, backend: 'wasm' }, quiet);
    const ca = readCheckpoint(CheckpointStore.resolve(a) as string);
    const cb = readCheckpoint(CheckpointStore.resolve(b) as string);
    expect(cb.state.step).to.equal(4);
    expect([...cb.model.keys()].sort()).to.deep.equal([...ca.model.keys()].sort());
    expect([...ca.model.keys()].some((k) => k.startsWith('model.roi_heads.mask_predictor.'))).to.equal(true);
    for (const [k, ea] of ca.model) {
      const x = Array.from(ea.data as ArrayLike<number | bigint>, Number);
      const y = Array.from(cb.model.get(k)!.data as ArrayLike<number | bigint>, Number);
      let scale = 1e-12;
      let diff = 0;
      for (let i = 0; i < x.length; i++) {
        scale = Math.max(scale, Math.abs(x[i]));
        diff = Math.max(diff, Math.abs(x[i] - y[i]));
      }
      expect(diff / Math.max(1, scale), k).to.be.at.most(1e-5);
    }
    const la = stepLosses(a);
    const lb = stepLosses(b);
    for (const s of [3, 4]) for (const t of Object.keys(la[s])) expect(lb[s][t], `step ${s} ${t}`).to.be.closeTo(la[s][t], 1e-5 * Math.max(1, Math.abs(la[s][t])));
    // The categories travel in the checkpoint (for eval / show).
    expect((cb.state.method as { categories: { names: string[] } }).categories.names).to.deep.equal(['rectangle', 'circle', 'triangle']);
  });

  it('SIGTERM: checkpoint, then InterruptedError with exit code 143', async () => {
    // The signal arrives after step 1 (before the first step of a fresh run the trainer has
    // nothing to keep and writes no checkpoint).
    if (!registry.has('callback', 'sigterm-after-step-1')) {
      registerPlugin({
        kind: 'callback',
        name: 'sigterm-after-step-1',
        schema: z.object({}).strict(),
        create: (): Callback => ({ name: 'sigterm-after-step-1', afterStep: (_r, step) => void (step === 1 && requestStop('SIGTERM')) }),
      });
    }
    const doc = YAML.parse(fs.readFileSync(cfg, 'utf8'));
    doc.callbacks['sigterm-after-step-1'] = {};
    const termCfg = path.join(dir, 'term.yaml');
    fs.writeFileSync(termCfg, YAML.stringify(doc));
    const out = path.join(dir, 'term');
    let err: unknown = null;
    try {
      await detectTrain({ config: termCfg, out, backend: 'wasm' }, quiet);
    } catch (e) {
      err = e;
    } finally {
      clearStopRequest();
    }
    expect(err).to.be.instanceOf(InterruptedError);
    expect((err as InterruptedError).exitCode).to.equal(143);
    expect((err as { step?: number }).step, 'stopped after step 1').to.equal(1);
    expect(CheckpointStore.resolve(out, false)).to.be.a('string');
  });
});
