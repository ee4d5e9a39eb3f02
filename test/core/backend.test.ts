import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import {
  BACKEND_ORDER,
  BackendUnavailableError,
  canonicalBackendName,
  describeBackend,
  probeBackends,
  selectBackend,
} from '../../src/core/backend';
import { ConfigError } from '../../src/core/errors';

function installed(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}
const nodeMissing = !installed('@tensorflow/tfjs-node') && !installed('@tensorflow/tfjs-node-gpu');

describe('backend selection', () => {
  after(async () => {
    await tf.setBackend('cpu');
  });

  it('maps aliases to canonical names', () => {
    expect(canonicalBackendName('node-gpu')).to.equal('tensorflow-gpu');
    expect(canonicalBackendName('tfjs-node')).to.equal('tensorflow');
    expect(canonicalBackendName('node')).to.equal('tensorflow');
    expect(canonicalBackendName('WASM')).to.equal('wasm');
    expect(canonicalBackendName('cpu')).to.equal('cpu');
  });

  it('rejects an unknown name with the list of valid ones', async () => {
    let err: unknown;
    try {
      await selectBackend('webgl');
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(ConfigError);
    for (const n of BACKEND_ORDER) expect((err as Error).message).to.include(n);
    expect((err as Error).message).to.include("'webgl'");
  });

  it('activates cpu when asked', async () => {
    const choice = await selectBackend('cpu');
    expect(choice.name).to.equal('cpu');
    expect(choice.reason).to.equal('requested');
    expect(tf.getBackend()).to.equal('cpu');
  });

  it('activates wasm with the training kernels registered', async () => {
    const choice = await selectBackend('wasm');
    expect(choice.name).to.equal('wasm');
    // The run-start line says whether the native kernels serve it.
    expect(choice.reason).to.match(/^requested; native kernels: /);
    expect(tf.getBackend()).to.equal('wasm');
    for (const k of ['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput']) {
      expect(tf.getKernel(k, 'wasm'), k).to.not.equal(undefined);
    }
    // A conv weight gradient runs (the shipped wasm backend has no Conv2DBackpropFilter).
    const g = tf.grad((w: tf.Tensor) => tf.sum(tf.conv2d(tf.ones([1, 4, 4, 2]) as tf.Tensor4D, w as tf.Tensor4D, 1, 'same')));
    const dw = g(tf.ones([3, 3, 2, 1]));
    expect(dw.shape).to.deep.equal([3, 3, 2, 1]);
    expect(Array.from(dw.dataSync())[8]).to.equal(16); // centre tap sees every pixel
    await tf.setBackend('cpu');
  });

  it('reports every candidate with a reason', async () => {
    const probes = await probeBackends();
    expect(probes.map((p) => p.name)).to.deep.equal([...BACKEND_ORDER]);
    for (const p of probes) expect(p.detail).to.be.a('string').and.not.equal('');
    expect(probes.find((p) => p.name === 'wasm')?.available).to.equal(true);
    expect(probes.find((p) => p.name === 'cpu')?.available).to.equal(true);
    const text = await describeBackend();
    for (const n of BACKEND_ORDER) expect(text).to.include(n);
  });

  describe('where the tfjs-node packages are not installed', () => {
    before(function () {
      if (!nodeMissing) this.skip();
    });

    it('probes report them unavailable with the require error', async () => {
      const probes = await probeBackends();
      for (const name of ['tensorflow-gpu', 'tensorflow']) {
        const p = probes.find((q) => q.name === name);
        expect(p?.available, name).to.equal(false);
        expect(p?.detail, name).to.match(/not installed.*Cannot find module '@tensorflow\/tfjs-node/);
      }
    });

    it('a requested node backend fails with that reason', async () => {
      let err: unknown;
      try {
        await selectBackend('node');
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(BackendUnavailableError);
      expect((err as Error).message).to.include('@tensorflow/tfjs-node');
    });

    it('the default falls through to wasm and says what it skipped', async () => {
      const choice = await selectBackend();
      expect(choice.name).to.equal('wasm');
      expect(choice.reason).to.include('tensorflow-gpu').and.include('tensorflow (');
      await tf.setBackend('cpu');
    });
  });
});
