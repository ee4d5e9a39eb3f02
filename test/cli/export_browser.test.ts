import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import type { AddressInfo } from 'net';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { parseSafetensors } from '../../src/nn/safetensors';
import { runCli } from '../helpers/run_cli';
import { writeFakeRun } from '../helpers/fake_run';
import { relativeError } from '../helpers/relative_error';

/**
 * The tfjs export in a real browser: Debian's chromium (headless, driven by puppeteer-core; no
 * downloaded browser) loads model.json with `tf.loadLayersModel` from @tensorflow/tfjs's dist
 * bundle served from node_modules, runs the fixture images and matches `sslight embed`.
 */
const ROOT = path.join(__dirname, '../../..');
const IMAGES = path.join(ROOT, 'test/fixtures/weights/images.safetensors');
const CHROMIUM = [process.env.SSLIGHT_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => p && fs.existsSync(p));
const TFJS_BUNDLE = path.join(ROOT, 'node_modules/@tensorflow/tfjs/dist/tf.min.js');

const PAGE = '<!doctype html><html><head><script src="/tf.min.js"></script></head><body>sslight tfjs export</body></html>';

describe('cli: sslight export --format tfjs in headless Chromium', function () {
  this.timeout(120000);
  let dir: string;
  let server: http.Server | null = null;
  let browser: { close(): Promise<void>; newPage(): Promise<unknown> } | null = null;

  before(function () {
    const missing = !CHROMIUM ? 'no chromium at /usr/bin/chromium (apt-get install chromium, or set SSLIGHT_CHROMIUM)' : !fs.existsSync(TFJS_BUNDLE) ? 'the @tensorflow/tfjs devDependency is not installed' : null;
    if (missing) {
      process.stderr.write(`      (skipped: ${missing})\n`);
      this.skip();
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-browser-'));
  });
  after(async () => {
    await browser?.close();
    server?.close();
    await tf.setBackend('cpu');
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('tf.loadLayersModel in the page gives sslight\'s MobileNetV2 features to 1e-4', async () => {
    const run = writeFakeRun(path.join(dir, 'run'), { name: 'mobilenetv2', width: 0.35 });
    const emb = path.join(dir, 'embed.safetensors');
    let r = await runCli(['embed', '--backbone', 'mobilenetv2', '--set', 'backbone.width=0.35', '--weights', run, '--input', IMAGES, '--output', emb, '--backend', 'wasm']);
    expect(r.code, r.stderr).to.equal(0);
    const ours = parseSafetensors(fs.readFileSync(emb)).tensors.get('features')!.data as Float32Array;
    const model = path.join(dir, 'model');
    r = await runCli(['export', '--run', run, '--out', model, '--format', 'tfjs', '--backend', 'wasm']);
    expect(r.code, r.stderr).to.equal(0);

    server = http.createServer((req, res) => {
      const url = (req.url ?? '/').split('?')[0];
      const file = url === '/tf.min.js' ? TFJS_BUNDLE : url.startsWith('/model/') ? path.join(model, path.basename(url)) : null;
      if (url === '/') {
        res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
      } else if (file && fs.existsSync(file)) {
        res.writeHead(200, { 'content-type': file.endsWith('.js') ? 'text/javascript' : 'application/octet-stream' }).end(fs.readFileSync(file));
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;

    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const puppeteer = require('puppeteer-core') as typeof import('puppeteer-core');
    const b = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    browser = b;
    const page = await b.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`http://127.0.0.1:${port}/`, { waitUntil: 'load' });

    const img = parseSafetensors(fs.readFileSync(IMAGES)).tensors.get('images')!;
    const [n, c, h, w] = img.shape;
    const nhwc = tf.tidy(() => tf.transpose(tf.tensor4d(img.data as Float32Array, [n, c, h, w]), [0, 2, 3, 1]).dataSync());
    const got = await page.evaluate(
      async (data: number[], shape: number[]) => {
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        const tfb = (globalThis as any).tf;
        await tfb.setBackend('cpu'); // float32 everywhere (a GPU backend may compute in float16)
        const m = await tfb.loadLayersModel('/model/model.json');
        const y = m.predict(tfb.tensor4d(data, shape));
        return { backend: tfb.getBackend(), values: Array.from((await y.data()) as Float32Array) };
      },
      Array.from(nhwc),
      [n, h, w, c],
    );
    expect(errors).to.deep.equal([]);
    expect(got.backend).to.equal('cpu');
    const err = relativeError(Float32Array.from(got.values as number[]), ours);
    expect(err, `relative error ${err}`).to.be.below(1e-4);
  });
});
