import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { nativeKernels } from './native';

/**
 * Training-mode batch normalisation over every axis but the last, with its backward written
 * out: y = (x - mean) * gamma / sqrt(var + eps) + beta, statistics over the batch (biased
 * variance, as torch normalises). On wasm with the native addon it is 3 passes forward and 2
 * backward over the activation (the plain-op version below takes ~13); elsewhere it is the
 * plain-op version, whose reductions are average pooling (fast on wasm, exact on cpu).
 *
 * `onStats` receives the batch mean and biased variance (for running statistics) inside the
 * forward pass; do not keep them past the enclosing tidy.
 */
export function batchNormTrain(
  x: tf.Tensor,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  eps: number,
  onStats?: (mean: tf.Tensor1D, variance: tf.Tensor1D) => void,
): tf.Tensor {
  const c = x.shape[x.rank - 1];
  const m = x.size / c;
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xv, g, b, save] = args as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
    const fused = useNative();
    let y: tf.Tensor;
    let mean: tf.Tensor1D;
    let variance: tf.Tensor1D;
    if (fused) {
      [y, mean, variance] = tf.engine().runKernel(BN_TRAIN, { x: xv, gamma: g, beta: b }, { eps }) as [tf.Tensor, tf.Tensor1D, tf.Tensor1D];
    } else {
      mean = columnMean(xv);
      const centered = tf.sub(xv, mean);
      variance = columnMean(tf.square(centered));
      y = tf.add(tf.mul(centered, tf.mul(tf.rsqrt(tf.add(variance, eps)), g)), b);
    }
    onStats?.(mean, variance);
    save([xv, mean, variance, g]);
    return {
      value: y,
      // In a tidy: tfjs runs a customGrad's gradFunc outside any per-node scope, so without it
      // the fallback's five full-size intermediates of every BN layer would stay allocated until
      // the whole backward pass ends (+1.6 GB of wasm heap for the MobileNetV2 DINO step).
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [sx, smean, svar, sg] = saved;
          if (fused && useNative()) {
            return tf.engine().runKernel(BN_TRAIN_GRAD, { dy, x: sx, mean: smean, variance: svar, gamma: sg }, { eps }) as tf.Tensor[];
          }
          const inv = tf.rsqrt(tf.add(svar, eps));
          const cen = tf.sub(sx, smean);
          const meanDy = columnMean(dy);
          const meanDyXhat = tf.mul(columnMean(tf.mul(dy, cen)), inv); // mean(dy * xhat)
          const k = tf.mul(sg, inv);
          const dx = tf.sub(tf.mul(tf.sub(dy, meanDy), k), tf.mul(cen, tf.mul(k, tf.mul(inv, meanDyXhat))));
          return [dx, tf.mul(meanDyXhat, m), tf.mul(meanDy, m)];
        }),
    };
  });
  return op(x, gamma, beta);
}

/** Mean over all axes but the last as one average pooling over [1, M, 1, C]. */
function columnMean(t: tf.Tensor): tf.Tensor1D {
  const c = t.shape[t.rank - 1];
  const m = t.size / c;
  return tf.reshape(tf.avgPool(tf.reshape(t, [1, m, 1, c]) as tf.Tensor4D, [m, 1], [m, 1], 'valid'), [c]);
}

const BN_TRAIN = 'SslightBatchNormTrain';
const BN_TRAIN_GRAD = 'SslightBatchNormTrainGrad';

function useNative(): boolean {
  const n = nativeKernels();
  return tf.getBackend() === 'wasm' && !!n?.bnTrain && !!n.bnTrainGrad && tf.getKernel(BN_TRAIN, 'wasm') != null;
}

function heapOf(backend: BackendWasm): ArrayBuffer {
  return (backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8.buffer as ArrayBuffer;
}

/** Registers the wasm kernels batchNormTrain uses with the native addon. Idempotent. */
export function registerBatchNormKernels(): void {
  if (tf.getKernel(BN_TRAIN, 'wasm')) return;
  tf.registerKernel({
    kernelName: BN_TRAIN,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const be = backend as BackendWasm;
      const { x, gamma, beta } = inputs as Record<string, tf.TensorInfo>;
      const c = x.shape[x.shape.length - 1];
      const y = be.makeOutput(x.shape.slice(), 'float32');
      const mean = be.makeOutput([c], 'float32');
      const variance = be.makeOutput([c], 'float32');
      const offs = [x, gamma, beta, y, mean, variance].map((t) => be.getMemoryOffset(t.dataId));
      nativeKernels()?.bnTrain?.(heapOf(be), offs, tf.util.sizeFromShape(x.shape) / c, c, (attrs as { eps: number }).eps);
      return [y, mean, variance];
    },
  });
  tf.registerKernel({
    kernelName: BN_TRAIN_GRAD,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const be = backend as BackendWasm;
      const { dy, x, mean, variance, gamma } = inputs as Record<string, tf.TensorInfo>;
      const c = x.shape[x.shape.length - 1];
      const dx = be.makeOutput(x.shape.slice(), 'float32');
      const dgamma = be.makeOutput([c], 'float32');
      const dbeta = be.makeOutput([c], 'float32');
      const offs = [dy, x, mean, variance, gamma, dx, dgamma, dbeta].map((t) => be.getMemoryOffset(t.dataId));
      nativeKernels()?.bnTrainGrad?.(heapOf(be), offs, tf.util.sizeFromShape(x.shape) / c, c, (attrs as { eps: number }).eps);
      return [dx, dgamma, dbeta];
    },
  });
}
