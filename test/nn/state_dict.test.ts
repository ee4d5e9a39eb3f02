import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { Rng } from '../../src/core/rng';
import { Module } from '../../src/nn/module';
import { Conv2d } from '../../src/nn/conv2d';
import { Linear } from '../../src/nn/linear';
import { BatchNorm2d } from '../../src/nn/batchnorm';
import { parseSafetensors, serializeSafetensors } from '../../src/nn/safetensors';
import { loadModuleStateDict, moduleStateDict } from '../../src/nn/state_dict';
import { permute } from '../../src/nn/layout';

class Tiny extends Module {
  readonly conv: Conv2d;
  readonly dw: Conv2d;
  readonly bn: BatchNorm2d;
  readonly fc: Linear;
  constructor(rng: Rng) {
    super();
    this.conv = this.addModule('conv', new Conv2d(2, 3, 3, rng, { padding: 1 }));
    this.dw = this.addModule('dw', new Conv2d(3, 3, 3, rng, { groups: 3, padding: 1 }));
    this.bn = this.addModule('bn', new BatchNorm2d(3));
    this.fc = this.addModule('fc', new Linear(3, 4, rng));
  }
}

describe('nn/state_dict', () => {
  it('permute follows numpy.transpose', () => {
    // [2, 3] -> [3, 2]
    expect(Array.from(permute(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3], [1, 0], (n) => new Float32Array(n)))).to.deep.equal([
      1, 4, 2, 5, 3, 6,
    ]);
  });

  it('names entries like torch and converts to PyTorch layouts', () => {
    const m = new Tiny(new Rng(1));
    const sd = moduleStateDict(m, 'backbone.');
    expect([...sd.keys()]).to.deep.equal([
      'backbone.conv.weight',
      'backbone.dw.weight',
      'backbone.bn.weight',
      'backbone.bn.bias',
      'backbone.fc.weight',
      'backbone.fc.bias',
      'backbone.bn.running_mean',
      'backbone.bn.running_var',
      'backbone.bn.num_batches_tracked',
    ]);
    expect(sd.get('backbone.conv.weight')!.shape).to.deep.equal([3, 2, 3, 3]);
    expect(sd.get('backbone.dw.weight')!.shape).to.deep.equal([3, 1, 3, 3]);
    expect(sd.get('backbone.fc.weight')!.shape).to.deep.equal([4, 3]);
    const nbt = sd.get('backbone.bn.num_batches_tracked')!;
    expect(nbt.dtype).to.equal('I64');
    expect(nbt.shape).to.deep.equal([]);
    // element mapping: OIHW[o, i, h, w] == HWIO[h, w, i, o]
    const hwio = m.conv.weight.arraySync() as number[][][][];
    const oihw = sd.get('backbone.conv.weight')!.data as Float32Array;
    const at = (o: number, i: number, h: number, w: number) => oihw[((o * 2 + i) * 3 + h) * 3 + w];
    expect(at(2, 1, 0, 2)).to.equal(hwio[0][2][1][2]);
    expect(at(1, 0, 2, 1)).to.equal(hwio[2][1][0][1]);
    // depth-wise [C, 1, kh, kw][c, 0, h, w] == [kh, kw, C, 1][h, w, c, 0]
    const dwOurs = m.dw.weight.arraySync() as number[][][][];
    const dwT = sd.get('backbone.dw.weight')!.data as Float32Array;
    expect(dwT[(2 * 3 + 1) * 3 + 0]).to.equal(dwOurs[1][0][2][0]);
    // linear [out, in][o, i] == [in, out][i, o]
    const lin = m.fc.weight.arraySync() as number[][];
    expect((sd.get('backbone.fc.weight')!.data as Float32Array)[3 * 3 + 1]).to.equal(lin[1][3]);
    m.dispose();
  });

  it('round-trips through safetensors bytes into a differently initialised module', () => {
    const a = new Tiny(new Rng(1));
    a.bn.forward(tf.randomNormal([2, 4, 4, 3]) as tf.Tensor4D); // non-trivial running stats and counter
    const b = new Tiny(new Rng(2));
    const bytes = serializeSafetensors(moduleStateDict(a));
    const res = loadModuleStateDict(b, parseSafetensors(bytes).tensors);
    expect(res).to.deep.equal({ missing: [], unexpected: [] });
    const sa = a.stateTensors();
    for (const [name, { tensor }] of b.stateTensors()) {
      expect(Array.from(tensor.dataSync()), name).to.deep.equal(Array.from(sa.get(name)!.tensor.dataSync()));
      expect(tensor.dtype, name).to.equal(sa.get(name)!.tensor.dtype);
    }
    expect(b.bn.numBatchesTracked.dataSync()[0]).to.equal(1);
    a.dispose();
    b.dispose();
  });

  it('names missing and unexpected keys when strict, and returns them otherwise', () => {
    const m = new Tiny(new Rng(1));
    const sd = moduleStateDict(m);
    sd.delete('bn.running_var');
    sd.set('head.weight', { dtype: 'F32', shape: [1], data: new Float32Array(1) });
    expect(() => loadModuleStateDict(m, sd)).to.throw(/missing keys: bn\.running_var; unexpected keys: head\.weight/);
    expect(loadModuleStateDict(m, sd, { strict: false })).to.deep.equal({ missing: ['bn.running_var'], unexpected: ['head.weight'] });
    m.dispose();
  });

  it('rejects a shape mismatch naming the key and both shapes, leaving the module unchanged', () => {
    const m = new Tiny(new Rng(1));
    const before = Array.from(m.conv.weight.dataSync());
    const sd = moduleStateDict(new Tiny(new Rng(9)));
    sd.set('fc.weight', { dtype: 'F32', shape: [3, 4], data: new Float32Array(12) });
    expect(() => loadModuleStateDict(m, sd)).to.throw(/'fc\.weight' has shape \[3,4\], the module expects \[4,3\]/);
    expect(Array.from(m.conv.weight.dataSync())).to.deep.equal(before);
    m.dispose();
  });

  it('loads under a prefix, ignoring entries of other networks', () => {
    const src = new Tiny(new Rng(3));
    const dst = new Tiny(new Rng(4));
    const sd = new Map([...moduleStateDict(src, 'teacher.'), ...moduleStateDict(new Tiny(new Rng(5)), 'student.')]);
    expect(loadModuleStateDict(dst, sd, { prefix: 'teacher.' })).to.deep.equal({ missing: [], unexpected: [] });
    expect(Array.from(dst.fc.weight.dataSync())).to.deep.equal(Array.from(src.fc.weight.dataSync()));
    src.dispose();
    dst.dispose();
  });
});
