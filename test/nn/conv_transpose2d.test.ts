import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { expect } from 'chai';
import { Rng } from '../../src/core/rng';
import { ConvTranspose2d } from '../../src/nn/conv_transpose2d';
import { loadModuleStateDict, moduleStateDict } from '../../src/nn/state_dict';
import { registerWasmTrainingKernels } from '../../src/kernels/wasm';
import { expectClose, repoRoot } from '../helpers/reference';

interface Case {
  n: number; cin: number; cout: number; h: number; w: number; k: number; s: number; p: number;
  x: number[]; weight: number[]; bias: number[]; y_shape: number[]; y: number[]; g: number[];
  grad_x: number[]; grad_weight: number[]; grad_bias: number[];
}

// torch.nn.ConvTranspose2d outputs and gradients (test/fixtures/nn/make_conv_transpose2d.py)
const fixture = JSON.parse(
  fs.readFileSync(path.join(repoRoot, 'test', 'fixtures', 'nn', 'conv_transpose2d.json'), 'utf8'),
) as Record<string, Case>;

function check(name: string, c: Case): void {
  const before = tf.memory().numTensors;
  const m = new ConvTranspose2d(c.cin, c.cout, c.k, new Rng(1), { stride: c.s, padding: c.p });
  loadModuleStateDict(
    m,
    new Map([
      ['weight', { dtype: 'F32', shape: [c.cin, c.cout, c.k, c.k], data: Float32Array.from(c.weight) }],
      ['bias', { dtype: 'F32', shape: [c.cout], data: Float32Array.from(c.bias) }],
    ]),
  );
  // the state dict gives torch's layout back
  expectClose(moduleStateDict(m).get('weight')!.data as Float32Array, c.weight, { what: `${name} weight round trip` });
  tf.tidy(() => {
    const x = tf.tensor4d(c.x, [c.n, c.h, c.w, c.cin]);
    const g = tf.tensor(c.g, c.y_shape);
    const y = m.forward(x);
    expect(y.shape, name).to.deep.equal(c.y_shape);
    expectClose(y.dataSync(), c.y, { rtol: 1e-4, atol: 1e-5, what: `${name} y` });
    const { grads } = tf.variableGrads(() => tf.sum(tf.mul(m.forward(x), g)) as tf.Scalar, [m.weight, m.bias!]);
    const gx = tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(m.forward(xx as tf.Tensor4D), g)))(x);
    expectClose(gx.dataSync(), c.grad_x, { rtol: 1e-4, atol: 1e-5, what: `${name} grad x` });
    // torch layout [in, out, kh, kw] from ours [kh, kw, out, in]
    expectClose(tf.transpose(grads[m.weight.name], [3, 2, 0, 1]).dataSync(), c.grad_weight, { rtol: 1e-4, atol: 1e-5, what: `${name} grad weight` });
    expectClose(grads[m.bias!.name].dataSync(), c.grad_bias, { rtol: 1e-4, atol: 1e-5, what: `${name} grad bias` });
  });
  m.dispose();
  expect(tf.memory().numTensors, `${name}: leaked tensors`).to.equal(before);
}

describe('nn/ConvTranspose2d vs torch.nn.ConvTranspose2d', () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    it(`${backend}: outputs and gradients (k2 s2 matMul path, k3 s2 p1 and k3 s1 conv2dTranspose)`, async () => {
      if (backend === 'wasm') registerWasmTrainingKernels();
      await tf.setBackend(backend);
      try {
        for (const [name, c] of Object.entries(fixture)) check(`${backend} ${name}`, c);
      } finally {
        await tf.setBackend('cpu');
      }
    });
  }

  it('rejects a wrong channel count and bad sizes', () => {
    const m = new ConvTranspose2d(3, 2, 2, new Rng(0), { stride: 2 });
    expect(() => tf.tidy(() => m.forward(tf.zeros([1, 2, 2, 4]) as tf.Tensor4D))).to.throw(/3 channels/);
    expect(() => new ConvTranspose2d(3, 2, 0, new Rng(0))).to.throw(/kernelSize/);
    m.dispose();
  });

  it('kaiming_normal init: zero bias, std sqrt(2 / (in * k * k))', () => {
    const m = new ConvTranspose2d(64, 32, 2, new Rng(3), { stride: 2, init: 'kaiming_normal' });
    const w = m.weight.dataSync();
    let ss = 0;
    for (const v of w) ss += v * v;
    expect(Math.sqrt(ss / w.length)).to.be.closeTo(Math.sqrt(2 / (64 * 4)), 0.01);
    expect(Array.from(m.bias!.dataSync()).every((v) => v === 0)).to.equal(true);
    m.dispose();
  });
});
