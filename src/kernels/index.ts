export { registerWasmTrainingKernels, WASM_TRAINING_KERNELS } from './wasm';
export { batchNormTrain } from './batchnorm_train';
export { larsStep, type LarsStepOptions } from './lars_update';
export { nativeKernels, nativeStatus } from './native';
export type { NativeKernels, NativeStatus } from './native';
export { noGrad } from './no_grad';
export { emaAssign } from './ema_update';
