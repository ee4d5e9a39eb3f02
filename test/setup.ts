// Loaded by mocha before every spec (see .mocharc.json). Tests run on the plain cpu backend
// unless they pick another one themselves (kernel tests compare wasm against cpu).
import 'reflect-metadata';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { ensureGradients } from '../src/nn/gradients';

export const mochaHooks = {
  async beforeAll(): Promise<void> {
    await tf.setBackend('cpu');
    await tf.ready();
    // tfjs-core's CommonJS bundle registers no gradients; load them once for every spec.
    await ensureGradients();
  },
};
