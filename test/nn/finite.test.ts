import { expect } from 'chai';
import { firstNonFinite } from '../../src/nn/finite';
import type { SafetensorsEntry } from '../../src/nn/safetensors';

const entry = (dtype: SafetensorsEntry['dtype'], data: SafetensorsEntry['data']): SafetensorsEntry => ({ dtype, shape: [data.length], data });

describe('nn/finite: non-finite values in weights files', () => {
  it('finds the first tensor with NaN or Inf in F32 / F64, with the count and first index', () => {
    const m = new Map([
      ['a', entry('F32', Float32Array.from([1, 2, 3]))],
      ['b', entry('F64', Float64Array.from([0, Infinity, NaN, -Infinity]))],
      ['c', entry('F32', Float32Array.from([NaN]))],
    ]);
    expect(firstNonFinite(m)).to.deep.equal({ name: 'b', index: 1, value: 'Infinity', count: 3 });
    m.delete('b');
    expect(firstNonFinite(m)?.name).to.equal('c');
    m.delete('c');
    expect(firstNonFinite(m)).to.equal(null);
  });

  it('reads F16 and BF16 bit patterns (exponent all ones) and ignores integer tensors', () => {
    expect(firstNonFinite(new Map([['h', entry('F16', Uint16Array.from([0x3c00, 0x7bff, 0xfc00]))]]))).to.include({ name: 'h', index: 2, count: 1 });
    expect(firstNonFinite(new Map([['h', entry('F16', Uint16Array.from([0x3c00, 0x7bff]))]]))).to.equal(null);
    expect(firstNonFinite(new Map([['b', entry('BF16', Uint16Array.from([0x3f80, 0x7fc0]))]]))).to.include({ name: 'b', index: 1 });
    expect(firstNonFinite(new Map([['i', entry('I32', Int32Array.from([2147483647]))]]))).to.equal(null);
  });
});
