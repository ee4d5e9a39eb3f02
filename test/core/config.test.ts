import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { expect } from 'chai';
import { z } from 'zod';
import { PluginRegistry } from '../../src/core/registry';
import { applySet, deepMerge, loadConfig, loadConfigFile, resolveConfig } from '../../src/core/config';
import { ConfigError } from '../../src/core/errors';

/** A registry with one fake plugin per kind, so config tests need no real plugin. */
function fakeRegistry(): PluginRegistry {
  const reg = new PluginRegistry();
  const none = () => ({}) as never;
  reg.register({ kind: 'dataset', name: 'fake', schema: z.object({ size: z.number().int().default(10) }).strict(), create: none });
  reg.register({ kind: 'views', name: 'sslight', schema: z.object({ n_local: z.number().int().default(6) }).strict(), create: none });
  reg.register({ kind: 'views', name: 'dino', schema: z.object({ n_local: z.number().int().default(6) }).strict(), create: none });
  reg.register({
    kind: 'method',
    name: 'dino',
    schema: z.object({ alpha: z.number().min(0).max(1).nullable().default(null), out_dim: z.number().int().default(4096) }).strict(),
    create: none,
  });
  reg.register({ kind: 'method', name: 'swav', schema: z.object({}).strict(), create: none });
  reg.register({ kind: 'backbone', name: 'mobilenetv2', schema: z.object({ width: z.number().default(1) }).strict(), create: none });
  reg.register({ kind: 'optimizer', name: 'lars', schema: z.object({ base_lr: z.number().default(0.48) }).strict(), create: none });
  reg.register({ kind: 'callback', name: 'progress', schema: z.object({ every_steps: z.number().default(10) }).strict(), create: none });
  reg.register({ kind: 'callback', name: 'jsonl', schema: z.object({}).strict(), create: none });
  return reg;
}

function write(dir: string, name: string, text: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
}

const BASE = `
data: {name: fake, size: 5}
views: {name: sslight}
method: {name: dino, out_dim: 256}
backbone: {name: mobilenetv2, width: 0.5}
optimizer: {name: lars}
trainer: {epochs: 2, batch_size: 8}
callbacks: {progress: {every_steps: 2}, jsonl: {}}
`;

describe('core/config', () => {
  const reg = fakeRegistry();
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-config-'));
  });

  it('merges extends chains, with the child winning and lists replaced', () => {
    write(dir, 'base.yaml', BASE);
    const child = write(dir, 'child.yaml', 'extends: base.yaml\nmethod: {alpha: 0.4}\ntrainer: {epochs: 5}\n');
    const doc = loadConfigFile(child);
    expect(doc.method).to.deep.equal({ name: 'dino', out_dim: 256, alpha: 0.4 });
    expect(doc.trainer).to.deep.equal({ epochs: 5, batch_size: 8 });
    expect(deepMerge({ a: [1, 2] }, { a: [3] })).to.deep.equal({ a: [3] });
  });

  it('applies --set with YAML-typed values and validates through the plugin schema', () => {
    const f = write(dir, 'c.yaml', BASE);
    const cfg = loadConfig(f, ['method.alpha=0.4', 'trainer.max_steps=7', 'views.name=dino', 'callbacks.progress.every_steps=1'], reg);
    expect(cfg.method).to.deep.equal({ name: 'dino', options: { alpha: 0.4, out_dim: 256 } });
    expect(cfg.views.name).to.equal('dino');
    expect(cfg.trainer.max_steps).to.equal(7);
    expect(cfg.trainer.seed).to.equal(0);
    expect(cfg.callbacks.map((c) => c.name)).to.deep.equal(['progress', 'jsonl']);
    expect(cfg.callbacks[0].options).to.deep.equal({ every_steps: 1 });
    expect(applySet({}, 'a.b=[0.3, 1.0]')).to.deep.equal({ a: { b: [0.3, 1.0] } });
    expect(applySet({}, 'a=true')).to.deep.equal({ a: true });
  });

  it('switching a plugin with name= picks the other schema', () => {
    const f = write(dir, 'c.yaml', BASE.replace('method: {name: dino, out_dim: 256}', 'method: {name: dino}'));
    expect(loadConfig(f, ['method.name=swav'], reg).method.name).to.equal('swav');
  });

  it('names the key path of an invalid value', () => {
    const f = write(dir, 'c.yaml', BASE);
    expect(() => loadConfig(f, ['method.alpha=1.5'], reg)).to.throw(ConfigError, /config key 'method.alpha'/);
    expect(() => loadConfig(f, ['trainer.batch_size=0'], reg)).to.throw(ConfigError, /config key 'trainer.batch_size'/);
    expect(() => loadConfig(f, ['backbone.widht=1'], reg)).to.throw(ConfigError, /'backbone.widht': unknown key/);
    expect(() => loadConfig(f, ['optimizer.name=adamw'], reg)).to.throw(ConfigError, /'optimizer.name': no optimizer plugin 'adamw' \(known: lars\)/);
    expect(() => resolveConfig({ ...loadConfigFile(f), extra: 1 }, reg)).to.throw(ConfigError, /'extra': unknown top-level section/);
    const { views: _v, ...noViews } = loadConfigFile(f);
    expect(() => resolveConfig(noViews, reg)).to.throw(ConfigError, /'views': missing section/);
  });

  it('turns callbacks off with false and reports a missing extends file and cycles', () => {
    const f = write(dir, 'c.yaml', BASE);
    expect(loadConfig(f, ['callbacks.jsonl=false'], reg).callbacks.map((c) => c.name)).to.deep.equal(['progress']);
    const bad = write(dir, 'bad.yaml', 'extends: nowhere.yaml\n');
    expect(() => loadConfigFile(bad)).to.throw(ConfigError, /nowhere\.yaml/);
    write(dir, 'a.yaml', 'extends: b.yaml\n');
    const b = write(dir, 'b.yaml', 'extends: a.yaml\n');
    expect(() => loadConfigFile(b)).to.throw(ConfigError, /cycle/);
    expect(() => applySet({}, 'novalue')).to.throw(ConfigError, /key\.path=value/);
  });
});
