import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import { main } from '../../src/cli/main';
import { repoRoot } from '../helpers/reference';
import { readEventFile } from '../helpers/tfevents_reader';

/**
 * The shipped quickstart config (tensorboard on by default), shrunk to a few steps: its
 * TensorBoard file decodes with the test's own reader (every CRC checked) and holds, per step,
 * exactly the values events.jsonl has, plus the views montage as a PNG.
 */
describe('cli: pretrain writes TensorBoard files (quickstart config, shrunk)', function () {
  this.timeout(300000);
  after(async () => {
    await tf.setBackend('cpu');
  });

  it('decodes cleanly and matches events.jsonl', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-tbrun-'));
    process.exitCode = 0;
    await main([
      'pretrain', '--config', path.join(repoRoot, 'configs', 'quickstart.yaml'), '--out', out, '--overwrite',
      '--backend', 'wasm', '--max-steps', '6', '--quiet',
      '--set', 'data.num_images=64', '--set', 'trainer.batch_size=8', '--set', 'backbone.width=0.25',
    ]);
    expect(Number(process.exitCode ?? 0)).to.equal(0);
    const files = fs.readdirSync(path.join(out, 'tensorboard'));
    expect(files).to.have.length(1);
    const evs = readEventFile(path.join(out, 'tensorboard', files[0]));
    expect(evs[0].fileVersion).to.equal('brain.Event:2');
    const jsonl = fs.readFileSync(path.join(out, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const steps = jsonl.filter((e) => e.type === 'step:end');
    expect(steps).to.have.length(6);
    for (const s of steps) {
      const tb = evs.find((e) => e.step === s.step && 'loss/loss' in e.scalars);
      expect(tb, `step ${s.step}`).to.not.equal(undefined);
      expect(tb!.wallTime).to.equal(s.time / 1000);
      expect(tb!.scalars['loss/loss']).to.equal(Math.fround(s.losses.loss));
      for (const k of ['loss_gg', 'loss_gl']) expect(tb!.scalars[`loss/${k}`]).to.equal(Math.fround(s.metrics[k] ?? s.losses[k]));
      expect(tb!.scalars['hyper/lr']).to.equal(Math.fround(s.lr));
      expect(tb!.scalars['hyper/wd']).to.equal(Math.fround(s.wd));
      expect(tb!.scalars['hyper/teacher_temp']).to.equal(Math.fround(s.metrics.teacher_temp));
      expect(tb!.scalars['hyper/momentum']).to.equal(Math.fround(s.metrics.momentum));
      expect(tb!.scalars['train/ps_ratio']).to.equal(Math.fround(s.metrics.ps_ratio));
      expect(tb!.scalars['perf/images_per_s']).to.equal(Math.fround(s.images_per_s));
      expect(tb!.scalars['memory/num_tensors']).to.equal(s.metrics.num_tensors);
      expect(tb!.scalars['memory/wasm_heap_mb']).to.equal(Math.fround(s.metrics.wasm_heap_mb));
    }
    const imgEvent = jsonl.find((e) => e.type === 'image' && e.tag === 'views_montage');
    expect(imgEvent, 'image event in events.jsonl').to.not.equal(undefined);
    const img = evs.find((e) => e.images.views_montage)!.images.views_montage;
    const onDisk = await sharp(imgEvent.path).metadata();
    expect(img).to.include({ width: onDisk.width, height: onDisk.height, colorspace: 3 });
    expect(Buffer.compare(img.png, fs.readFileSync(imgEvent.path))).to.equal(0);
    // Four images, each a row of 2 global (32 px) + 4 local (18 px) views.
    expect(img.height).to.equal(4 * 32 + 3 * 2);
    expect(img.width).to.equal(2 * 32 + 4 * 18 + 5 * 2);
  });
});
