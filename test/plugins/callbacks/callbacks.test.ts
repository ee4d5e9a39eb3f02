import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Writable } from 'stream';
import { expect } from 'chai';
import { EventBus, type EventInput } from '../../../src/core/events';
import type { RunInfo } from '../../../src/core/interfaces';
import { JsonlCallback } from '../../../plugins/callbacks/jsonl';
import { ProgressCallback } from '../../../plugins/callbacks/progress';
import { CheckpointCallback } from '../../../plugins/callbacks/checkpoint';
import { formatDuration } from '../../../plugins/callbacks/format';

function runInfo(bus: EventBus, runDir: string | null, saves: number[] = [], step = () => 0): RunInfo {
  return {
    runDir,
    events: bus,
    config: {},
    step,
    saveCheckpoint: async () => {
      saves.push(step());
      return runDir ? path.join(runDir, 'checkpoints', `step_${step()}`) : null;
    },
  };
}

const stepEnd = (step: number, loss: number): EventInput => ({
  type: 'step:end',
  epoch: 0,
  step,
  totalSteps: 10,
  losses: { loss },
  lr: 0.01,
  wd: 0,
  images_per_s: 100,
  step_ms: 320,
  metrics: { ps_ratio: 1.02 },
});

describe('plugins/callbacks', () => {
  it('jsonl writes one parseable event per line, NaN as a string, step:start excluded', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-jsonl-'));
    const bus = new EventBus();
    const sub = new JsonlCallback({ file: 'events.jsonl', exclude: ['step:start'] }).attach(bus.events$, runInfo(bus, dir));
    bus.emit({ type: 'step:start', epoch: 0, step: 0 });
    bus.emit(stepEnd(1, 2.5));
    bus.emit(stepEnd(2, NaN));
    sub?.unsubscribe();
    const lines = fs.readFileSync(path.join(dir, 'events.jsonl'), 'utf8').trim().split('\n');
    expect(lines).to.have.length(2);
    const events = lines.map((l) => JSON.parse(l));
    expect(events[0]).to.include({ type: 'step:end', step: 1 });
    expect(events[0].metrics.ps_ratio).to.equal(1.02);
    expect(events[1].losses.loss).to.equal('NaN');
    expect(events[0].time).to.be.a('number');
  });

  it('progress prints loss, lr, images/s and ETA every N steps on a non-TTY stream', () => {
    let text = '';
    const out = new Writable({
      write(chunk, _enc, cb) {
        text += chunk.toString();
        cb();
      },
    });
    const bus = new EventBus();
    new ProgressCallback({ every_steps: 2, window: 20, bar_width: 10 }, out).attach(bus.events$);
    bus.emit({ type: 'run:start', runDir: null, backend: 'cpu', seed: 0, config: {}, startStep: 0, totalSteps: 10, stepsPerEpoch: 5, resumedFrom: null });
    bus.emit(stepEnd(1, 3));
    bus.emit(stepEnd(2, 2.75));
    const lines = text.trim().split('\n');
    expect(lines[0]).to.contain('backend cpu');
    expect(lines).to.have.length(2); // step 1 is not a multiple of every_steps
    expect(lines[1]).to.match(/step 2\/10 ep 0 loss 2\.7500 lr 1\.000e-2 100\.0 img\/s ETA 3s/);
    expect(formatDuration(3723)).to.equal('1h02m03s');
    expect(formatDuration(NaN)).to.equal('?');
  });

  it('checkpoint saves every N steps, at epoch ends, and once more at the end unless just saved', async () => {
    const saves: number[] = [];
    let step = 0;
    const bus = new EventBus();
    const run = runInfo(bus, null, saves, () => step);
    const cb = new CheckpointCallback({ every_steps: 3, every_epochs: 2, keep: null, save_last: true });
    for (step = 1; step <= 8; step++) {
      const endOfEpoch = step % 4 === 0;
      await cb.afterStep(run, step, Math.floor(step / 4), endOfEpoch);
    }
    step = 8;
    await cb.afterTrain(run);
    // every 3 steps: 3, 6; epoch end with epoch % 2 == 0: step 8 (epoch 2); step 4 ends epoch 1 (odd).
    expect(saves).to.deep.equal([3, 6, 8]);
    step = 9;
    await cb.afterTrain(run);
    expect(saves).to.deep.equal([3, 6, 8, 9]);
  });
});
