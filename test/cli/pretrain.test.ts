import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import { main } from '../../src/cli/main';
import { signalAfterFirstStep } from '../helpers/run_cli';
import { tinyDinoConfig } from '../helpers/tiny_config';

/**
 * End to end through the CLI on the wasm backend: a real DINO + SSLight-views pre-training of a
 * tiny MobileNetV2, its files, resume, Ctrl-C and unreadable images.
 */
const TINY = tinyDinoConfig(['progress: {every_steps: 100}', 'jsonl: {}', 'checkpoint: {every_steps: 3, keep: 2}'], 2);

type Ev = Record<string, unknown> & { type: string };

function events(runDir: string): Ev[] {
  return fs
    .readFileSync(path.join(runDir, 'events.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Ev);
}

function losses(evs: Ev[]): number[] {
  return evs.filter((e) => e.type === 'step:end').map((e) => (e.losses as { loss: number }).loss);
}

async function cli(args: string[]): Promise<number> {
  process.exitCode = 0;
  await main(args);
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return code;
}

describe('cli: sslight pretrain (wasm, tiny MobileNetV2)', function () {
  this.timeout(300000);
  let dir: string;
  let config: string;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-cli-'));
    config = path.join(dir, 'tiny.yaml');
    fs.writeFileSync(config, TINY);
  });
  after(async () => {
    await tf.setBackend('cpu');
  });

  it('runs to the end with progress, events.jsonl, config.yaml and checkpoints', async () => {
    const out = path.join(dir, 'full');
    expect(await cli(['pretrain', '--config', config, '--out', out, '--backend', 'wasm'])).to.equal(0);
    const evs = events(out);
    const start = evs[0];
    expect(start.type).to.equal('run:start');
    expect(start.backend).to.equal('wasm');
    const steps = evs.filter((e) => e.type === 'step:end');
    expect(steps).to.have.length(12);
    // The real pipeline (DINO, MobileNetV2, LARS, loader) leaks no tensor from step to step.
    // (DINO freezes the last layer in epoch 0, so the optimizer creates its momentum buffer at the
    // first step of epoch 1: one tensor, once. Each epoch must be flat on its own.)
    const counts = steps.map((s) => (s.metrics as Record<string, number>).num_tensors);
    expect(new Set(counts.slice(1, 6)).size, `numTensors per step: ${counts.join(',')}`).to.equal(1);
    expect(new Set(counts.slice(6)).size, `numTensors per step: ${counts.join(',')}`).to.equal(1);
    expect(counts[6] - counts[5], 'the last layer momentum buffer').to.equal(1);
    expect((steps[0].metrics as Record<string, number>).wasm_heap_mb).to.be.greaterThan(0);
    for (const s of steps) {
      expect(s.images_per_s as number).to.be.greaterThan(0);
      expect((s.metrics as Record<string, number>).ps_ratio).to.be.a('number');
      expect((s.metrics as Record<string, number>).teacher_temp).to.be.a('number');
    }
    expect(evs[evs.length - 1]).to.include({ type: 'run:end', reason: 'completed', step: 12 });
    expect(fs.existsSync(path.join(out, 'config.yaml'))).to.equal(true);
    expect(fs.readFileSync(path.join(out, 'checkpoints', 'latest'), 'utf8').trim()).to.equal('step_00000012');
    // keep: 2 prunes older checkpoints
    expect(fs.readdirSync(path.join(out, 'checkpoints')).filter((n) => n.startsWith('step_'))).to.deep.equal([
      'step_00000009',
      'step_00000012',
    ]);
  });

  it('--max-steps then --resume gives the same losses as the uninterrupted run (1e-5)', async () => {
    const ref = losses(events(path.join(dir, 'full')));
    const out = path.join(dir, 'resumed');
    expect(await cli(['pretrain', '--config', config, '--out', out, '--backend', 'wasm', '--max-steps', '5'])).to.equal(0);
    expect(losses(events(out))).to.have.length(5);
    expect(fs.readFileSync(path.join(out, 'checkpoints', 'latest'), 'utf8').trim()).to.equal('step_00000005');
    // No --config: the run's config.yaml is used.
    expect(await cli(['pretrain', '--resume', out, '--backend', 'wasm'])).to.equal(0);
    const got = losses(events(out));
    expect(got).to.have.length(12);
    got.forEach((l, i) => expect(Math.abs(l - ref[i]), `step ${i + 1}: ${l} vs ${ref[i]}`).to.be.at.most(1e-5));
  });

  it('refuses to start a new run over an existing one unless --overwrite', async () => {
    const out = path.join(dir, 'full');
    expect(await cli(['pretrain', '--config', config, '--out', out, '--backend', 'wasm', '--max-steps', '1'])).to.equal(2);
    expect(fs.readFileSync(path.join(out, 'checkpoints', 'latest'), 'utf8').trim()).to.equal('step_00000012');
    const again = path.join(dir, 'again');
    expect(await cli(['pretrain', '--config', config, '--out', again, '--backend', 'wasm', '--max-steps', '1'])).to.equal(0);
    expect(await cli(['pretrain', '--config', config, '--out', again, '--backend', 'wasm', '--max-steps', '2', '--overwrite'])).to.equal(0);
    expect(losses(events(again))).to.have.length(2);
  });

  it('a config error names the key and exits 2', async () => {
    const code = await cli(['pretrain', '--config', config, '--out', path.join(dir, 'bad'), '--set', 'views.n_locall=3', '--backend', 'cpu']);
    expect(code).to.equal(2);
  });

  it('skips an unreadable image, reports it in events.jsonl, and trains on', async () => {
    const root = path.join(dir, 'images');
    for (const cls of ['a', 'b']) {
      fs.mkdirSync(path.join(root, cls), { recursive: true });
      for (let i = 0; i < 9; i++) {
        const px = Buffer.alloc(24 * 24 * 3, cls === 'a' ? i * 20 : 255 - i * 20);
        await sharp(px, { raw: { width: 24, height: 24, channels: 3 } }).png().toFile(path.join(root, cls, `${i}.png`));
      }
    }
    fs.writeFileSync(path.join(root, 'a', 'broken.png'), Buffer.from('not an image'));
    const out = path.join(dir, 'folder');
    const code = await cli([
      'pretrain', '--config', config, '--out', out, '--backend', 'wasm',
      '--set', `data={name: image_folder, root: ${root}}`, '--set', 'trainer.epochs=1',
    ]);
    expect(code).to.equal(0);
    const evs = events(out);
    const skipped = evs.filter((e) => e.type === 'data:skipped');
    expect(skipped).to.have.length(1);
    expect(skipped[0].source as string).to.contain('broken.png');
    expect(evs.filter((e) => e.type === 'step:end')).to.have.length(2);
  });

  it('Ctrl-C saves a checkpoint and exits 130', async () => {
    const out = path.join(dir, 'sigint');
    const { code, stderr } = await signalAfterFirstStep(
      ['pretrain', '--config', config, '--out', out, '--backend', 'wasm', '--set', 'trainer.epochs=50', '--set', 'callbacks.checkpoint=false'],
      out,
      'SIGINT',
    );
    expect(code, stderr).to.equal(130);
    const evs = events(out);
    const end = evs.find((e) => e.type === 'run:end');
    expect(end?.reason).to.equal('interrupted');
    const saved = evs.find((e) => e.type === 'checkpoint:saved');
    expect(saved?.step).to.equal(end?.step);
    expect(fs.existsSync(path.join(out, 'checkpoints', 'latest'))).to.equal(true);
  });
});
