import type { Module } from '../module';
import { permuteShape, toTorchPerm } from '../layout';
import type { SafeTensor } from '../safetensors';
import { loadModuleStateDict } from '../state_dict';
import { firstNonFinite } from '../finite';
import { WeightsError } from './errors';
import { readWeightsFile, type WeightsFile } from './read';
import { isSslightRelease, mapEncoder, selectSslightRelease, SSLIGHT_OWN_PREFIXES, subtree, type Selection } from './layouts';

export interface LoadWeightsOptions {
  /** Take the tensors under this dotted prefix (stripped), e.g. 'state_dict.module.encoder_q.backbone.encoder.'. */
  prefix?: string;
  /** Default true: unknown, missing or mis-shaped tensors are an error. False: report and skip them. */
  strict?: boolean;
}

export interface WeightsReport {
  file: string;
  /** What was recognised: 'SSLight DINO release (...)', 'sslight checkpoint', 'plain state dict', ... */
  layout: string;
  loaded: number;
  missing: string[];
  unexpected: string[];
  misshaped: string[];
  /** Recognised non-backbone entries left out on purpose (heads, classifier, teacher, optimizer). */
  ignored: number;
}

/**
 * Initialise `module` from a weights file (safetensors or torch.save), finding the backbone as
 * `selectBackbone` says. Everything is checked before anything is assigned.
 */
export function loadWeightsInto(module: Module, file: string, opts: LoadWeightsOptions = {}): WeightsReport {
  const { strict = true } = opts;
  const w = readWeightsFile(file);
  const own = new Map<string, { shape: number[]; int: boolean }>();
  for (const [name, { tensor, layout }] of module.stateTensors()) {
    own.set(name, { shape: permuteShape(tensor.shape, toTorchPerm(layout)), int: tensor.dtype === 'int32' });
  }
  const sel = selectBackbone(w, new Set(own.keys()), opts.prefix);
  const usable = new Map<string, SafeTensor>();
  const unexpected: string[] = [];
  const misshaped: string[] = [];
  for (const [name, t] of sel.entries) {
    const target = own.get(name);
    if (!target) {
      unexpected.push(name);
      continue;
    }
    const isInt = t.dtype === 'I64' || t.dtype === 'I32';
    const sameShape = t.shape.length === target.shape.length && t.shape.every((d, i) => d === target.shape[i]);
    if (!sameShape || isInt !== target.int) {
      misshaped.push(`${name} (file [${t.shape.join(', ')}] ${t.dtype}, backbone [${target.shape.join(', ')}] ${target.int ? 'int' : 'float'})`);
      continue;
    }
    usable.set(name, toFloat32(t));
  }
  // Checkpoints from before torch 0.4.1 have no num_batches_tracked; it plays no part in eval.
  const missing = [...own.keys()].filter((k) => !sel.entries.has(k) && !k.endsWith('.num_batches_tracked'));
  const report: WeightsReport = {
    file: w.file,
    layout: sel.layout,
    loaded: usable.size,
    missing,
    unexpected,
    misshaped,
    ignored: sel.ignored.length,
  };
  const problems = describeProblems(report);
  if (problems && strict) {
    throw new WeightsError(`weights ${w.file} (${sel.layout}) do not fit the backbone: ${problems} (--strict false / weights_strict: false loads the rest)`);
  }
  if (usable.size === 0) throw new WeightsError(`weights ${w.file} (${sel.layout}): no tensor fits the backbone; ${problems}`);
  // A poisoned file is refused where it enters, naming the tensor (by its name in the file's layout).
  const bad = firstNonFinite(usable);
  if (bad) {
    throw new WeightsError(
      `weights ${w.file}: tensor '${bad.name}' holds ${bad.count} non-finite value${bad.count > 1 ? 's' : ''} (first: ${bad.value} at index ${bad.index}); refusing to load it`,
    );
  }
  loadModuleStateDict(module, usable, { strict: false });
  return report;
}

/** One line for logs: what was loaded and what was skipped. */
export function formatWeightsReport(r: WeightsReport): string {
  const problems = describeProblems(r);
  return `weights ${r.file}: ${r.layout}, loaded ${r.loaded} tensors` +
    (r.ignored ? `, left out ${r.ignored} non-backbone entries` : '') +
    (problems ? `; skipped: ${problems}` : '');
}

function describeProblems(r: WeightsReport): string {
  const parts: string[] = [];
  const list = (xs: string[]) => (xs.length > 12 ? `${xs.slice(0, 12).join(', ')}, ... (${xs.length} in all)` : xs.join(', '));
  if (r.missing.length) parts.push(`missing ${list(r.missing)}`);
  if (r.unexpected.length) parts.push(`unexpected ${list(r.unexpected)}`);
  if (r.misshaped.length) parts.push(`mis-shaped ${list(r.misshaped)}`);
  return parts.join('; ');
}

/**
 * Where the backbone is in a file: an explicit prefix; else the SSLight release layout; else
 * sslight's own checkpoint prefixes; else a plain state dict (under `state_dict` if the file has
 * one), with a DDP `module.` prefix stripped and torchvision's classifier (`fc.*`,
 * `classifier.*`) left out.
 */
export function selectBackbone(w: WeightsFile, own: Set<string>, prefix?: string): Selection {
  if (prefix !== undefined && prefix !== '') {
    const entries = subtree(w.tensors, prefix);
    if (entries.size === 0) {
      throw new WeightsError(`weights ${w.file}: no tensor name starts with '${prefix}' (tensors are under: ${groups(w.tensors)})`);
    }
    // A prefix that ends at an SSLight backbone (…backbone.) leaves its CNN encoder to map.
    const keys = [...entries.keys()];
    if (keys.some((k) => k.startsWith('encoder.')) && !keys.some((k) => own.has(k))) {
      const { entries: mapped, arch } = mapEncoder(entries);
      return { layout: `prefix '${prefix}', SSLight ${arch} encoder`, entries: mapped, ignored: keys.filter((k) => !k.startsWith('encoder.')) };
    }
    return { layout: `prefix '${prefix}'`, entries, ignored: [] };
  }
  if (isSslightRelease(w.topKeys)) {
    const sel = selectSslightRelease(w.tensors);
    if (sel) return sel;
    throw new WeightsError(
      `weights ${w.file} has the SSLight release layout but no backbone under state_dict.module.{student,network,encoder_q}.backbone ` +
        `(tensors are under: ${groups(w.tensors)}); name one with --weights-prefix`,
    );
  }
  let tensors = w.tensors;
  let where = '';
  if (w.topKeys.includes('state_dict')) {
    tensors = subtree(tensors, 'state_dict.');
    where = ' under state_dict';
  }
  for (const p of SSLIGHT_OWN_PREFIXES) {
    if ([...tensors.keys()].some((k) => k.startsWith(p))) {
      const ignored = [...tensors.keys()].filter((k) => !k.startsWith(p));
      return { layout: `sslight checkpoint (${p}*)`, entries: subtree(tensors, p), ignored };
    }
  }
  const keys = [...tensors.keys()];
  if (keys.length > 0 && keys.every((k) => k.startsWith('module.'))) {
    tensors = subtree(tensors, 'module.');
    where += ', DDP module. prefix';
  }
  const entries = new Map<string, SafeTensor>();
  const ignored: string[] = [];
  for (const [k, v] of tensors) {
    if (!own.has(k) && (k.startsWith('fc.') || k.startsWith('classifier.'))) ignored.push(k);
    else entries.set(k, v);
  }
  return { layout: `state dict${where}`, entries, ignored };
}

/** Where the tensors are, for messages: names cut before their first numeric segment. */
function groups(tensors: Map<string, SafeTensor>): string {
  const cut = (k: string) => {
    const parts = k.split('.');
    const n = parts.findIndex((p, i) => i > 0 && /^\d+$/.test(p));
    return parts.slice(0, Math.min(n < 0 ? parts.length - 1 : n, 5)).join('.') + '.*';
  };
  const g = [...new Set([...tensors.keys()].map(cut))];
  return g.length > 12 ? `${g.slice(0, 12).join(', ')}, ...` : g.join(', ') || 'none';
}

/** float16 / bfloat16 patterns widened to float32 (exact); other dtypes unchanged. */
function toFloat32(t: SafeTensor): SafeTensor {
  if (t.dtype !== 'F16' && t.dtype !== 'BF16') return t;
  const src = t.data as Uint16Array;
  const out = new Float32Array(src.length);
  if (t.dtype === 'BF16') {
    const u = new Uint32Array(out.buffer);
    for (let i = 0; i < src.length; i++) u[i] = src[i] << 16;
  } else {
    const table = halfTable();
    for (let i = 0; i < src.length; i++) out[i] = table[src[i]];
  }
  return { dtype: 'F32', shape: t.shape, data: out };
}

let HALF: Float32Array | null = null;
function halfTable(): Float32Array {
  if (!HALF) {
    HALF = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) HALF[h] = halfToFloat(h);
  }
  return HALF;
}

export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}
