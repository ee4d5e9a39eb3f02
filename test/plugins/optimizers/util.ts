import * as tf from '@tensorflow/tfjs-core';
import type { Parameter, ParamKind } from '../../../src/nn/module';
import type { RefTensor } from '../../helpers/reference';

/** A free-standing parameter for optimizer tests (no module needed). */
export function makeParam(name: string, value: RefTensor | number[], kind: ParamKind, shape?: number[]): Parameter {
  const t = Array.isArray(value) ? tf.tensor(value, shape) : tf.tensor(value.data, value.shape);
  const variable = tf.variable(t, true);
  t.dispose();
  return { name, variable, kind, layout: 'same', trainable: true };
}

export function gradMap(params: Parameter[], grads: Record<string, RefTensor>): Map<Parameter, tf.Tensor> {
  const m = new Map<Parameter, tf.Tensor>();
  for (const p of params) {
    const g = grads[p.name];
    if (g) m.set(p, tf.tensor(g.data, g.shape));
  }
  return m;
}

export function disposeMap(m: Map<Parameter, tf.Tensor>): void {
  for (const t of m.values()) t.dispose();
}

export function values(t: tf.Tensor): Float32Array {
  return t.dataSync() as Float32Array;
}

export const depsFor = (params: Parameter[], over: Partial<{ batchSize: number; epochs: number; stepsPerEpoch: number }> = {}) => ({
  params,
  batchSize: over.batchSize ?? 256,
  epochs: over.epochs ?? 20,
  stepsPerEpoch: over.stepsPerEpoch ?? 5,
});
