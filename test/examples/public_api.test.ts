import * as fs from 'fs';
import * as path from 'path';
import { expect } from 'chai';
import { repoRoot } from '../helpers/reference';

/**
 * `require('sslight')` (package.json main) gives a plugin author every piece docs/plugins.md
 * names, and exporting plugin pieces from the package entry did not make src/core import them.
 */
describe('public API (require("sslight"))', () => {
  it('exports what method, backbone, sampler and callback authors use', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { name: string; main: string };
    expect(pkg.name).to.equal('sslight');
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const api = require(path.join(repoRoot, pkg.main)) as Record<string, unknown>;
    const names = [
      // registration and core
      'registerPlugin', 'z', 'tf', 'registry', 'ConfigError', 'Rng', 'EventBus', 'ofType',
      // networks
      'Module', 'Linear', 'Conv2d', 'BatchNorm1d', 'BatchNorm2d', 'LayerNorm', 'Sequential', 'buildMlp',
      'relu', 'gelu', 'globalAvgPool', 'truncNormal', 'noGrad',
      // methods
      'MethodBase', 'MultiCropNetwork', 'networkMaker', 'EmaUpdater', 'emaTarget', 'pairWeights', 'weightedPairLoss',
      'pairBlockMeans', 'l2Normalize', 'stopGradient', 'koleoLoss', 'CosineSchedule', 'cosineScheduleAt', 'teacherTempAt',
      // view samplers
      'sampleCropBox', 'resizedCrop', 'pixelScale', 'flipHorizontal', 'normalize', 'applyColorJitter',
    ];
    const missing = names.filter((n) => api[n] === undefined);
    expect(missing, `missing exports: ${missing.join(', ')}`).to.deep.equal([]);
    expect(typeof (api.tf as { tensor: unknown }).tensor).to.equal('function');
  });

  it('src/core imports neither plugins/ nor data/ (the package entry is src/index.ts, outside the core)', () => {
    const dir = path.join(repoRoot, 'src', 'core');
    const bad: string[] = [];
    for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
      const src = fs.readFileSync(path.join(dir, f), 'utf8');
      for (const m of src.matchAll(/from '([^']+)'|require\('([^']+)'\)/g)) {
        const spec = m[1] ?? m[2];
        if (/(^|\/)(plugins|data)\//.test(spec) || /\.\.\/index$/.test(spec)) bad.push(`${f}: ${spec}`);
      }
    }
    expect(bad).to.deep.equal([]);
  });
});
