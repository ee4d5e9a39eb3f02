import * as fs from 'fs';
import * as path from 'path';
import type { Argv } from 'yargs';
import { applySet, loadConfigFile, resolveConfig, type ResolvedConfig } from '../core/config';
import { selectBackend } from '../core/backend';
import { assertFiniteTensors, CheckpointStore } from '../core/checkpoint';
import { CheckpointError, SslightError } from '../core/errors';
import type { Backbone, Dataset } from '../core/interfaces';
import { registry } from '../core/registry';
import { Rng } from '../core/rng';
import { decodeSafetensors } from '../nn/safetensors';
import { loadModuleStateDict } from '../nn/state_dict';
import { balancedSubset } from '../eval/features';
import { recomputeBatchNormStats } from '../eval/precise_bn';
import { progress } from '../core/progress';
import { ImageLoader } from '../../data/image_loader';
import { buildEvaluableBackbone } from '../run/evaluable';
import { loadPlugins } from './common';
import type { Module } from '../nn/module';
import { applyWeightsFlags, weightsFlagsFromConfig, weightsOptions, withoutInitialWeights } from './weights_flags';

// What `sslight knn` and `sslight linear` share: flags, config and checkpoint resolution,
// loading the backbone weights, choosing the images, and writing the result.

/** Bad flags or input files: exit code 2, as main() gives config errors. */
export class EvalInputError extends SslightError {
  readonly exitCode = 2;
}

/** Flags shared by the evaluation commands (knn, linear). */
export interface EvalArgs {
  run?: string;
  checkpoint?: string;
  config?: string;
  set?: string[];
  backend?: string;
  plugin?: string[];
  'image-size'?: number;
  'max-train'?: number;
  'max-test'?: number;
  'random-init'?: boolean;
  /** Recompute the backbone's BN statistics on this many train images first (0: keep them). */
  'precise-bn'?: number;
  /** Foreign weights (`--weights FILE [--backbone NAME]`) instead of a run's checkpoint. */
  weights?: string;
  'weights-prefix'?: string;
  strict?: boolean;
  backbone?: string;
}

/** DINO's eval transform keeps 224 of 256: the centre crop is 0.875 of the short side. */
export const EVAL_CROP_FRACTION = 0.875;

export function evalOptions<T>(y: Argv<T>): Argv<T> {
  return weightsOptions(y)
    .option('run', { type: 'string', describe: 'run directory (its config.yaml and checkpoints/latest)' })
    .option('checkpoint', { type: 'string', describe: 'checkpoint directory (or a run directory)' })
    .option('config', { type: 'string', describe: 'YAML config (default: the run\'s config.yaml)' })
    .option('set', { type: 'string', array: true, describe: 'override a config key, e.g. --set data.num_images=500' })
    .option('backend', { type: 'string', describe: 'force a backend: tensorflow-gpu, tensorflow, wasm, cpu' })
    .option('plugin', { type: 'string', array: true, describe: 'load an external plugin module' })
    .option('image-size', { type: 'number', describe: 'eval crop size (default: views.global_crop_size, else 224)' })
    .option('max-train', { type: 'number', describe: 'use at most N train images (class-balanced subset)' })
    .option('max-test', { type: 'number', describe: 'use at most N test images (class-balanced subset)' })
    .option('random-init', { type: 'boolean', describe: 'evaluate the same architecture untrained (the baseline)' })
    .option('precise-bn', {
      type: 'number',
      describe: "recompute the backbone's BatchNorm statistics on N train images (eval transform) before evaluating; needed for a fair random-init floor (its BN is the identity)",
    })
    .option('backbone', { type: 'string', describe: 'with --weights: the backbone plugin (replaces the config\'s; options via --set backbone.k=v)' }) as unknown as Argv<T>;
}

export interface EvalSetup {
  config: ResolvedConfig;
  /** The method's evaluable backbone (SSLMethod.evaluableBackbone). */
  backbone: Backbone;
  /** Prefix of its weights in model.safetensors (e.g. `student.backbone.`). */
  prefix: string;
  /** Checkpoint the weights came from; null with --random-init. */
  checkpointDir: string | null;
  /** Training step of that checkpoint (state.json), or null. */
  step: number | null;
  /** The foreign weights file evaluated (--weights or the config's backbone.weights), or null. */
  weights: string | null;
  /** Where to write results (--run), or null. */
  runDir: string | null;
  train: Dataset;
  test: Dataset;
  numClasses: number;
  imageSize: number;
  trainIndices: number[];
  testIndices: number[];
}

export function positiveInt(name: string, v: number | undefined): void {
  if (v !== undefined && !(Number.isInteger(v) && v > 0)) throw new EvalInputError(`--${name} must be a positive integer, got ${v}`);
}

/**
 * Config, backbone (weights loaded unless --random-init), backend and both dataset splits from
 * the flags shared by `knn` and `linear`.
 */
export async function prepareEval(args: EvalArgs): Promise<EvalSetup> {
  loadPlugins(args.plugin);
  if (args.run && args.checkpoint) throw new EvalInputError('give either --run or --checkpoint, not both');
  if (!args.run && !args.checkpoint && !args.weights && !args['random-init'] && args.config) {
    args = { ...args, ...weightsFlagsFromConfig(args.config, args.set) }; // the config's backbone.weights
  }
  if (args.weights && (args.checkpoint || args['random-init'])) throw new EvalInputError('--weights evaluates a weights file: leave out --checkpoint and --random-init');
  if (args.weights && !args.config && !args.run) throw new EvalInputError('--weights needs --config FILE for the data (and views) to evaluate on');
  if (!args.run && !args.checkpoint && !args.weights && !(args['random-init'] && args.config)) {
    throw new EvalInputError('name what to evaluate: --run DIR or --checkpoint DIR (or --random-init --config FILE, --weights FILE --config FILE, a --config FILE with backbone.weights)');
  }
  for (const n of ['image-size', 'max-train', 'max-test'] as const) positiveInt(n, args[n]);
  const preciseBn = args['precise-bn'] ?? 0;
  if (!(Number.isInteger(preciseBn) && preciseBn >= 0)) throw new EvalInputError(`--precise-bn must be a whole number of images (0: off), got ${preciseBn}`);

  const runDir = args.run ? path.resolve(args.run) : null;
  if (runDir && !fs.existsSync(runDir)) throw new EvalInputError(`--run ${runDir}: no such directory`);
  let checkpointDir: string | null = null;
  const source = runDir ?? (args.checkpoint ? path.resolve(args.checkpoint) : null);
  if (source) {
    try {
      // With --random-init a checkpoint is only a place to find the config: none is fine.
      checkpointDir = CheckpointStore.resolve(source, !args['random-init'] && !args.weights);
    } catch (e) {
      if (e instanceof CheckpointError) throw new EvalInputError(e.message);
      throw e;
    }
  }
  const state = checkpointDir ? readState(checkpointDir) : null;

  // Config: --config, else the run's config.yaml, else the one saved in the checkpoint.
  let doc: Record<string, unknown>;
  if (args.config) doc = loadConfigFile(args.config);
  else if (runDir && fs.existsSync(path.join(runDir, 'config.yaml'))) doc = loadConfigFile(path.join(runDir, 'config.yaml'));
  else if (state && isObject(state.config)) doc = state.config;
  else if (source && fs.existsSync(path.join(path.dirname(path.dirname(source)), 'config.yaml'))) {
    doc = loadConfigFile(path.join(path.dirname(path.dirname(source)), 'config.yaml'));
  } else {
    throw new EvalInputError(`no config found for ${source}: pass --config FILE`);
  }
  doc = withoutInitialWeights(doc); // weights come from the checkpoint or --weights
  if (args.backbone) doc = { ...doc, backbone: { name: args.backbone } };
  for (const s of args.set ?? []) doc = applySet(doc, s);
  const config = resolveConfig(doc);

  const backend = await selectBackend(args.backend);
  process.stderr.write(`sslight: using backend '${backend.name}' (${backend.reason})\n`);

  // The method names its backbone and where the checkpoint keeps it, so any method (built in or
  // --plugin) can be evaluated; foreign weights (--weights) go into the config's backbone instead.
  let backbone: Backbone;
  let prefix: string;
  if (args.weights) {
    backbone = registry.get('backbone', config.backbone.name).create(config.backbone.options, {
      rng: new Rng(config.trainer.seed),
    });
    applyWeightsFlags(backbone as unknown as Module, args);
    prefix = args['weights-prefix'] ?? '';
  } else {
    ({ module: backbone, prefix } = buildEvaluableBackbone(config));
    if (checkpointDir && !args['random-init']) loadBackboneWeights(backbone, checkpointDir, prefix);
  }

  const datasetDef = registry.get('dataset', config.data.name);
  const train = datasetDef.create(config.data.options, { split: 'train' });
  const test = datasetDef.create(config.data.options, { split: 'test' });
  const numClasses = train.classNames.length;
  if (test.classNames.length !== numClasses || test.classNames.some((c, i) => c !== train.classNames[i])) {
    throw new EvalInputError(
      `dataset '${config.data.name}': the test split's classes (${test.classNames.join(', ')}) differ from the train split's (${train.classNames.join(', ')})`,
    );
  }
  const gc = config.views.options.global_crop_size;
  const imageSize = args['image-size'] ?? (typeof gc === 'number' ? gc : 224);
  if (preciseBn > 0) await preciseBatchNorm(backbone, train, preciseBn, imageSize);
  return {
    config,
    backbone,
    prefix,
    checkpointDir: args['random-init'] || args.weights ? null : checkpointDir,
    step: !args['random-init'] && !args.weights && state && typeof state.step === 'number' ? state.step : null,
    weights: args.weights ?? null,
    runDir,
    train,
    test,
    numClasses,
    imageSize,
    trainIndices: balancedSubset(train.length, (i) => train.labelOf(i), args['max-train']),
    testIndices: balancedSubset(test.length, (i) => test.labelOf(i), args['max-test']),
  };
}

/** The BN statistics of `backbone` averaged over `n` class-balanced train images (eval transform). */
async function preciseBatchNorm(backbone: Backbone, train: Dataset, n: number, imageSize: number): Promise<void> {
  const subset = balancedSubset(train.length, (i) => train.labelOf(i), n);
  const loader = new ImageLoader(train, {
    size: imageSize,
    mode: 'eval',
    batchSize: Math.min(64, subset.length),
    cropFraction: EVAL_CROP_FRACTION,
    subset,
    onSkip: (source, reason) => process.stderr.write(`sslight: skipping unreadable image ${source}: ${reason}\n`),
  });
  const bar = progress('BN statistics', subset.length, { unit: 'img' });
  let done = 0;
  async function* counted() {
    for await (const b of loader.batches()) {
      yield b;
      done += b.labels.length;
      bar.update(done);
    }
  }
  const r = await recomputeBatchNormStats(backbone as unknown as Module & Backbone, counted());
  bar.done(`(${r.layers} BatchNorm layers, ${r.images} images)`);
}

/** Load the `<prefix>*` entries of model.safetensors (the method's evaluable backbone) into `backbone`. */
export function loadBackboneWeights(backbone: Backbone, checkpointDir: string, prefix: string): string {
  const file = path.join(checkpointDir, 'model.safetensors');
  if (!fs.existsSync(file)) throw new EvalInputError(`missing ${file} (the checkpoint's weights)`);
  let tensors;
  try {
    tensors = decodeSafetensors(fs.readFileSync(file)).tensors;
  } catch (e) {
    throw new CheckpointError(`${file} is corrupt: ${(e as Error).message}`);
  }
  const keys = [...tensors.keys()];
  if (!keys.some((k) => k.startsWith(prefix))) {
    const found = [...new Set(keys.map((k) => k.split('.').slice(0, 2).join('.') + '.*'))].join(', ') || 'none';
    throw new EvalInputError(
      `${file} holds no backbone weights under '${prefix}' (where the config's method keeps its evaluable backbone; found ${found})`,
    );
  }
  // A NaN weight would make the evaluation report chance with no word of why.
  const own = new Map([...tensors].filter(([k]) => k.startsWith(prefix)));
  assertFiniteTensors(own, file);
  try {
    loadModuleStateDict(backbone, tensors, { strict: true, prefix });
  } catch (e) {
    throw new EvalInputError(`${file} (${prefix}*) does not fit the config's backbone: ${(e as Error).message}`);
  }
  return prefix;
}

interface StateJson {
  step?: unknown;
  config?: unknown;
}

function readState(dir: string): StateJson {
  const file = path.join(dir, 'state.json');
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as StateJson;
  } catch (e) {
    throw new CheckpointError(`${file} is unreadable: ${(e as Error).message}`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** What every evaluation result records about what it evaluated, and how. */
export interface EvalProvenance {
  numClasses: number;
  imageSize: number;
  randomInit: boolean;
  /** Train images the BN statistics were recomputed on before evaluating (0: the checkpoint's). */
  preciseBn: number;
  checkpoint: string | null;
  step: number | null;
  backbone: string;
  /** The --weights file evaluated, or null for a run's checkpoint. */
  weights: string | null;
}

export function evalProvenance(setup: EvalSetup, args: EvalArgs): EvalProvenance {
  return {
    numClasses: setup.numClasses,
    imageSize: setup.imageSize,
    randomInit: !!args['random-init'],
    preciseBn: args['precise-bn'] ?? 0,
    checkpoint: setup.checkpointDir,
    step: setup.step,
    backbone: setup.config.backbone.name,
    weights: setup.weights,
  };
}

/** 'random init', 'weights FILE' or 'step N': what a summary line says was evaluated. */
export function describeEvaluated(p: EvalProvenance): string {
  const what = p.randomInit ? 'random init' : p.weights ? `weights ${p.weights}` : `step ${p.step ?? '?'}`;
  return p.preciseBn > 0 ? `${what}, BN statistics of ${p.preciseBn} train images` : what;
}

/** The chosen test images with the eval transform (centre crop, normalise), 64 per batch. */
export function testImages(setup: EvalSetup): ImageLoader {
  return new ImageLoader(setup.test, {
    size: setup.imageSize,
    mode: 'eval',
    batchSize: Math.min(64, setup.testIndices.length),
    cropFraction: EVAL_CROP_FRACTION,
    subset: setup.testIndices,
  });
}

/** Print the one-line summary and, for a run directory, write `<kind>.json` (or `<kind>_random_init.json`). */
export function reportEval(setup: EvalSetup, kind: string, result: { randomInit: boolean }, summary: string): void {
  console.log(summary);
  if (!setup.runDir) return;
  const file = path.join(setup.runDir, result.randomInit ? `${kind}_random_init.json` : `${kind}.json`);
  fs.writeFileSync(file, JSON.stringify(result, null, 1) + '\n');
  process.stderr.write(`sslight: wrote ${file}\n`);
}
