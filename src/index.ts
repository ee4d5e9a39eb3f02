/**
 * sslight's public API: what plugin authors and scripts import (`require('sslight')`).
 * Built-in plugins are registered by importing `sslight/dist/src/run/builtins`.
 *
 * This file is the package entry, not part of src/core: it may re-export pieces of plugins/
 * (the method base and its building blocks in plugins/methods/common) and data/ (transforms),
 * which src/core itself never imports. docs/plugins.md walks through writing each plugin kind.
 */
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';

// The tfjs-core instance sslight runs on, and zod for option schemas: plugins use these so their
// tensors and schemas come from the same copies as sslight's.
export { tf, z };

// ---------------------------------------------------------------- core
export * from './core/interfaces';
export { registerPlugin, registry, PluginRegistry, PLUGIN_KINDS } from './core/registry';
export type { PluginDef, PluginKind, PluginKinds } from './core/registry';
export type { PluginApi } from './core/plugin_loader';
export { loadPluginModule } from './core/plugin_loader';
export { loadConfig, loadConfigFile, resolveConfig, applySet } from './core/config';
export type { ResolvedConfig, TrainerOptions } from './core/config';
export { EventBus, ofType } from './core/events';
export type { TrainerEvent, TrainerEventType, EventOf } from './core/events';
export { Trainer, InterruptedError } from './core/trainer';
export { CheckpointStore } from './core/checkpoint';
export { stopRequested, throwIfStopRequested } from './core/signals';
export { selectBackend, probeBackends } from './core/backend';
export { Rng } from './core/rng';
export * from './core/errors';
export { cosineSchedule, cosineScheduleAt, CosineSchedule, teacherTempAt, teacherTempSchedule } from './core/schedules';

// ---------------------------------------------------------------- networks (backbone and head authors)
export { Module } from './nn/module';
export type { Parameter, ParamKind, TorchLayout } from './nn/module';
export { Linear, type LinearOptions } from './nn/linear';
export { Conv2d, type Conv2dOptions } from './nn/conv2d';
export { BatchNorm1d, BatchNorm2d, type BatchNormOptions } from './nn/batchnorm';
export { LayerNorm, type LayerNormOptions } from './nn/layernorm';
export { ModuleList } from './nn/container';
export { Sequential, buildMlp, type Layer2D, type MlpOptions } from './nn/sequential';
export { relu, relu6, gelu } from './nn/activations';
export { globalAvgPool, maxPool2d } from './nn/pool';
export { meanOverLeading, meanOverHW } from './nn/reduce';
export { zeros, ones, constant, uniform, normal, kaimingNormal, kaimingUniform, truncNormal, torchDefaultBias } from './nn/init';
export { moduleStateDict, loadModuleStateDict } from './nn/state_dict';
export { ensureGradients } from './nn/gradients';
// torch.no_grad: run a target network's forward off the gradient tape.
export { noGrad } from './kernels/no_grad';

// ---------------------------------------------------------------- methods (plugins/methods/common)
export {
  MethodBase,
  type MethodLoss,
  MultiCropNetwork,
  multiCropFeatures,
  networkMaker,
  type MultiCropHead,
  EmaUpdater,
  emaUpdate,
  emaTarget,
  pairWeights,
  pairCounts,
  equivalentAlpha,
  allGlobals,
  weightedPairLoss,
  pairBlockMeans,
  l2Normalize,
  normAlong,
  stopGradient,
  koleoLoss,
} from '../plugins/methods/common';

// ---------------------------------------------------------------- view samplers (data/transforms)
export * from '../data/transforms';

// ---------------------------------------------------------------- running
export { buildRunContainer, createTrainer } from './run/compose';
export { buildEvaluableBackbone } from './run/evaluable';
export { MetricStore, HistoryBuffer } from './core/metric_store';
export type { MetricGroup, MetricPoint } from './core/metric_store';
export { publishImage } from './core/images';
export { encodePng } from './core/png';
export { progress, ProgressReporter, setQuiet, isQuiet } from './core/progress';
export { loadWeightsInto, readWeightsFile, WeightsError } from './nn/weights';
export type { LoadWeightsOptions, WeightsReport } from './nn/weights';
export { readTorchFile, TorchTensor } from './nn/pth/torch_file';
