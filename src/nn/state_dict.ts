import * as tf from '@tensorflow/tfjs-core';
import type { Module, TorchLayout } from './module';
import { fromTorchPerm, permute, permuteShape, toTorchPerm } from './layout';
import type { SafeTensor } from './safetensors';

/** A state-dict entry in PyTorch layout: F32 for float tensors, I64 for integer buffers. */
export type StateEntry = SafeTensor;

export class StateDictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StateDictError';
  }
}

/**
 * The module's parameters and buffers by PyTorch name (prefix + dotted name), in PyTorch layout:
 * conv weights OIHW, depth-wise [C, 1, kh, kw], linear [out, in]. Reads the values (dataSync).
 */
export function moduleStateDict(module: Module, prefix = ''): Map<string, StateEntry> {
  const out = new Map<string, StateEntry>();
  for (const [name, { tensor, layout }] of module.stateTensors(prefix)) {
    const perm = toTorchPerm(layout);
    const shape = permuteShape(tensor.shape, perm);
    if (tensor.dtype === 'int32') {
      const src = tensor.dataSync() as Int32Array;
      const data = new BigInt64Array(src.length);
      for (let i = 0; i < src.length; i++) data[i] = BigInt(src[i]);
      out.set(name, { dtype: 'I64', shape, data: permute(data, tensor.shape, perm, (n) => new BigInt64Array(n)) });
    } else if (tensor.dtype === 'float32') {
      const src = tensor.dataSync() as Float32Array;
      out.set(name, { dtype: 'F32', shape, data: permute(src, tensor.shape, perm, (n) => new Float32Array(n)) });
    } else {
      throw new StateDictError(`state dict: '${name}' has unsupported dtype ${tensor.dtype}`);
    }
  }
  return out;
}

export interface LoadStateDictOptions {
  /** Throw on missing or unexpected keys (torch's strict=True). Default true. */
  strict?: boolean;
  /** Only entries under this prefix are considered, and it is stripped (e.g. 'student.backbone.'). */
  prefix?: string;
}

export interface LoadStateDictResult {
  missing: string[];
  unexpected: string[];
}

/**
 * Load PyTorch-layout entries into the module (inverse of moduleStateDict). Everything is checked
 * before anything is assigned, so a failed load leaves the module unchanged. Shape and dtype
 * mismatches always throw; missing / unexpected keys throw when strict, else are returned.
 */
export function loadModuleStateDict(
  module: Module,
  entries: Map<string, StateEntry>,
  opts: LoadStateDictOptions = {},
): LoadStateDictResult {
  const { strict = true, prefix = '' } = opts;
  const own = module.stateTensors(prefix);
  const missing = [...own.keys()].filter((k) => !entries.has(k));
  const unexpected = [...entries.keys()].filter((k) => k.startsWith(prefix) && !own.has(k));
  if (strict && (missing.length > 0 || unexpected.length > 0)) {
    const parts: string[] = [];
    if (missing.length) parts.push(`missing keys: ${missing.join(', ')}`);
    if (unexpected.length) parts.push(`unexpected keys: ${unexpected.join(', ')}`);
    throw new StateDictError(`state dict does not match the module (${parts.join('; ')})`);
  }
  const plan: Array<{ variable: tf.Variable; value: () => tf.Tensor }> = [];
  for (const [name, { tensor, layout }] of own) {
    const e = entries.get(name);
    if (!e) continue;
    const torchShape = permuteShape(tensor.shape, toTorchPerm(layout));
    if (e.shape.length !== torchShape.length || e.shape.some((d, i) => d !== torchShape[i])) {
      throw new StateDictError(
        `state dict: '${name}' has shape [${e.shape}], the module expects [${torchShape}] (PyTorch layout${describe(layout)})`,
      );
    }
    plan.push({ variable: tensor, value: () => toOurs(name, e, tensor, layout) });
  }
  // Convert all first (may throw on dtype), then assign.
  const values = plan.map((p) => p.value());
  plan.forEach((p, i) => {
    p.variable.assign(values[i]);
    values[i].dispose();
  });
  return { missing, unexpected };
}

function describe(layout: TorchLayout): string {
  return layout === 'same' ? '' : `, ${layout}`;
}

function toOurs(name: string, e: StateEntry, target: tf.Variable, layout: TorchLayout): tf.Tensor {
  const perm = fromTorchPerm(layout);
  if (target.dtype === 'int32') {
    if (e.dtype !== 'I64' && e.dtype !== 'I32') throw new StateDictError(`state dict: '${name}' is ${e.dtype}, expected an integer (I64)`);
    const src = e.data as BigInt64Array | Int32Array;
    const ints = new Int32Array(src.length);
    for (let i = 0; i < src.length; i++) ints[i] = Number(src[i]);
    return tf.tensor(permute(ints, e.shape, perm, (n) => new Int32Array(n)), target.shape, 'int32');
  }
  let floats: Float32Array;
  if (e.dtype === 'F32') floats = e.data as Float32Array;
  else if (e.dtype === 'F64') floats = Float32Array.from(e.data as Float64Array);
  else throw new StateDictError(`state dict: '${name}' is ${e.dtype}, expected F32`);
  return tf.tensor(permute(floats, e.shape, perm, (n) => new Float32Array(n)), target.shape, 'float32');
}
