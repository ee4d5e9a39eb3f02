export { ViewLoader, type ViewLoaderOptions, type SkipHandler } from './loader';
export { makeViewBatch, toViewBatch, type HostBatch } from './host_batch';
export { deriveRng, seedState } from './seed';
export * from './datasets';
export * from './transforms';
export { ImageLoader, type ImageBatch, type ImageLoaderOptions } from './image_loader';
export { ReadableItems, forEachLimited } from './readable';
