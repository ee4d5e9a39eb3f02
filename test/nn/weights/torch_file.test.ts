import * as fs from 'fs';
import * as path from 'path';
import { expect } from 'chai';
import { readTorchFile, TorchFileError, TorchTensor } from '../../../src/nn/pth/torch_file';
import { PickleError, PyObject, unpickle } from '../../../src/nn/pth/pickle';
import { ZipReader } from '../../../src/nn/pth/zip';
import { halfToFloat } from '../../../src/nn/weights';

const FIX = path.join(__dirname, '../../../../test/fixtures/weights');
const checks = JSON.parse(fs.readFileSync(path.join(FIX, 'checks.json'), 'utf8')) as Record<string, Record<string, unknown>>;
const read = (f: string) => readTorchFile(fs.readFileSync(path.join(FIX, f)), f) as Map<string, unknown>;

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-7): void {
  expect(a.length).to.equal(b.length);
  for (let i = 0; i < a.length; i++) expect(a[i]).to.be.closeTo(b[i], tol);
}

describe('nn/pth: torch.save files read without Python', () => {
  it('reads a torchvision state dict: names, shapes, float32, int64, a transposed (strided) view', () => {
    const sd = read('mnv2_035.pth');
    const c = checks['mnv2_035.pth'];
    expect(sd.size).to.equal(314);
    const w = sd.get('features.0.0.weight') as TorchTensor;
    expect(w).to.be.instanceOf(TorchTensor);
    expect(w).to.include({ dtype: 'F32' });
    expect(w.shape).to.deep.equal([16, 3, 3, 3]);
    expect(Array.from(w.data as Float32Array).reduce((a, b) => a + b, 0)).to.be.closeTo(c['features.0.0.weight.sum'] as number, 1e-5);
    const cls = sd.get('classifier.1.weight') as TorchTensor;
    expect(c['classifier.1.weight.stride']).to.deep.equal([1, 10]); // stored column-major
    expect(cls.shape).to.deep.equal([10, 1280]);
    close(Array.from((cls.data as Float32Array).subarray(0, 4)), c['classifier.1.weight[0,:4]'] as number[]);
    const nbt = sd.get('features.1.conv.0.1.num_batches_tracked') as TorchTensor;
    expect(nbt.dtype).to.equal('I64');
    expect(nbt.shape).to.deep.equal([]);
    expect(Number((nbt.data as BigInt64Array)[0])).to.equal(c['features.1.conv.0.1.num_batches_tracked']);
  });

  it('reads float16 storages from a deflated archive', () => {
    const zip = new ZipReader(fs.readFileSync(path.join(FIX, 'resnet18_f16.pth')));
    expect([...zip.entries.values()].some((e) => e.method === 8)).to.equal(true);
    const sd = read('resnet18_f16.pth');
    const c = checks['resnet18_f16.pth'];
    const bn = sd.get('bn1.weight') as TorchTensor;
    expect(bn.dtype).to.equal('F16');
    close(Array.from((bn.data as Uint16Array).subarray(0, 4), halfToFloat), c['bn1.weight[:4]'] as number[], 0);
    const conv = sd.get('layer4.1.conv2.weight') as TorchTensor;
    expect(conv.shape).to.deep.equal([512, 512, 3, 3]);
    const abs = Array.from(conv.data as Uint16Array).reduce((s, h) => s + Math.abs(halfToFloat(h)), 0);
    expect(abs).to.be.closeTo(c['layer4.1.conv2.weight.abs.sum'] as number, 1e-3);
  });

  it('reads the SSLight release: views at offsets into one shared storage, and the CfgNode as an inert placeholder', () => {
    const root = read('sslight_dino_mnv2.pth.tar');
    const c = checks['sslight_dino_mnv2.pth.tar'];
    expect([...root.keys()]).to.deep.equal(['config', 'epoch', 'steps', 'optimizer', 'loss', 'state_dict']);
    expect(root.get('epoch')).to.equal(100);
    expect(root.get('loss')).to.equal(4.2137);
    const config = root.get('config') as PyObject;
    expect(config).to.be.instanceOf(PyObject);
    expect(config.cls).to.equal('fvcore.common.config.CfgNode');
    const model = config.items.get('MODEL') as PyObject;
    expect(model.items.get('BACKBONE_ARCH')).to.equal(c['config.MODEL.BACKBONE_ARCH']);
    const state = ((root.get('optimizer') as Map<string, unknown>).get('state') as Map<number, Map<string, TorchTensor>>);
    const bufs = [...state.values()].map((s) => s.get('momentum_buffer')!);
    close(Array.from((bufs[3].data as Float32Array).subarray(0, 4)), c['optimizer.state.3.momentum_buffer[:4]'] as number[]);
    let sum = 0;
    for (const b of bufs) for (const v of b.data as Float32Array) sum += v;
    expect(sum).to.be.closeTo(c['optimizer.momentum.sum'] as number, 1e-5);
    const sd = root.get('state_dict') as Map<string, TorchTensor>;
    expect(sd.get('module.student.backbone.encoder.0.0.weight')!.shape).to.deep.equal([8, 3, 3, 3]);
  });

  it('never executes a pickle: a reduce to os.system becomes a placeholder', () => {
    const marker = '/tmp/sslight-pickle-was-executed';
    fs.rmSync(marker, { force: true });
    const root = read('evil.pth');
    const payload = root.get('payload') as PyObject;
    expect(payload).to.be.instanceOf(PyObject);
    expect(payload.cls).to.match(/^(posix|os)\.system$/);
    expect(payload.args).to.deep.equal(['touch /tmp/sslight-pickle-was-executed']);
    expect(fs.existsSync(marker)).to.equal(false);
  });

  it('refuses malformed pickles and archives with a clear error', () => {
    // truncated pickle, inside an otherwise valid archive
    const pkl = unpickleBytes('mnv2_035.pth');
    expect(() => unpickle(pkl.subarray(0, pkl.length - 40), { persistentLoad: () => ({}) })).to.throw(PickleError, /malformed pickle at byte \d+: truncated|stack underflow|STOP/);
    // an opcode outside the supported subset (INST, which names and calls a class)
    expect(() => unpickle(Uint8Array.from(Buffer.from('\x80\x02(iposix\nsystem\n.', 'latin1')))).to.throw(PickleError, /unsupported opcode 0x69/);
    // REDUCE on something that is not a global
    expect(() => unpickle(Uint8Array.from(Buffer.from('\x80\x02K\x01)R.', 'latin1')))).to.throw(PickleError, /REDUCE on something that is not a global/);
    expect(() => unpickle(Uint8Array.from([0x80, 0x02, 0x68, 0x05, 0x2e]))).to.throw(PickleError, /memo key 5/);
    // not a zip; a legacy (pre-1.6) torch.save pickle; a zip cut short
    expect(() => readTorchFile(Buffer.from('hello world'), 'x.pth')).to.throw(TorchFileError, /x.pth: not a torch.save zip archive/);
    expect(() => readTorchFile(Uint8Array.from([0x80, 0x02, 0x8a, 0x0a]), 'old.pth')).to.throw(TorchFileError, /legacy/);
    const whole = fs.readFileSync(path.join(FIX, 'evil.pth'));
    expect(() => readTorchFile(whole.subarray(0, whole.length - 30), 'cut.pth')).to.throw(TorchFileError, /cut.pth: .*(end-of-central-directory|truncated)/);
  });

  it('inflates deflated entries and checks their size', () => {
    const bytes = Buffer.from(fs.readFileSync(path.join(FIX, 'resnet18_f16.pth')));
    const zip = new ZipReader(bytes);
    const entry = [...zip.entries.values()].find((e) => e.name.endsWith('data.pkl'))!;
    expect(entry.method).to.equal(8);
    const raw = zip.read(entry.name);
    expect(raw.length).to.equal(entry.size);
    expect(raw[0]).to.equal(0x80); // the pickle's PROTO opcode
    // corrupt the compressed bytes: a clear error, not garbage
    const start = entry.localHeaderOffset + 30 + bytes.readUInt16LE(entry.localHeaderOffset + 26) + bytes.readUInt16LE(entry.localHeaderOffset + 28);
    bytes.fill(0xff, start, start + 8);
    expect(() => new ZipReader(bytes).read(entry.name)).to.throw();
  });
});

function unpickleBytes(file: string): Uint8Array {
  const zip = new ZipReader(fs.readFileSync(path.join(FIX, file)));
  const name = [...zip.entries.keys()].find((n) => n.endsWith('data.pkl'))!;
  return zip.read(name);
}
