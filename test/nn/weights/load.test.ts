import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import '../../../plugins/backbones';
import { registry } from '../../../src/core/registry';
import { Rng } from '../../../src/core/rng';
import type { Module } from '../../../src/nn/module';
import { serializeSafetensors, type SafeTensor } from '../../../src/nn/safetensors';
import { moduleStateDict } from '../../../src/nn/state_dict';
import { loadWeightsInto, mapEncoder, selectSslightRelease, WeightsError } from '../../../src/nn/weights';
import { ConfigError } from '../../../src/core/errors';

const FIX = path.join(__dirname, '../../../../test/fixtures/weights');

function backbone(name: string, opts: Record<string, unknown> = {}, seed = 1): Module {
  const def = registry.get('backbone', name);
  return def.create(def.schema.parse(opts), { rng: new Rng(seed) }) as unknown as Module;
}

function sameState(a: Module, b: Module): void {
  const sa = moduleStateDict(a);
  const sb = moduleStateDict(b);
  expect([...sa.keys()]).to.deep.equal([...sb.keys()]);
  for (const [k, v] of sa) {
    const w = sb.get(k)!.data;
    expect(Buffer.compare(Buffer.from(v.data.buffer, v.data.byteOffset, v.data.byteLength), Buffer.from(w.buffer, w.byteOffset, w.byteLength)), k).to.equal(0);
  }
}

describe('nn/weights: finding a backbone in a weights file', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslight-weights-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('maps the SSLight ResNet encoder (children by index) onto torchvision names, by name', () => {
    const r18 = backbone('resnet18');
    const ours = moduleStateDict(r18);
    const idx: Record<string, string> = { conv1: '0', bn1: '1', layer1: '4', layer2: '5', layer3: '6', layer4: '7' };
    const sslight = new Map<string, SafeTensor>();
    for (const [k, v] of ours) {
      const [head, ...rest] = k.split('.');
      sslight.set(`encoder.${idx[head]}.${rest.join('.')}`, v);
    }
    // shuffled order: names, not positions, decide
    const shuffled = new Map([...sslight.entries()].reverse());
    const { entries, arch } = mapEncoder(shuffled);
    expect(arch).to.equal('ResNet');
    expect([...entries.keys()].sort()).to.deep.equal([...ours.keys()].sort());
    for (const [k, v] of entries) expect(v).to.equal(ours.get(k));
    r18.dispose();
  });

  it('the SSLight release with a ViT: DINO names directly under module.student.backbone.', () => {
    const vit = backbone('vit_tiny', { patch_size: 16, img_size: 32 });
    const ours = moduleStateDict(vit);
    const tensors = new Map<string, SafeTensor>();
    for (const [k, v] of ours) {
      tensors.set(`state_dict.module.student.backbone.${k}`, v);
      tensors.set(`state_dict.module.teacher.backbone.${k}`, v);
    }
    tensors.set('state_dict.module.student.head.mlp.0.weight', { dtype: 'F32', shape: [2, 192], data: new Float32Array(384) });
    const sel = selectSslightRelease(tensors)!;
    expect(sel.layout).to.equal('SSLight DINO release (module.student.backbone.*)');
    expect([...sel.entries.keys()]).to.deep.equal([...ours.keys()]);
    expect(sel.ignored).to.have.length(ours.size + 1);
    vit.dispose();
  });

  it('--weights-prefix picks a sub-tree (here the DINO teacher) and maps its encoder', () => {
    const student = backbone('mobilenetv2', { width: 0.1 });
    const teacher = backbone('mobilenetv2', { width: 0.1 }, 2);
    const file = path.join(FIX, 'sslight_dino_mnv2.pth.tar');
    expect(loadWeightsInto(student, file).layout).to.match(/SSLight DINO release \(module\.student\.backbone\.\*\), MobileNetV2 encoder/);
    const r = loadWeightsInto(teacher, file, { prefix: 'state_dict.module.teacher.backbone.' });
    expect(r.layout).to.match(/prefix 'state_dict.module.teacher.backbone.', SSLight MobileNetV2 encoder/);
    expect(r.loaded).to.equal(312);
    const s = moduleStateDict(student).get('features.0.0.weight')!.data as Float32Array;
    const t = moduleStateDict(teacher).get('features.0.0.weight')!.data as Float32Array;
    expect(Array.from(s)).to.not.deep.equal(Array.from(t));
    expect(() => loadWeightsInto(teacher, file, { prefix: 'state_dict.module.nothing.' })).to.throw(WeightsError, /no tensor name starts with 'state_dict.module.nothing.' \(tensors are under: .*state_dict\.module\.student/);
    student.dispose();
    teacher.dispose();
  });

  it('strict: unknown, missing and mis-shaped tensors are listed together; strict false loads the rest', () => {
    const src = backbone('mobilenetv2', { width: 0.25 }, 3);
    const sd = moduleStateDict(src);
    sd.delete('features.18.1.running_var');
    sd.set('features.99.weight', { dtype: 'F32', shape: [2], data: new Float32Array(2) });
    sd.set('features.0.1.weight', { dtype: 'F32', shape: [5], data: new Float32Array(5) });
    const file = path.join(dir, 'bad.safetensors');
    fs.writeFileSync(file, serializeSafetensors(sd));
    const dst = backbone('mobilenetv2', { width: 0.25 }, 4);
    const before = moduleStateDict(dst);
    expect(() => loadWeightsInto(dst, file)).to.throw(
      WeightsError,
      /missing features\.18\.1\.running_var; unexpected features\.99\.weight; mis-shaped features\.0\.1\.weight \(file \[5\] F32, backbone \[8\] float\)/,
    );
    // unchanged after a refused load
    expect(Array.from(moduleStateDict(dst).get('features.1.conv.0.0.weight')!.data as Float32Array)).to.deep.equal(
      Array.from(before.get('features.1.conv.0.0.weight')!.data as Float32Array),
    );
    const r = loadWeightsInto(dst, file, { strict: false });
    expect(r).to.deep.include({ missing: ['features.18.1.running_var'], unexpected: ['features.99.weight'] });
    expect(r.misshaped).to.have.length(1);
    const after = moduleStateDict(dst);
    expect(Array.from(after.get('features.1.conv.0.0.weight')!.data as Float32Array)).to.deep.equal(Array.from(sd.get('features.1.conv.0.0.weight')!.data as Float32Array));
    expect(Array.from(after.get('features.0.1.weight')!.data as Float32Array)).to.deep.equal(Array.from(before.get('features.0.1.weight')!.data as Float32Array));
    src.dispose();
    dst.dispose();
  });

  it('takes a run directory, a checkpoint directory, or the run\'s checkpoints/latest pointer', () => {
    const src = backbone('mobilenetv2', { width: 0.25 }, 7);
    const run = path.join(dir, 'run');
    const step = path.join(run, 'checkpoints', 'step_00000010');
    fs.mkdirSync(step, { recursive: true });
    fs.writeFileSync(path.join(step, 'model.safetensors'), serializeSafetensors(moduleStateDict(src, 'student.backbone.')));
    fs.writeFileSync(path.join(run, 'checkpoints', 'latest'), 'step_00000010\n');
    for (const target of [run, step, path.join(run, 'checkpoints', 'latest')]) {
      const dst = backbone('mobilenetv2', { width: 0.25 }, 8);
      loadWeightsInto(dst, target);
      sameState(dst, src);
      dst.dispose();
    }
    src.dispose();
  });

  it('recognises sslight checkpoints (student.backbone.*) and DDP module. prefixes, and ignores torchvision classifiers', () => {
    const src = backbone('mobilenetv2', { width: 0.25 }, 5);
    const plain = moduleStateDict(src);
    const write = (name: string, m: Map<string, SafeTensor>) => {
      fs.writeFileSync(path.join(dir, name), serializeSafetensors(m));
      return path.join(dir, name);
    };
    const withHead = new Map(plain);
    withHead.set('classifier.1.weight', { dtype: 'F32', shape: [10, 1280], data: new Float32Array(12800) });
    withHead.set('classifier.1.bias', { dtype: 'F32', shape: [10], data: new Float32Array(10) });
    const files = {
      'torchvision (classifier ignored)': write('tv.safetensors', withHead),
      'sslight checkpoint (student.backbone.*)': write('own.safetensors', moduleStateDict(src, 'student.backbone.')),
      'state dict, DDP module. prefix': write('ddp.safetensors', moduleStateDict(src, 'module.')),
    };
    for (const [what, file] of Object.entries(files)) {
      const dst = backbone('mobilenetv2', { width: 0.25 }, 6);
      const r = loadWeightsInto(dst, file);
      expect(r.layout, what).to.contain(what.replace(' (classifier ignored)', '').replace('torchvision', 'state dict'));
      sameState(dst, src);
      dst.dispose();
    }
    src.dispose();
  });

  it('refuses a file whose backbone tensors hold a NaN, naming the file and the tensor, and leaves the backbone untouched', () => {
    const src = backbone('mobilenetv2', { width: 0.25 }, 5);
    const sd = moduleStateDict(src);
    const [name, entry] = [...sd].find(([, t]) => t.dtype === 'F32' && t.data.length > 4)!;
    const poisoned = new Float32Array(entry.data as Float32Array);
    poisoned[3] = NaN;
    sd.set(name, { ...entry, data: poisoned });
    const file = path.join(dir, 'poisoned.safetensors');
    fs.writeFileSync(file, serializeSafetensors(sd));
    const dst = backbone('mobilenetv2', { width: 0.25 }, 6);
    const before = moduleStateDict(dst);
    expect(() => loadWeightsInto(dst, file)).to.throw(WeightsError, new RegExp(`poisoned\\.safetensors: tensor '${name.replace(/\./g, '\\.')}' holds 1 non-finite value \\(first: NaN at index 3\\)`));
    const after = moduleStateDict(dst);
    for (const [k, v] of before) expect(Array.from(after.get(k)!.data as Float32Array), k).to.deep.equal(Array.from(v.data as Float32Array));
    src.dispose();
    dst.dispose();
  });

  it('backbone.weights in a config initialises the plugin (and a bad file is a config error)', () => {
    const def = registry.get('backbone', 'mobilenetv2');
    const a = def.create(def.schema.parse({ width: 0.1, weights: path.join(FIX, 'sslight_swav_mnv2.pth.tar') }), { rng: new Rng(0) }) as unknown as Module;
    const b = backbone('mobilenetv2', { width: 0.1 }, 9);
    loadWeightsInto(b, path.join(FIX, 'sslight_swav_mnv2.pth.tar'));
    sameState(a, b);
    const before = tf.memory().numTensors;
    expect(() => def.create(def.schema.parse({ width: 0.35, weights: path.join(FIX, 'sslight_swav_mnv2.pth.tar') }), { rng: new Rng(0) })).to.throw(
      ConfigError,
      /config key 'backbone.weights': .*do not fit the backbone: .*mis-shaped features\.0\.0\.weight/,
    );
    expect(tf.memory().numTensors, 'a refused backbone is disposed').to.equal(before);
    expect(() => def.schema.parse({ weightz: 'x' })).to.throw(/weightz/);
    a.dispose();
    b.dispose();
  });
});
