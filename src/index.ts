/**
 * sslight's public API: what plugin authors and scripts import (`require('sslight')`).
 * Built-in plugins are registered by importing `sslight/dist/src/run/builtins`.
 */
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
export { selectBackend, probeBackends } from './core/backend';
export { Rng } from './core/rng';
export * from './core/errors';
export { cosineSchedule, CosineSchedule } from './core/schedules';
export { Module } from './nn/module';
export type { Parameter, ParamKind } from './nn/module';
export { buildRunContainer, createTrainer } from './run/compose';
export { loadWeightsInto, readWeightsFile, WeightsError } from './nn/weights';
export type { LoadWeightsOptions, WeightsReport } from './nn/weights';
export { readTorchFile, TorchTensor } from './nn/pth/torch_file';
