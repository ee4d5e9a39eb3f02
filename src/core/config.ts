import * as fs from 'fs';
import * as path from 'path';
import YAML from 'yaml';
import { z } from 'zod';
import { ConfigError } from './errors';
import { registry as defaultRegistry, PluginRegistry, PluginKind } from './registry';

/**
 * Run configuration: YAML with `extends:` (string or list, relative to the file) and
 * `--set a.b=c` overrides, validated once at start. Plugin sections pick their implementation
 * with `name`; the rest of the section is that plugin's options, checked by its own zod schema.
 */

/** Config sections that are one plugin each, and the plugin kind they name. */
export const PLUGIN_SECTIONS = {
  data: 'dataset',
  views: 'views',
  method: 'method',
  backbone: 'backbone',
  optimizer: 'optimizer',
} as const satisfies Record<string, PluginKind>;
export type PluginSection = keyof typeof PLUGIN_SECTIONS;

export const TOP_LEVEL_KEYS = ['data', 'views', 'method', 'backbone', 'optimizer', 'trainer', 'callbacks'] as const;

export const trainerSchema = z
  .object({
    epochs: z.number().int().positive().default(100),
    batch_size: z.number().int().positive().default(64),
    seed: z.number().int().nonnegative().default(0),
    /** Stop at this global step (counted from the start of the run, across resumes). */
    max_steps: z.number().int().positive().nullable().default(null),
    /** Budget for the wasm heap in GiB: the 4 GiB ceiling fails silently, so we stop earlier. */
    memory_budget_gb: z.number().positive().max(4).default(3.5),
    /** Batches decoded ahead of the step being computed. */
    prefetch: z.number().int().nonnegative().default(2),
    /** Steps the loss may sit within `collapse_tolerance` of the collapse value before a warning. */
    collapse_window: z.number().int().positive().default(20),
    collapse_tolerance: z.number().nonnegative().default(1e-3),
  })
  .strict();
export type TrainerOptions = z.output<typeof trainerSchema>;

export interface PluginChoice {
  name: string;
  options: Record<string, unknown>;
}

export interface ResolvedConfig {
  data: PluginChoice;
  views: PluginChoice;
  method: PluginChoice;
  backbone: PluginChoice;
  optimizer: PluginChoice;
  trainer: TrainerOptions;
  callbacks: PluginChoice[];
  /** The merged raw document (after extends and --set), as saved next to the run. */
  raw: Record<string, unknown>;
}

type Json = Record<string, unknown>;

function isPlainObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Objects merge key by key; anything else (lists included) is replaced by the override. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (isPlainObject(base) && isPlainObject(over)) {
    const out: Json = { ...base };
    for (const [k, v] of Object.entries(over)) out[k] = k in base ? deepMerge(base[k], v) : v;
    return out;
  }
  return over;
}

/**
 * Merge a config over its base. Like deepMerge, except that a plugin section naming a different
 * plugin replaces the base's section: the old plugin's options mean nothing to the new one.
 */
export function mergeConfigs(base: Json, over: Json): Json {
  const out = deepMerge(base, over) as Json;
  for (const section of Object.keys(PLUGIN_SECTIONS)) {
    const b = base[section];
    const o = over[section];
    if (isPlainObject(b) && isPlainObject(o) && o.name !== undefined && o.name !== b.name) out[section] = o;
  }
  return out;
}

/** Read a YAML file and resolve its `extends:` chain (cycles are an error). */
export function loadConfigFile(file: string, seen: string[] = []): Json {
  const abs = path.resolve(file);
  if (seen.includes(abs)) throw new ConfigError('extends', `cycle: ${[...seen, abs].join(' -> ')}`);
  if (!fs.existsSync(abs)) {
    throw new ConfigError(seen.length ? 'extends' : '', `file not found: ${abs}`);
  }
  let doc: unknown;
  try {
    doc = YAML.parse(fs.readFileSync(abs, 'utf8')) ?? {};
  } catch (e) {
    throw new ConfigError('', `${abs} is not valid YAML: ${(e as Error).message}`);
  }
  if (!isPlainObject(doc)) throw new ConfigError('', `${abs} must hold a mapping at the top level`);
  const { extends: ext, ...rest } = doc;
  const bases = ext === undefined ? [] : Array.isArray(ext) ? ext : [ext];
  let merged: Json = {};
  for (const b of bases) {
    if (typeof b !== 'string') throw new ConfigError('extends', `expected a file path, got ${JSON.stringify(b)} in ${abs}`);
    merged = mergeConfigs(merged, loadConfigFile(path.resolve(path.dirname(abs), b), [...seen, abs]));
  }
  return mergeConfigs(merged, rest);
}

/** Apply one `a.b.c=value` override; the value is parsed as YAML (numbers, booleans, lists). */
export function applySet(doc: Json, assignment: string): Json {
  const eq = assignment.indexOf('=');
  if (eq <= 0) throw new ConfigError('', `--set expects key.path=value, got '${assignment}'`);
  const keyPath = assignment.slice(0, eq).trim();
  const rawValue = assignment.slice(eq + 1);
  let value: unknown;
  try {
    value = YAML.parse(rawValue);
  } catch {
    value = rawValue;
  }
  if (rawValue === '') value = '';
  const keys = keyPath.split('.');
  if (keys.some((k) => k === '')) throw new ConfigError(keyPath, 'empty segment in key path');
  const out: Json = structuredClone(doc);
  let node: Json = out;
  for (let i = 0; i < keys.length - 1; i++) {
    const k = keys[i];
    const next = node[k];
    if (next === undefined || next === null) node[k] = {};
    else if (!isPlainObject(next)) {
      throw new ConfigError(keys.slice(0, i + 1).join('.'), `is ${JSON.stringify(next)}, cannot set '${keys.slice(i + 1).join('.')}' inside it`);
    }
    node = node[k] as Json;
  }
  node[keys[keys.length - 1]] = value;
  return out;
}

function zodIssuesToError(prefix: string, err: z.ZodError): ConfigError {
  const first = err.issues[0];
  const keyPath = [prefix, ...first.path.map(String)].filter(Boolean).join('.');
  let detail = first.message;
  if (first.code === 'unrecognized_keys') {
    const keys = (first as z.ZodIssue & { keys: string[] }).keys;
    return new ConfigError(
      keys.map((k) => [keyPath, k].filter(Boolean).join('.')).join(', '),
      `unknown key${keys.length > 1 ? 's' : ''}`,
    );
  }
  if (err.issues.length > 1) detail += ` (and ${err.issues.length - 1} more problem${err.issues.length > 2 ? 's' : ''})`;
  return new ConfigError(keyPath, detail);
}

/** Validate options against a plugin's schema; errors carry the full key path. */
export function parsePluginOptions(
  reg: PluginRegistry,
  kind: PluginKind,
  section: string,
  value: unknown,
): PluginChoice {
  if (!isPlainObject(value)) throw new ConfigError(section, `expected a mapping with a 'name' key, got ${JSON.stringify(value)}`);
  const { name, ...options } = value;
  if (typeof name !== 'string' || !name) {
    throw new ConfigError(`${section}.name`, `required: one of ${reg.names(kind).join(', ') || '(none registered)'}`);
  }
  if (!reg.has(kind, name)) {
    throw new ConfigError(`${section}.name`, `no ${kind} plugin '${name}' (known: ${reg.names(kind).join(', ')})`);
  }
  const parsed = reg.get(kind, name).schema.safeParse(options);
  if (!parsed.success) throw zodIssuesToError(section, parsed.error);
  return { name, options: parsed.data as Record<string, unknown> };
}

/**
 * `callbacks:` is a mapping from callback name to options (so `--set callbacks.checkpoint.every_steps=5`
 * works); `false`/`null` turns a callback from a base config off. A list of `{name: ...}` also works.
 */
export function parseCallbacks(value: unknown, reg: PluginRegistry = defaultRegistry): PluginChoice[] {
  if (value === undefined || value === null) return [];
  const out: PluginChoice[] = [];
  if (Array.isArray(value)) {
    value.forEach((v, i) => out.push(parsePluginOptions(reg, 'callback', `callbacks.${i}`, v)));
    return out;
  }
  if (!isPlainObject(value)) throw new ConfigError('callbacks', 'expected a mapping of callback name to options');
  for (const [key, v] of Object.entries(value)) {
    if (v === false || v === null) continue;
    const section = v === true || v === undefined ? {} : v;
    if (!isPlainObject(section)) throw new ConfigError(`callbacks.${key}`, `expected options mapping, true or false, got ${JSON.stringify(v)}`);
    const { enabled, ...rest } = section as Json & { enabled?: unknown };
    if (enabled === false) continue;
    const withName = { name: key, ...rest };
    out.push(parsePluginOptions(reg, 'callback', `callbacks.${key}`, withName));
  }
  return out;
}

/** Validate a merged document. Plugins must be registered first (built-ins and --plugin modules). */
export function resolveConfig(doc: Json, reg: PluginRegistry = defaultRegistry): ResolvedConfig {
  const unknown = Object.keys(doc).filter((k) => !(TOP_LEVEL_KEYS as readonly string[]).includes(k));
  if (unknown.length) {
    throw new ConfigError(unknown.join(', '), `unknown top-level section (expected: ${TOP_LEVEL_KEYS.join(', ')})`);
  }
  const sections = {} as Record<PluginSection, PluginChoice>;
  for (const [section, kind] of Object.entries(PLUGIN_SECTIONS) as [PluginSection, PluginKind][]) {
    if (doc[section] === undefined) throw new ConfigError(section, `missing section (a mapping with 'name' and the ${kind} options)`);
    sections[section] = parsePluginOptions(reg, kind, section, doc[section]);
  }
  const trainer = trainerSchema.safeParse(doc.trainer ?? {});
  if (!trainer.success) throw zodIssuesToError('trainer', trainer.error);
  return {
    ...sections,
    trainer: trainer.data,
    callbacks: parseCallbacks(doc.callbacks, reg),
    raw: doc,
  };
}

/** File + overrides -> validated config. */
export function loadConfig(file: string, sets: string[] = [], reg: PluginRegistry = defaultRegistry): ResolvedConfig {
  let doc = loadConfigFile(file);
  for (const s of sets) doc = applySet(doc, s);
  return resolveConfig(doc, reg);
}
