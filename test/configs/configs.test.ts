import * as fs from 'fs';
import * as path from 'path';
import { expect } from 'chai';
import { loadConfig } from '../../src/core/config';
import { registry } from '../../src/core/registry';
import '../../src/run/builtins';
import { repoRoot } from '../helpers/reference';

/** Every shipped config must validate against the built-in plugins' schemas (grids: test/experiment). */
function yamlFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory() && p === path.join(repoRoot, 'configs', 'experiments')) return [];
    return e.isDirectory() ? yamlFiles(p) : /\.ya?ml$/.test(e.name) ? [p] : [];
  });
}

describe('configs/', () => {
  const files = yamlFiles(path.join(repoRoot, 'configs'));

  it('holds the configs the issues name', () => {
    const rel = files.map((f) => path.relative(path.join(repoRoot, 'configs'), f));
    for (const want of ['quickstart.yaml', 'dino_mobilenetv2.yaml', 'sslight_dino_mobilenetv2.yaml', 'bench/dino_mobilenetv2_64.yaml']) {
      expect(rel).to.include(want);
    }
  });

  // configs/detection/ holds detection configs (another schema): test/configs/detection_configs.test.ts.
  for (const file of yamlFiles(path.join(repoRoot, 'configs')).filter((f) => !f.startsWith(path.join(repoRoot, 'configs', 'detection') + path.sep))) {
    it(`${path.relative(repoRoot, file)} validates`, () => {
      const cfg = loadConfig(file);
      for (const section of ['data', 'views', 'method', 'backbone', 'optimizer'] as const) {
        expect(registry.has(section === 'data' ? 'dataset' : section, cfg[section].name)).to.equal(true);
      }
    });
  }

  it('the two paper settings differ exactly in the SSLight knobs', () => {
    const base = loadConfig(path.join(repoRoot, 'configs', 'dino_mobilenetv2.yaml'));
    const ours = loadConfig(path.join(repoRoot, 'configs', 'sslight_dino_mobilenetv2.yaml'));
    const bv = base.views.options as Record<string, unknown>;
    const ov = ours.views.options as Record<string, unknown>;
    expect([bv.global_crop_scale, bv.local_crop_scale, bv.global_crop_size, bv.local_crop_size, bv.n_local]).to.deep.equal([[0.14, 1], [0.05, 0.14], 224, 96, 6]);
    expect([ov.global_crop_scale, ov.local_crop_scale, ov.global_crop_size, ov.local_crop_size, ov.n_local]).to.deep.equal([[0.3, 1], [0.05, 0.3], 224, 128, 6]);
    expect(base.method.options.alpha).to.equal(null);
    expect(ours.method.options.alpha).to.equal(0.4);
    expect(ours.backbone).to.deep.equal(base.backbone);
    expect(ours.optimizer).to.deep.equal(base.optimizer);
    expect(ours.trainer).to.deep.equal(base.trainer);
  });
  // A `views: {name: dino}` in a file that extends an sslight-views one replaces the whole section
  // (so 224 px crops came back once): every CIFAR-10 pair must differ in the four knobs only.
  const pairs = ['dino', 'mocov2', 'swav'].flatMap((m) => ['mobilenetv2', 'resnet18'].map((b) => [m, b]));
  pairs.push(['dino', 'mobilenetv2_small'], ['mocov2', 'mobilenetv2_small'], ['swav', 'mobilenetv2_small']);
  for (const [method, backbone] of pairs) {
    it(`configs/cifar10: ${method}_${backbone} and ${method}_sslight_${backbone} differ in the views (and alpha) only`, () => {
      const dir = path.join(repoRoot, 'configs', 'cifar10');
      const dino = loadConfig(path.join(dir, `${method}_${backbone}.yaml`));
      const ours = loadConfig(path.join(dir, `${method}_sslight_${backbone}.yaml`));
      const dv = dino.views.options as Record<string, unknown>;
      const ov = ours.views.options as Record<string, unknown>;
      expect([dino.views.name, dv.global_crop_size, dv.local_crop_size, dv.global_crop_scale, dv.local_crop_scale]).to.deep.equal(['dino', 32, 14, [0.14, 1], [0.05, 0.14]]);
      expect([ours.views.name, ov.global_crop_size, ov.local_crop_size, ov.global_crop_scale, ov.local_crop_scale]).to.deep.equal(['sslight', 32, 18, [0.3, 1], [0.05, 0.3]]);
      const rest = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([k]) => !/crop_(size|scale)$/.test(k)));
      expect(rest(dv)).to.deep.equal(rest(ov));
      expect([dino.method.options.alpha, ours.method.options.alpha]).to.deep.equal([null, 0.4]);
      expect({ ...dino.method.options, alpha: 0.4 }).to.deep.equal(ours.method.options);
      for (const k of ['data', 'backbone', 'optimizer', 'trainer'] as const) expect(dino[k], k).to.deep.equal(ours[k]);
    });
  }
});
