import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { expect } from 'chai';
import sharp from 'sharp';
import { EventBus, type EventInput } from '../../../src/core/events';
import type { RunInfo } from '../../../src/core/interfaces';
import { publishImage } from '../../../src/core/images';
import { TensorBoardCallback } from '../../../plugins/callbacks/tensorboard';
import { maskedCrc32c, crc32c } from '../../../plugins/callbacks/common/crc32c';
import { readEventFile, readRecords } from '../../helpers/tfevents_reader';

function runInfo(bus: EventBus, runDir: string | null): RunInfo {
  return { runDir, events: bus, config: {}, step: () => 0, saveCheckpoint: async () => null };
}

const stepEnd = (step: number, loss: number, lr: number): EventInput => ({
  type: 'step:end',
  epoch: 0,
  step,
  totalSteps: 4,
  losses: { loss, loss_gg: loss / 2 },
  lr,
  wd: 0.04,
  images_per_s: 100 + step,
  step_ms: 300,
  metrics: { ps_ratio: 1.02, teacher_temp: 0.04, momentum: 0.996, num_tensors: 120, wasm_heap_mb: 64.5 },
});

describe('plugins/callbacks/tensorboard', () => {
  it('crc32c matches the published check value and the masking formula', () => {
    // RFC 3720 B.4 check value of CRC-32C("123456789").
    expect(crc32c(Buffer.from('123456789'))).to.equal(0xe3069283);
    const c = 0xe3069283;
    expect(maskedCrc32c(Buffer.from('123456789'))).to.equal(((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) % 2 ** 32);
  });

  it('writes file_version, scalars per step, eval scalars and a PNG image that an independent reader decodes', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-tb-'));
    const bus = new EventBus();
    const sub = new TensorBoardCallback({ dir: 'tensorboard', every_steps: 1, images: true }).attach(bus.events$, runInfo(bus, dir));
    bus.emit({ type: 'run:start', runDir: dir, backend: 'cpu', seed: 0, config: {}, startStep: 0, totalSteps: 4, stepsPerEpoch: 4, resumedFrom: null });
    const lrs = [0.1, 0.2, 0.30000001, 1e-7];
    for (let s = 1; s <= 4; s++) bus.emit(stepEnd(s, 5 - s * 0.5, lrs[s - 1]));
    bus.emit({ type: 'eval:end', step: 4, metrics: { knn_top1: 0.4321 } });
    const w = 5;
    const h = 3;
    const pixels = new Uint8Array(w * h * 3).map((_, i) => (i * 37) % 256);
    publishImage(bus, { runDir: dir, tag: 'views_montage', step: 0, image: { width: w, height: h, data: pixels } });
    sub?.unsubscribe();

    const files = fs.readdirSync(path.join(dir, 'tensorboard'));
    expect(files).to.have.length(1);
    expect(files[0]).to.match(/^events\.out\.tfevents\.\d+\.[^.]+.*\.\d+\.\d+$/);
    const evs = readEventFile(path.join(dir, 'tensorboard', files[0]));
    expect(evs[0].fileVersion).to.equal('brain.Event:2');
    expect(evs[0].wallTime).to.be.closeTo(Date.now() / 1000, 60);
    const steps = evs.filter((e) => Object.keys(e.scalars).includes('loss/loss'));
    expect(steps.map((e) => e.step)).to.deep.equal([1, 2, 3, 4]);
    for (const [i, e] of steps.entries()) {
      const s = i + 1;
      // float32 on the wire: exactly the rounded value.
      expect(e.scalars['loss/loss']).to.equal(Math.fround(5 - s * 0.5));
      expect(e.scalars['loss/loss_gg']).to.equal(Math.fround((5 - s * 0.5) / 2));
      expect(e.scalars['hyper/lr']).to.equal(Math.fround(lrs[i]));
      expect(e.scalars['hyper/wd']).to.equal(Math.fround(0.04));
      expect(e.scalars['hyper/teacher_temp']).to.equal(Math.fround(0.04));
      expect(e.scalars['hyper/momentum']).to.equal(Math.fround(0.996));
      expect(e.scalars['train/ps_ratio']).to.equal(Math.fround(1.02));
      expect(e.scalars['perf/images_per_s']).to.equal(100 + s);
      expect(e.scalars['perf/step_ms']).to.equal(300);
      expect(e.scalars['memory/num_tensors']).to.equal(120);
      expect(e.scalars['memory/wasm_heap_mb']).to.equal(64.5);
      expect(e.scalars['memory/rss_mb']).to.be.greaterThan(10);
    }
    const ev = evs.find((e) => 'eval/knn_top1' in e.scalars)!;
    expect(ev.step).to.equal(4);
    expect(ev.scalars['eval/knn_top1']).to.equal(Math.fround(0.4321));
    const img = evs.find((e) => e.images.views_montage)!.images.views_montage;
    expect(img).to.include({ width: w, height: h, colorspace: 3 });
    const decoded = await sharp(img.png).raw().toBuffer({ resolveWithObject: true });
    expect(decoded.info).to.include({ width: w, height: h, channels: 3 });
    expect([...decoded.data]).to.deep.equal([...pixels]);
  });

  it('the reader rejects a corrupted byte (so the CRC checks above are real)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-tb-'));
    const bus = new EventBus();
    const sub = new TensorBoardCallback({ dir: 'tb', every_steps: 2, images: true }).attach(bus.events$, runInfo(bus, dir));
    bus.emit({ type: 'run:start', runDir: dir, backend: 'cpu', seed: 0, config: {}, startStep: 0, totalSteps: 4, stepsPerEpoch: 4, resumedFrom: null });
    for (let s = 1; s <= 4; s++) bus.emit(stepEnd(s, 1, 0.1));
    sub?.unsubscribe();
    const file = path.join(dir, 'tb', fs.readdirSync(path.join(dir, 'tb'))[0]);
    // every_steps 2: steps 2 and 4 only.
    expect(readEventFile(file).filter((e) => e.step > 0).map((e) => e.step)).to.deep.equal([2, 4]);
    const b = fs.readFileSync(file);
    const n = readRecords(file).length;
    b[b.length - 6] ^= 0x01;
    fs.writeFileSync(file, b);
    expect(() => readRecords(file)).to.throw(/data CRC mismatch/);
    expect(n).to.equal(3);
  });

  it('does nothing for an in-memory run', () => {
    const bus = new EventBus();
    expect(new TensorBoardCallback({ dir: 'tb', every_steps: 1, images: true }).attach(bus.events$, runInfo(bus, null))).to.equal(undefined);
  });
});
