// Weights from other tools: safetensors or torch.save files, found and mapped onto a backbone.
export * from './errors';
export * from './read';
export * from './layouts';
export * from './load';
