import type { Argv } from 'yargs';
import { applySet, loadConfigFile, parsePluginOptions } from '../core/config';
import { ConfigError } from '../core/errors';
import type { Backbone } from '../core/interfaces';
import { registry } from '../core/registry';
import { Rng } from '../core/rng';
import type { Module } from '../nn/module';
import { formatWeightsReport, loadWeightsInto, type WeightsReport } from '../nn/weights';

// Flags that name foreign weights and the backbone they initialise (`embed`, `knn --weights`).

export interface WeightsArgs {
  weights?: string;
  'weights-prefix'?: string;
  strict?: boolean;
}

export function weightsOptions<T>(y: Argv<T>): Argv<T> {
  return y
    .option('weights', { type: 'string', describe: 'weights file: safetensors, .pth / .pth.tar (torch.save), or an sslight checkpoint directory' })
    .option('weights-prefix', { type: 'string', describe: 'take the tensors under this dotted prefix, e.g. state_dict.module.encoder_q.backbone.encoder.' })
    .option('strict', { type: 'boolean', default: true, describe: 'unknown, missing or mis-shaped tensors are an error (false: report and skip them)' }) as unknown as Argv<T>;
}

/** Build a backbone plugin from its name and `backbone.k=v` overrides (the rest of --set is refused). */
export function backboneFromFlags(name: string, sets: string[] | undefined, seed = 0): { backbone: Backbone; options: Record<string, unknown> } {
  let doc: Record<string, unknown> = { backbone: { name } };
  for (const s of sets ?? []) {
    if (!s.startsWith('backbone.')) throw new ConfigError(s.split('=')[0], `only backbone.<option>=value can be set here, got '${s}'`);
    doc = applySet(doc, s);
  }
  const section = doc.backbone as Record<string, unknown>;
  const choice = parsePluginOptions(registry, 'backbone', 'backbone', section);
  const backbone = registry.get('backbone', choice.name).create(choice.options, { rng: new Rng(seed) });
  return { backbone, options: choice.options };
}

/** Load --weights into the module; with --strict false the skipped tensors are reported on stderr. */
export function applyWeightsFlags(module: Module, args: WeightsArgs): WeightsReport {
  if (!args.weights) throw new ConfigError('', '--weights FILE is required');
  const report = loadWeightsInto(module, args.weights, { prefix: args['weights-prefix'], strict: args.strict !== false });
  process.stderr.write(`sslight: ${formatWeightsReport(report)}\n`);
  return report;
}

/**
 * A config whose backbone was initialised from `backbone.weights` before training: when a
 * checkpoint's weights are loaded over it, the initial file is not needed (and may be gone).
 */
export function withoutInitialWeights(doc: Record<string, unknown>): Record<string, unknown> {
  const b = doc.backbone;
  if (typeof b !== 'object' || b === null || Array.isArray(b) || !('weights' in b)) return doc;
  const { weights: _w, weights_prefix: _p, weights_strict: _s, ...rest } = b as Record<string, unknown>;
  return { ...doc, backbone: rest };
}

/**
 * `backbone.weights` of a config given alone to an eval command (no run, checkpoint or
 * --weights): those weights are what to evaluate, as if passed with --weights.
 */
export function weightsFlagsFromConfig(configFile: string, sets: string[] | undefined): WeightsArgs {
  let doc = loadConfigFile(configFile);
  for (const s of sets ?? []) doc = applySet(doc, s);
  const b = doc.backbone as Record<string, unknown> | undefined;
  if (!b || typeof b.weights !== 'string') return {};
  return {
    weights: b.weights,
    ...(typeof b.weights_prefix === 'string' ? { 'weights-prefix': b.weights_prefix } : {}),
    ...(b.weights_strict === false ? { strict: false } : {}),
  };
}
