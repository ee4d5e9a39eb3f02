// The module system and layers, for `import { Conv2d, BatchNorm2d, ... } from '.../src/nn'`.
export * from './module';
export * from './init';
export * from './linear';
export * from './conv2d';
export * from './conv_transpose2d';
export * from './batchnorm';
export * from './layernorm';
export * from './activations';
export * from './pool';
export * from './reduce';
export * from './container';
export * from './macs';
export * from './gradients';
export * from './layout';
export * from './safetensors';
export * from './state_dict';
