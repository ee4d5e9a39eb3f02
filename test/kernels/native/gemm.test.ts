import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import * as os from 'os';
import { DEFAULT_NATIVE_THREADS_CAP, nativeKernels, nativeStatus, nativeThreads, openblasCoreNote, resetNativeForTests, winogradSetting } from '../../../src/kernels/native';
import { expectClose } from '../../helpers/reference';
import { valueAndGrads } from '../wasm/compare';

/**
 * The optional OpenBLAS addon. Where it is not built these tests are skipped (the wasm kernels
 * then use XNNPACK, which the other kernel tests cover).
 */
describe('native GEMM addon (optional)', () => {
  before(function () {
    if (!nativeKernels()) this.skip();
  });
  after(async () => {
    await tf.setBackend('cpu');
  });

  it('reports itself available with its thread count: SSLIGHT_NATIVE_THREADS, else the cores up to 4', () => {
    const saved = process.env.SSLIGHT_NATIVE_THREADS;
    try {
      delete process.env.SSLIGHT_NATIVE_THREADS;
      resetNativeForTests();
      const cores = Math.min(DEFAULT_NATIVE_THREADS_CAP, os.availableParallelism());
      expect(nativeStatus().available).to.equal(true);
      expect(nativeStatus().detail).to.match(new RegExp(`OpenBLAS sgemm .*addon, ${cores} thread`));
      expect(nativeKernels()?.getThreads()).to.equal(cores);
      process.env.SSLIGHT_NATIVE_THREADS = '3';
      resetNativeForTests();
      expect(nativeKernels()?.getThreads()).to.equal(3);
      expect(nativeStatus().detail).to.contain('3 thread(s) (SSLIGHT_NATIVE_THREADS)');
    } finally {
      if (saved === undefined) delete process.env.SSLIGHT_NATIVE_THREADS;
      else process.env.SSLIGHT_NATIVE_THREADS = saved;
      resetNativeForTests();
    }
  });

  it('rejects operands outside the heap instead of reading past it', () => {
    const heap = new ArrayBuffer(64);
    expect(() => nativeKernels()?.sgemm(heap, false, false, 4, 4, 4, 0, 0, 16)).to.throw(RangeError);
    // The window kernels: x [1,2,2,1] = 4 floats, dy [1,1,1,1], window [2,2,1]; 64 bytes = 16 floats.
    const k = nativeKernels();
    if (!k?.dwFilterGrad || !k.dwInputGrad || !k.maxPoolGrad) return;
    const geom = [1, 2, 2, 1, 1, 1, 2, 2, 1, 1, 0, 0];
    expect(() => k.dwFilterGrad!(heap, 0, 16, 32, geom)).to.not.throw();
    expect(() => k.dwFilterGrad!(heap, 0, 16, 52, geom)).to.throw(RangeError, /^dwFilterGrad: operands outside the heap/);
    expect(() => k.dwInputGrad!(heap, 0, 52, 16, geom)).to.throw(RangeError, /^dwInputGrad: operands outside the heap/);
    expect(() => k.maxPoolGrad!(heap, 56, 0, 16, geom)).to.throw(RangeError, /^maxPoolGrad: operands outside the heap/);
    expect(() => k.maxPoolGrad!(heap, 0, 16, 32, geom.slice(1))).to.throw(TypeError, /^maxPoolGrad\(heap, xOff/);
  });

  for (const [tA, tB] of [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ]) {
    it(`matMul ${tA ? 'Aᵀ' : 'A'} @ ${tB ? 'Bᵀ' : 'B'} and its gradients match cpu`, async () => {
      const f = (a: tf.Tensor, b: tf.Tensor) => tf.matMul(a, b, tA, tB);
      const ops = [
        { shape: tA ? [13, 7] : [7, 13], seed: 31 },
        { shape: tB ? [5, 13] : [13, 5], seed: 32 },
      ];
      const ref = await valueAndGrads('cpu', f, ops);
      const got = await valueAndGrads('wasm', f, ops);
      expectClose(got.y, ref.y, { rtol: 1e-4, atol: 1e-5, what: 'product' });
      expectClose(got.grads[0], ref.grads[0], { rtol: 1e-4, atol: 1e-5, what: 'dA' });
      expectClose(got.grads[1], ref.grads[1], { rtol: 1e-4, atol: 1e-5, what: 'dB' });
    });
  }

  it('SSLIGHT_NATIVE=0 turns it off', () => {
    const saved = process.env.SSLIGHT_NATIVE;
    process.env.SSLIGHT_NATIVE = '0';
    resetNativeForTests();
    try {
      expect(nativeKernels()).to.equal(null);
      expect(nativeStatus().detail).to.include('SSLIGHT_NATIVE=0');
    } finally {
      if (saved === undefined) delete process.env.SSLIGHT_NATIVE;
      else process.env.SSLIGHT_NATIVE = saved;
      resetNativeForTests();
    }
  });
});

describe('SSLIGHT_NATIVE_THREADS', () => {
  it('takes a positive whole number; anything else is named in the status and the cores are used', () => {
    const cores = Math.min(DEFAULT_NATIVE_THREADS_CAP, os.availableParallelism());
    expect(nativeThreads(undefined)).to.deep.equal({ threads: cores, note: '' });
    expect(nativeThreads('')).to.deep.equal({ threads: cores, note: '' });
    expect(nativeThreads('2').threads).to.equal(2);
    for (const bad of ['0', '-1', '1.5', 'two']) {
      const r = nativeThreads(bad);
      expect(r.threads, bad).to.equal(cores);
      expect(r.note, bad).to.contain(`SSLIGHT_NATIVE_THREADS='${bad}' is not a positive whole number`);
    }
  });
});

describe('SSLIGHT_WINOGRAD', () => {
  it('0 turns the Winograd convolutions off, 1 or nothing leaves them on; anything else is named and ignored', () => {
    expect(winogradSetting(undefined)).to.deep.equal({ enabled: true, note: '' });
    expect(winogradSetting('1')).to.deep.equal({ enabled: true, note: '' });
    expect(winogradSetting(' 0 ')).to.deep.equal({ enabled: false, note: ' (SSLIGHT_WINOGRAD=0)' });
    const bad = winogradSetting('off');
    expect(bad.enabled).to.equal(true);
    expect(bad.note).to.contain("SSLIGHT_WINOGRAD='off' is not 0 or 1");
  });

  it('the status says whether they are on, and the addon rejects an unknown policy', function () {
    const saved = process.env.SSLIGHT_WINOGRAD;
    try {
      process.env.SSLIGHT_WINOGRAD = '0';
      resetNativeForTests();
      if (!nativeKernels()?.setWinograd) this.skip();
      expect(nativeStatus().detail).to.contain('Winograd 3x3 convolutions off (SSLIGHT_WINOGRAD=0)');
      delete process.env.SSLIGHT_WINOGRAD;
      resetNativeForTests();
      expect(nativeStatus().detail).to.contain('Winograd 3x3 convolutions on');
      expect(() => nativeKernels()!.setWinograd!(3 as 2)).to.throw(/setWinograd\(policy: 0 off, 1 auto, 2 always\)/);
    } finally {
      if (saved === undefined) delete process.env.SSLIGHT_WINOGRAD;
      else process.env.SSLIGHT_WINOGRAD = saved;
      resetNativeForTests();
    }
  });
});

describe('OPENBLAS_CORETYPE', () => {
  const cpu = (flags: string) => `processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx2 fma ${flags}\n\nprocessor\t: 1\n`;
  const avx512 = 'avx512f avx512dq avx512cd avx512bw avx512vl';

  it("the status says when the environment pins OpenBLAS to kernels slower than the CPU's", () => {
    expect(openblasCoreNote(cpu(avx512), undefined)).to.equal('');
    expect(openblasCoreNote(cpu(avx512), ' ')).to.equal('');
    const slow = openblasCoreNote(cpu(avx512), 'Haswell');
    expect(slow).to.contain('OPENBLAS_CORETYPE=Haswell from the environment').and.contain('faster');
    for (const fast of ['SkylakeX', 'COOPERLAKE']) expect(openblasCoreNote(cpu(avx512), fast), fast).to.equal(' (OPENBLAS_CORETYPE from the environment)');
    // Without all of AVX-512's F/CD/DQ/BW/VL, Haswell is the best set: nothing to say.
    expect(openblasCoreNote(cpu('avx512f avx512dq avx512cd avx512vl'), 'Haswell')).to.equal(' (OPENBLAS_CORETYPE from the environment)');
    expect(openblasCoreNote('', 'Haswell')).to.equal(' (OPENBLAS_CORETYPE from the environment)');
  });

  it('the status names the kernel set OpenBLAS runs', function () {
    resetNativeForTests();
    if (!nativeKernels()) this.skip();
    expect(nativeStatus().detail).to.match(/OpenBLAS core [A-Za-z0-9]+/);
  });
});
