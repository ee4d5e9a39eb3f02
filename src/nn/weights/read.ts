import * as fs from 'fs';
import * as path from 'path';
import { parseSafetensors, type SafeTensor } from '../safetensors';
import { readTorchFile, TorchTensor } from '../pth/torch_file';
import { PyObject } from '../pth/pickle';
import { WeightsError } from './errors';

/** A weights file, read: every tensor by dotted path, plus the top-level keys of a torch pickle. */
export interface WeightsFile {
  file: string;
  format: 'safetensors' | 'pth';
  /** Nested dicts and lists flattened with '.' (state_dict.module.student...), PyTorch layout. */
  tensors: Map<string, SafeTensor>;
  /** Keys of the top-level dict of a .pth (empty for safetensors and non-dict pickles). */
  topKeys: string[];
  /** Class names of the placeholders met at the top level (e.g. config: fvcore.common.config.CfgNode). */
  placeholders: Record<string, string>;
}

let cache: { key: string; value: WeightsFile } | null = null;

/** A run's `checkpoints/latest`: a small text file naming the newest checkpoint directory beside it. */
function isLatestPointer(file: string): boolean {
  if (path.basename(file) !== 'latest' || path.basename(path.dirname(file)) !== 'checkpoints') return false;
  const st = fs.statSync(file);
  if (!st.isFile() || st.size > 256) return false;
  const name = fs.readFileSync(file, 'utf8').trim();
  return name.length > 0 && !name.includes('/') && fs.existsSync(path.join(path.dirname(file), name));
}

/**
 * Read safetensors (by content: not a zip) or a torch.save file (.pth / .pth.tar / .pt). A
 * directory is taken as an sslight checkpoint (its model.safetensors). The last file read is
 * cached until the event loop turns, so a student and a teacher built together read it once.
 */
export function readWeightsFile(file: string): WeightsFile {
  let target = path.resolve(file);
  if (!fs.existsSync(target)) throw new WeightsError(`weights file ${target}: no such file`);
  if (isLatestPointer(target)) target = path.join(path.dirname(target), fs.readFileSync(target, 'utf8').trim());
  if (fs.statSync(target).isDirectory()) {
    // a run directory: its latest checkpoint
    const latest = path.join(target, 'checkpoints', 'latest');
    if (fs.existsSync(latest)) target = path.join(target, 'checkpoints', fs.readFileSync(latest, 'utf8').trim());
    const inner = path.join(target, 'model.safetensors');
    if (!fs.existsSync(inner)) throw new WeightsError(`weights ${target} is a directory without model.safetensors`);
    target = inner;
  }
  const st = fs.statSync(target);
  const key = `${target}:${st.size}:${st.mtimeMs}`;
  if (cache?.key === key) return cache.value;
  const bytes = fs.readFileSync(target);
  let value: WeightsFile;
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b) {
    let root: unknown;
    try {
      root = readTorchFile(bytes, target);
    } catch (e) {
      throw new WeightsError(`cannot read ${target}: ${(e as Error).message}`);
    }
    const tensors = new Map<string, SafeTensor>();
    flatten(root, '', tensors);
    const topKeys: string[] = [];
    const placeholders: Record<string, string> = {};
    if (root instanceof Map) {
      for (const [k, v] of root) {
        topKeys.push(String(k));
        if (v instanceof PyObject) placeholders[String(k)] = v.cls;
      }
    }
    value = { file: target, format: 'pth', tensors, topKeys, placeholders };
  } else {
    try {
      value = { file: target, format: 'safetensors', tensors: parseSafetensors(bytes).tensors, topKeys: [], placeholders: {} };
    } catch (e) {
      throw new WeightsError(`cannot read ${target} (neither a torch.save zip nor safetensors): ${(e as Error).message}`);
    }
  }
  cache = { key, value };
  // Only for the backbones built in this turn of the event loop: do not hold the file's tensors
  // (possibly an optimizer state and two networks) for the whole run.
  setImmediate(() => {
    if (cache?.value === value) cache = null;
  }).unref();
  return value;
}

/** Tensors under dicts and lists get dotted names; placeholders (unknown classes) are not entered. */
function flatten(v: unknown, prefix: string, out: Map<string, SafeTensor>, depth = 0): void {
  if (depth > 64) throw new WeightsError(`weights: nesting deeper than 64 levels at '${prefix}'`);
  if (v instanceof TorchTensor) {
    out.set(prefix.slice(0, -1), v);
  } else if (v instanceof Map) {
    for (const [k, x] of v) flatten(x, `${prefix}${String(k)}.`, out, depth + 1);
  } else if (Array.isArray(v)) {
    v.forEach((x, i) => flatten(x, `${prefix}${i}.`, out, depth + 1));
  }
}
