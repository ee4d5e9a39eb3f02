import * as fs from 'fs';
import * as path from 'path';
import { expect } from 'chai';
import YAML from 'yaml';
import * as tf from '@tensorflow/tfjs-core';
import { main } from '../../src/cli/main';
import { loadConfigFile } from '../../src/core/config';
import { ConfigError } from '../../src/core/errors';
import { requestStop } from '../../src/core/signals';
import { ImageFolderDataset, imageFolderSchema } from '../../data/datasets/image_folder';
import { FaultyFs } from '../helpers/faulty_fs';
import { loadData } from '../detection/coco/fixtures';
import { ckptName, jsonLines, tmpDir, TINY_PRETRAIN } from './toy_run';


interface CliResult {
  code: number;
  stderr: string;
}

async function cli(args: string[]): Promise<CliResult> {
  let stderr = '';
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += chunk.toString();
    return true;
  }) as typeof process.stderr.write;
  process.exitCode = 0;
  try {
    await main(args);
  } finally {
    process.stderr.write = write;
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { code, stderr };
}

describe('reliability: sslight pretrain through the CLI (wasm, tiny MobileNetV2)', function () {
  this.timeout(120000);
  let dir: string;
  let config: string;
  let faults: FaultyFs | null = null;

  before(() => {
    dir = tmpDir('cli');
    config = path.join(dir, 'tiny.yaml');
    fs.writeFileSync(config, TINY_PRETRAIN);
  });
  afterEach(() => {
    faults?.restore();
    faults = null;
  });
  after(async () => {
    await tf.setBackend('cpu');
  });

  const base = (out: string, ...more: string[]) => ['pretrain', '--config', config, '--out', out, '--backend', 'wasm', ...more];

  it('2. a resume with a larger batch size is refused (exit 2) and changes nothing', async () => {
    const out = path.join(dir, 'bs');
    expect((await cli(base(out, '--max-steps', '3'))).code).to.equal(0); // at batch 16 an epoch has 3 steps
    const before = fs.readFileSync(path.join(out, 'config.yaml'), 'utf8');
    const r = await cli(['pretrain', '--resume', out, '--backend', 'wasm', '--set', 'trainer.batch_size=16']);
    expect(r.code, r.stderr).to.equal(2);
    expect(r.stderr).to.contain('trainer.batch_size 8, the config says 16');
    expect(fs.readFileSync(path.join(out, 'config.yaml'), 'utf8')).to.equal(before);
  });

  it('3. a refused resume leaves config.yaml alone and says what differs; accepted edits are listed', async () => {
    const out = path.join(dir, 'arch');
    expect((await cli(base(out, '--max-steps', '2'))).code).to.equal(0);
    const before = fs.readFileSync(path.join(out, 'config.yaml'), 'utf8');
    const bad = await cli(['pretrain', '--resume', out, '--backend', 'wasm', '--set', 'backbone={name: resnet18}']);
    expect(bad.code, bad.stderr).to.equal(2);
    expect(bad.stderr).to.contain('the checkpoint has backbone mobilenetv2 (width 0.25), the config says resnet18');
    expect(fs.readFileSync(path.join(out, 'config.yaml'), 'utf8')).to.equal(before);
    // A method option that changes a tensor's shape: refused from the checkpoint's own tensors.
    const shape = await cli(['pretrain', '--resume', out, '--backend', 'wasm', '--set', 'method.out_dim=64']);
    expect(shape.code, shape.stderr).to.equal(2);
    expect(shape.stderr).to.match(/model\.safetensors \(student\.\*\): .*shape/);
    expect(fs.readFileSync(path.join(out, 'config.yaml'), 'utf8')).to.equal(before);
    const ok = await cli(['pretrain', '--resume', out, '--backend', 'wasm', '--set', 'optimizer.lr=0.1', '--max-steps', '3']);
    expect(ok.code, ok.stderr).to.equal(0);
    expect(ok.stderr).to.contain('optimizer.lr 0.3 -> 0.1');
    const log = jsonLines(path.join(out, 'events.jsonl')).find((e) => e.type === 'log');
    expect(log?.message).to.contain('optimizer.lr 0.3 -> 0.1');
    expect((YAML.parse(fs.readFileSync(path.join(out, 'config.yaml'), 'utf8')) as { optimizer: { lr: number } }).optimizer.lr).to.equal(0.1);
  });

  it('4/5. a dangling or corrupt latest falls back with a warning; --overwrite still works; bad files exit 2', async () => {
    const out = path.join(dir, 'dangling');
    const every1 = ['--set', 'callbacks.checkpoint.every_steps=1'];
    expect((await cli(base(out, '--max-steps', '2', ...every1))).code).to.equal(0);
    const ckpts = path.join(out, 'checkpoints');
    // A crash of an older version between removing step_2 and renaming its replacement in.
    fs.rmSync(path.join(ckpts, ckptName(2)), { recursive: true });
    const r = await cli(['pretrain', '--resume', out, '--backend', 'wasm', '--max-steps', '3']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.contain(`checkpoints/latest points to ${path.join(ckpts, ckptName(2))}`).and.contain(`resuming from ${path.join(ckpts, ckptName(1))}`);
    // state.json with a nonsense step: named, exit 2, and the sound checkpoint to use instead.
    const st = path.join(ckpts, ckptName(3), 'state.json');
    fs.writeFileSync(st, fs.readFileSync(st, 'utf8').replace(/"step": 3/, '"step": "banana"'));
    const bad = await cli(['pretrain', '--resume', path.join(ckpts, ckptName(3)), '--backend', 'wasm']);
    expect(bad.code, bad.stderr).to.equal(2);
    expect(bad.stderr).to.contain(`${st} is invalid: 'step'`).and.contain(`--resume ${path.join(ckpts, ckptName(2))}`);
    fs.rmSync(path.join(ckpts, ckptName(3)), { recursive: true });
    const fresh = await cli(base(out, '--max-steps', '1', '--overwrite'));
    expect(fresh.code, fresh.stderr).to.equal(0);
    expect(fs.readdirSync(ckpts).filter((n) => n.startsWith('step_'))).to.deep.equal([ckptName(1)]);
  });

  it('6. disk full on events.jsonl: run:error, one line naming the file, exit 1, checkpoint intact', async () => {
    const out = path.join(dir, 'full-disk');
    // The 5th line (run:start, epoch:start, step 1, step 2, checkpoint 2, step 3 ...): after the step-2 checkpoint.
    faults = new FaultyFs([{ op: 'writeSync', match: /events\.jsonl$/, nth: 6, fail: 'ENOSPC', partial: true }]).install();
    const r = await cli(base(out));
    faults.restore();
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stderr).to.contain(`sslight: cannot write ${path.join(out, 'events.jsonl')}: no space left on device (ENOSPC)\n`);
    expect(r.stderr).not.to.match(/^\s+at /m);
    expect(fs.readFileSync(path.join(out, 'events.jsonl'), 'utf8').endsWith('\n')).to.equal(true);
    expect(jsonLines(path.join(out, 'events.jsonl'))).to.have.length(5);
    expect(fs.readFileSync(path.join(out, 'checkpoints', 'latest'), 'utf8').trim()).to.equal(ckptName(2));
  });

  it('7. an impossible or unwritable --out is refused at once with one line, exit 2', async function () {
    if (fs.existsSync('/proc/self')) {
      const t0 = Date.now();
      const r = await cli(base('/proc/foo'));
      expect(r.code, r.stderr).to.equal(2);
      expect(r.stderr).to.match(/\nsslight: --out \/proc\/foo: cannot create \/proc\/foo: [^\n]*\n$/);
      expect(Date.now() - t0).to.be.lessThan(30000);
    }
    const out = path.join(dir, 'readonly', 'run');
    faults = new FaultyFs([{ op: 'mkdirSync', match: /readonly$/, fail: 'EACCES' }]).install();
    const r = await cli(base(out));
    expect(r.code, r.stderr).to.equal(2);
    expect(r.stderr).to.contain(`cannot create ${path.dirname(out)}: permission denied (EACCES)`);
    expect(r.stderr.trim().split('\n').pop()).not.to.match(/^\s+at /);
  });

  it('8. --max-steps must be a positive integer (exit 2, nothing written)', async () => {
    for (const v of ['0', 'abc', '-1', '2.5']) {
      const out = path.join(dir, `max-${v}`);
      const r = await cli(base(out, `--max-steps=${v}`));
      expect(r.code, `--max-steps ${v}: ${r.stderr}`).to.equal(2);
      expect(r.stderr).to.contain(`--max-steps must be a positive integer, got '${v}'`);
      expect(fs.existsSync(out)).to.equal(false);
    }
  });

  it('9. a stop signal during set-up exits 143 before anything is written', async () => {
    const out = path.join(dir, 'setup-term');
    requestStop('SIGTERM');
    const r = await cli(base(out));
    expect(r.code, r.stderr).to.equal(143);
    expect(r.stderr).to.contain('stopped by SIGTERM');
    expect(fs.existsSync(out)).to.equal(false);
  });

  it('10. a config error found while building the run leaves no run folder', async () => {
    const out = path.join(dir, 'stray');
    const r = await cli(base(out, '--set', `data={name: image_folder, root: ${path.join(dir, 'no-such-folder')}}`));
    expect(r.code, r.stderr).to.equal(2);
    expect(r.stderr).to.contain('data.root');
    expect(fs.existsSync(out)).to.equal(false);
  });

  it('10. a child config can switch data.name through extends', () => {
    const parent = path.join(dir, 'parent.yaml');
    const child = path.join(dir, 'child.yaml');
    fs.writeFileSync(parent, TINY_PRETRAIN);
    fs.writeFileSync(child, `extends: parent.yaml\ndata: {name: image_folder, root: /data/images}\n`);
    expect(loadConfigFile(child).data).to.deep.equal({ name: 'image_folder', root: '/data/images' });
    // Same plugin: options still merge key by key.
    fs.writeFileSync(child, `extends: parent.yaml\ndata: {num_images: 16}\n`);
    expect(loadConfigFile(child).data).to.deep.equal({ name: 'generated', num_images: 16, image_size: 32 });
  });

  it('10. an empty class folder is flagged when the dataset is opened', () => {
    const root = path.join(dir, 'classes');
    fs.mkdirSync(path.join(root, 'cat'), { recursive: true });
    fs.mkdirSync(path.join(root, 'dog'), { recursive: true });
    fs.writeFileSync(path.join(root, 'cat', 'a.png'), 'x');
    expect(() => new ImageFolderDataset(imageFolderSchema.parse({ root }), 'train')).to.throw(ConfigError, /'.*dog' holds no images/);
  });

  it('10. coco-eval --json to an unwritable path: one line, exit 2', async () => {
    const data = loadData('bbox_a');
    const gt = path.join(dir, 'gt.json');
    const dt = path.join(dir, 'dt.json');
    fs.writeFileSync(gt, JSON.stringify(data.gt));
    fs.writeFileSync(dt, JSON.stringify(data.results));
    const json = path.join(dir, 'no-such-dir', 'stats.json');
    const log = console.log;
    console.log = () => undefined;
    let r: CliResult;
    try {
      r = await cli(['coco-eval', '--gt', gt, '--dt', dt, '--iou-type', 'bbox', '--json', json]);
    } finally {
      console.log = log;
    }
    expect(r.code, r.stderr).to.equal(2);
    // Progress lines may precede it; the error itself is one line and no stack.
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('sslight:'));
    expect(errors).to.deep.equal([`sslight: cannot open ${json}: no such file or directory (ENOENT)`]);
    expect(r.stderr).to.not.match(/\n\s+at /);
  });
});
