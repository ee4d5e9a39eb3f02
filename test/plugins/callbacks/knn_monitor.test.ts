import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { expect } from 'chai';
import { registry } from '../../../src/core/registry';
import type { KnnProbe } from '../../../src/core/interfaces';
import '../../../src/run/builtins';
import { runCli } from '../../helpers/run_cli';
import { tinyDinoConfig } from '../../helpers/tiny_config';

const TINY = tinyDinoConfig(['jsonl: {}', 'checkpoint: {every_steps: 100, keep: 1}', 'knn_monitor: {every_steps: 3, num_train: 32, num_test: 16, k: 5, at_start: true}']);

/** `sslight <args>` in-process; stderr is captured (and not looked at). */
const quiet = runCli;

describe('plugins/callbacks: knn_monitor', function () {
  this.timeout(120000);

  it('publishes eval:end with k-NN top-1 during pre-training, equal to sslight knn on the same subsets', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-knnmon-'));
    fs.writeFileSync(path.join(dir, 'tiny.yaml'), TINY);
    const run = path.join(dir, 'run');
    const r = await quiet(['pretrain', '--config', path.join(dir, 'tiny.yaml'), '--out', run, '--backend', 'wasm']);
    expect(r.code).to.equal(0);
    const events = fs
      .readFileSync(path.join(run, 'events.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { type: string; step: number; metrics: Record<string, number>; message?: string });
    const evals = events.filter((e) => e.type === 'eval:end');
    expect(evals.map((e) => e.step)).to.deep.equal([0, 3, 6]);
    for (const e of evals) {
      expect(e.metrics.knn_top1).to.be.within(0, 1);
      expect(e.metrics.knn_num_train).to.equal(32);
      expect(e.metrics.knn_num_test).to.equal(16);
    }
    expect(events.some((e) => e.type === 'log' && /knn_monitor: step 3: k-NN top-1/.test(e.message ?? ''))).to.equal(true);
    // The last evaluation saw the final weights: the same number as the k-NN command on the checkpoint.
    const knn = await quiet(['knn', '--run', run, '--max-train', '32', '--max-test', '16', '--k', '5', '--backend', 'wasm']);
    expect(knn.code).to.equal(0);
    const top1 = JSON.parse(fs.readFileSync(path.join(run, 'knn.json'), 'utf8')).top1 as number;
    expect(evals[2].metrics.knn_top1).to.equal(top1);
  });

  it('validates its options and needs the run\'s probe', async () => {
    const def = registry.get('callback', 'knn_monitor');
    expect(def.schema.safeParse({ num_train: 0 }).success).to.equal(false);
    expect(def.schema.safeParse({ every: 2 }).success).to.equal(false);
    const cb = def.create(def.schema.parse({ every_steps: 1 }), {});
    const run = { runDir: null, events: { emit: () => {} }, config: {}, step: () => 1, saveCheckpoint: async () => null };
    let err: unknown;
    try {
      await cb.afterStep!(run as never, 1, 0, false);
    } catch (e) {
      err = e;
    }
    expect(String(err)).to.match(/knn_monitor needs a k-NN probe/);
    const calls: number[] = [];
    const probe: KnnProbe = {
      knn: async (o) => {
        calls.push(o.numTrain);
        return { top1: 0.5, numTrain: o.numTrain, numTest: o.numTest };
      },
    };
    const emitted: unknown[] = [];
    const cb2 = def.create(def.schema.parse({ every_epochs: 2, num_train: 7 }), { probe });
    const run2 = { ...run, events: { emit: (e: unknown) => emitted.push(e) } };
    await cb2.afterStep!(run2 as never, 5, 1, true); // epoch 1 ended: not a multiple of 2
    await cb2.afterStep!(run2 as never, 10, 2, true);
    expect(calls).to.deep.equal([7]);
    expect(emitted[0]).to.deep.include({ type: 'eval:end', step: 10 });
  });
});
