import * as fs from 'fs';
import * as path from 'path';
import { spawn, type ChildProcess } from 'child_process';
import { expect } from 'chai';
import { repoRoot } from '../helpers/reference';

/**
 * The live dashboard end to end: a real (tiny) pre-training started through the CLI with
 * `--dashboard 0`, watched by Debian's headless Chromium through puppeteer-core. The page must
 * show the backend and config, and its step counter and loss curve must advance while the run
 * goes on. The screenshot is kept in runs/ci-dashboard/ (the run directory; a CI artifact).
 */
const CHROMIUM = [process.env.SSLIGHT_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find(
  (p): p is string => !!p && fs.existsSync(p),
);
const RUN_DIR = path.join(repoRoot, 'runs', 'ci-dashboard');

// The page functions below run in the browser; the test build has no DOM typings.
declare const document: {
  getElementById(id: string): { textContent: string | null } | null;
  querySelector(sel: string): { getAttribute(name: string): string | null } | null;
};

// Long enough (400 steps) that it is still running when the browser has seen what it needs;
// the test then stops it with SIGINT.
const CONFIG = `
data: {name: generated, num_images: 64, image_size: 32}
views: {name: sslight, global_crop_size: 16, local_crop_size: 8, n_local: 2}
method: {name: dino, out_dim: 64, hidden_dim: 32, bottleneck_dim: 16, alpha: 0.4, warmup_teacher_temp_epochs: 1}
backbone: {name: mobilenetv2, width: 0.25}
optimizer: {name: adamw, lr: 0.001, warmup_epochs: 1}
trainer: {epochs: 50, batch_size: 8, seed: 3}
callbacks:
  progress: {every_steps: 50}
  jsonl: {}
  tensorboard: {}
  checkpoint: {every_steps: 100000, keep: 1}
`;

function waitForUrl(child: ChildProcess, log: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      log.push(chunk.toString());
      const m = /dashboard at (http:\/\/\S+)/.exec(log.join(''));
      if (m) resolve(m[1]);
    };
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`pretrain exited (${code}) before the dashboard started:\n${log.join('')}`)));
  });
}

describe('cli: pretrain --dashboard in headless Chromium', function () {
  this.timeout(180000);
  let child: ChildProcess | null = null;

  before(function () {
    if (!CHROMIUM) {
      // .ci/run installs Debian's chromium; without it there is nothing to drive.
      console.log('      skipped: no chromium (/usr/bin/chromium, or set SSLIGHT_CHROMIUM=/path/to/chromium)');
      this.skip();
    }
  });
  after(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
  });

  it('shows config, backend, a live step counter and curves, and survives the run ending', async () => {
    // puppeteer-core drives an installed browser and never downloads one.
    const puppeteer = await import('puppeteer-core');
    fs.rmSync(RUN_DIR, { recursive: true, force: true });
    fs.mkdirSync(RUN_DIR, { recursive: true });
    const cfg = path.join(RUN_DIR, '..', 'ci-dashboard.yaml');
    fs.writeFileSync(cfg, CONFIG);
    const log: string[] = [];
    child = spawn(
      process.execPath,
      [path.join(repoRoot, 'bin', 'sslight.js'), 'pretrain', '--config', cfg, '--out', RUN_DIR, '--overwrite', '--backend', 'wasm', '--dashboard', '0'],
      { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const url = await waitForUrl(child, log);
    expect(url).to.match(/^http:\/\/127\.0\.0\.1:\d+\/$/);

    const browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    try {
      const page = await browser.newPage();
      await page.setViewport({ width: 1280, height: 900 });
      await page.goto(url, { waitUntil: 'domcontentloaded' });
      const stepOf = (): Promise<number> => page.$eval('#step', (el) => Number((el.textContent ?? '').split('/')[0]));
      const pointsOf = (): Promise<number> =>
        page.evaluate(() => Number(document.querySelector('.panel[data-metric="loss"] path.line')?.getAttribute('data-points') ?? 0));
      await page.waitForFunction(() => Number((document.getElementById('step')?.textContent ?? '').split('/')[0]) >= 2, { timeout: 90000 });
      const step1 = await stepOf();
      const points1 = await pointsOf();
      expect(points1).to.be.greaterThan(0);
      await page.waitForFunction(
        (s, p) =>
          Number((document.getElementById('step')?.textContent ?? '').split('/')[0]) >= s + 5 &&
          Number(document.querySelector('.panel[data-metric="loss"] path.line')?.getAttribute('data-points') ?? 0) >= p + 5,
        { timeout: 90000 },
        step1,
        points1,
      );
      const step2 = await stepOf();
      expect(step2).to.be.greaterThan(step1);
      expect(await pointsOf()).to.be.greaterThan(points1);
      expect(await page.$eval('#step', (el) => el.textContent)).to.match(/^\d+ \/ 400$/);
      expect(await page.$eval('#backend', (el) => el.textContent)).to.equal('wasm');
      expect(await page.$eval('#status', (el) => el.textContent)).to.equal('running');
      expect(await page.$eval('#config', (el) => el.textContent)).to.contain('"mobilenetv2"');
      expect(await page.$eval('#eta', (el) => el.textContent)).to.match(/^\d+(h|m|s)/);
      const metrics = await page.$$eval('.panel', (els) => els.map((e) => (e as unknown as { dataset: Record<string, string> }).dataset.metric));
      for (const m of ['loss', 'lr', 'images_per_s', 'ps_ratio', 'teacher_temp']) expect(metrics).to.include(m);
      // The loss curve is drawn from its points: a path with one segment per point after the first.
      const d = await page.$eval('.panel[data-metric="loss"] path.line', (el) => el.getAttribute('d') ?? '');
      expect(d.split('L').length).to.be.greaterThan(5);
      await page.waitForSelector('#images img', { timeout: 30000 });
      await page.screenshot({ path: path.join(RUN_DIR, 'dashboard.png'), fullPage: true });

      // Stop the run: Ctrl-C semantics (checkpoint, exit 130); the page sees the status change.
      const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
      child.kill('SIGINT');
      await page.waitForFunction(() => (document.getElementById('status')?.textContent ?? '').startsWith('interrupted'), { timeout: 60000 });
      expect(await exited).to.equal(130);
    } finally {
      await browser.close();
    }
    expect(fs.statSync(path.join(RUN_DIR, 'dashboard.png')).size).to.be.greaterThan(10000);
  });
});
