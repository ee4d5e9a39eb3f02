import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { expect } from 'chai';
import sharp from 'sharp';
import { main } from '../../src/cli/main';
import { repoRoot } from '../helpers/reference';

async function capture(args: string[]): Promise<string> {
  const lines: string[] = [];
  const orig = console.log;
  console.log = (...a: unknown[]) => void lines.push(a.join(' '));
  try {
    process.exitCode = 0;
    await main(args);
  } finally {
    console.log = orig;
  }
  expect(Number(process.exitCode ?? 0)).to.equal(0);
  return lines.join('\n');
}

describe('cli: sslight views', () => {
  it('reports mean PS_g/PS_l (eq. 1) and the balancing local size: ~1 for sslight 224/128, ~1.39 for dino 224/96', async () => {
    // reference/multicrop.json (W=500, H=375): mean_of_ratio 1.064 (sslight) and 1.39 (dino).
    const ours = await capture(['views', '--config', path.join(repoRoot, 'configs', 'sslight_dino_mobilenetv2.yaml'), '--image-size', '500x375', '--draws', '20000']);
    const base = await capture(['views', '--config', path.join(repoRoot, 'configs', 'dino_mobilenetv2.yaml'), '--image-size', '500x375', '--draws', '20000']);
    const ratio = (s: string) => Number(/mean PS_g\/PS_l = ([\d.]+)/.exec(s)?.[1]);
    expect(ratio(ours)).to.be.closeTo(1.064, 0.03);
    expect(ratio(base)).to.be.closeTo(1.39, 0.04);
    expect(base).to.match(/local crop size for mean PS_g\/PS_l = 1: 1[01]\d\.\d \(now 96\)/);
  });

  it('writes a montage PNG of the views of the first images', async () => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-views-')), 'views.png');
    await capture(['views', '--config', path.join(repoRoot, 'configs', 'quickstart.yaml'), '--montage', out, '--images', '2', '--draws', '1000']);
    const meta = await sharp(out).metadata();
    // 2 x 32 + 4 x 18 px tiles with 2 px gaps in a row; 2 rows of 32 px with a 2 px gap.
    expect([meta.width, meta.height]).to.deep.equal([2 * 32 + 4 * 18 + 5 * 2, 2 * 32 + 2]);
  });
});
