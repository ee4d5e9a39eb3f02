import { expect } from 'chai';
import { parseSafetensors, serializeSafetensors, SafeTensor } from '../../src/nn/safetensors';

describe('nn/safetensors', () => {
  const tensors = new Map<string, SafeTensor>([
    ['z.weight', { dtype: 'F32', shape: [2, 3], data: new Float32Array([1, -2, 3.5, 4, 5, 6e-8]) }],
    ['a.num_batches_tracked', { dtype: 'I64', shape: [], data: new BigInt64Array([7n]) }],
    ['m.bias', { dtype: 'F32', shape: [3], data: new Float32Array([0.25, 0.5, -1]) }],
    ['b.mask', { dtype: 'U8', shape: [5], data: new Uint8Array([1, 0, 1, 1, 0]) }],
  ]);

  it('round-trips tensors and metadata', () => {
    const buf = serializeSafetensors(tensors, { format: 'pt', step: '12' });
    const back = parseSafetensors(buf);
    expect(back.metadata).to.deep.equal({ format: 'pt', step: '12' });
    expect([...back.tensors.keys()].sort()).to.deep.equal([...tensors.keys()].sort());
    for (const [k, t] of tensors) {
      const b = back.tensors.get(k)!;
      expect(b.dtype, k).to.equal(t.dtype);
      expect(b.shape, k).to.deep.equal(t.shape);
      expect(b.data.constructor, k).to.equal(t.data.constructor);
      expect(Array.from(b.data as ArrayLike<number>), k).to.deep.equal(Array.from(t.data as ArrayLike<number>));
    }
  });

  it('lays out the file as the format requires: u64 LE header size, padded JSON, sorted contiguous data', () => {
    const buf = serializeSafetensors(tensors, { format: 'pt' });
    const n = Number(buf.readBigUInt64LE(0));
    expect(n % 8).to.equal(0);
    expect(buf.length).to.equal(8 + n + 24 + 8 + 12 + 5);
    const text = buf.subarray(8, 8 + n).toString('utf8');
    expect(text.trimEnd().length).to.be.at.least(n - 7);
    expect(text.slice(text.trimEnd().length)).to.match(/^ *$/);
    const header = JSON.parse(text);
    expect(header.__metadata__).to.deep.equal({ format: 'pt' });
    // keys in sorted order, offsets contiguous from 0 in that order
    const names = Object.keys(header).filter((k) => k !== '__metadata__');
    expect(names).to.deep.equal(['a.num_batches_tracked', 'b.mask', 'm.bias', 'z.weight']);
    expect(header['a.num_batches_tracked']).to.deep.equal({ dtype: 'I64', shape: [], data_offsets: [0, 8] });
    expect(header['b.mask'].data_offsets).to.deep.equal([8, 13]);
    expect(header['m.bias'].data_offsets).to.deep.equal([13, 25]);
    expect(header['z.weight']).to.deep.equal({ dtype: 'F32', shape: [2, 3], data_offsets: [25, 49] });
    // raw little-endian values
    const data = 8 + n;
    expect(buf.readBigInt64LE(data)).to.equal(7n);
    expect(buf.readFloatLE(data + 13)).to.equal(0.25);
    expect(buf.readFloatLE(data + 25 + 8)).to.equal(3.5);
  });

  it('reads a file written byte by byte as PyTorch safetensors writes it', () => {
    // safetensors.torch.save_file({"w": torch.tensor([1.0, 2.0])}) -> this header, padded to 8
    const json = '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
    const padded = json + ' '.repeat((8 - (json.length % 8)) % 8);
    const head = Buffer.alloc(8);
    head.writeBigUInt64LE(BigInt(padded.length));
    const data = Buffer.alloc(8);
    data.writeFloatLE(1, 0);
    data.writeFloatLE(2, 4);
    const f = parseSafetensors(Buffer.concat([head, Buffer.from(padded), data]));
    expect(Array.from(f.tensors.get('w')!.data as Float32Array)).to.deep.equal([1, 2]);
    expect(f.metadata).to.deep.equal({});
  });

  it('rejects truncated files, gaps and size mismatches with a message naming the tensor', () => {
    const buf = serializeSafetensors(tensors);
    expect(() => parseSafetensors(buf.subarray(0, buf.length - 1))).to.throw(/z\.weight.*past the end|cover/);
    expect(() => parseSafetensors(buf.subarray(0, 4))).to.throw(/too short/);
    const json = '{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}';
    const head = Buffer.alloc(8);
    head.writeBigUInt64LE(BigInt(json.length));
    expect(() => parseSafetensors(Buffer.concat([head, Buffer.from(json), Buffer.alloc(8)]))).to.throw(/'w'.*do not hold shape/);
    const gap = '{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}';
    head.writeBigUInt64LE(BigInt(gap.length));
    expect(() => parseSafetensors(Buffer.concat([head, Buffer.from(gap), Buffer.alloc(8)]))).to.throw(/'w' starts at 4/);
    expect(() =>
      serializeSafetensors({ x: { dtype: 'F32', shape: [2, 2], data: new Float32Array(3) } }),
    ).to.throw(/'x'.*4 elements, data has 3/);
    expect(() => serializeSafetensors({ x: { dtype: 'I64', shape: [1], data: new Float32Array(1) } })).to.throw(/BigInt64Array/);
  });
});
