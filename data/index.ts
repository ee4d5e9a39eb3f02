export { ViewLoader, type ViewLoaderOptions, type SkipHandler } from './loader';
export { toViewBatch, type HostBatch } from './host_batch';
export { deriveRng, seedState } from './seed';
export * from './datasets';
export * from './transforms';
