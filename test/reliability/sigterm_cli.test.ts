import * as fs from 'fs';
import * as path from 'path';
import { expect } from 'chai';
import { signalAfterFirstStep } from '../helpers/run_cli';
import { jsonLines, tmpDir, TINY_PRETRAIN } from './toy_run';

/** A real signal to a real process: what `docker stop`, Kubernetes and Slurm send. */
describe('reliability: SIGTERM to sslight pretrain (wasm, tiny MobileNetV2)', function () {
  this.timeout(120000);

  it('9. SIGTERM finishes the step, writes a checkpoint, logs run:end and exits 143', async () => {
    const dir = tmpDir('sigterm');
    const config = path.join(dir, 'tiny.yaml');
    fs.writeFileSync(config, TINY_PRETRAIN);
    const out = path.join(dir, 'run');
    const args = ['pretrain', '--config', config, '--out', out, '--backend', 'wasm', '--set', 'trainer.epochs=50', '--set', 'callbacks.checkpoint=false'];
    const { code, stderr } = await signalAfterFirstStep(args, out, 'SIGTERM');
    expect(code, stderr).to.equal(143);
    const evs = jsonLines(path.join(out, 'events.jsonl'));
    const end = evs.find((e) => e.type === 'run:end');
    expect(end?.reason).to.equal('interrupted');
    expect(evs.find((e) => e.type === 'checkpoint:saved')?.step).to.equal(end?.step);
  });
});
