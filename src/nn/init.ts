import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../core/rng';

/**
 * Weight initialisers. Values are drawn from our seeded `Rng` into a Float32Array in row-major
 * order of the requested shape, then wrapped with `tf.tensor`, so a seed gives the same weights on
 * every backend. The formulas are PyTorch's (torch.nn.init / timm trunc_normal_); the random
 * streams are ours, so values differ from torch's but the distributions match.
 */

function sizeOf(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function fill(shape: number[], draw: () => number): tf.Tensor {
  const data = new Float32Array(sizeOf(shape));
  for (let i = 0; i < data.length; i++) data[i] = draw();
  return tf.tensor(data, shape, 'float32');
}

export function zeros(shape: number[]): tf.Tensor {
  return tf.zeros(shape, 'float32');
}

export function ones(shape: number[]): tf.Tensor {
  return tf.ones(shape, 'float32');
}

export function constant(shape: number[], value: number): tf.Tensor {
  return tf.fill(shape, value, 'float32');
}

/** U(lo, hi). */
export function uniform(shape: number[], lo: number, hi: number, rng: Rng): tf.Tensor {
  return fill(shape, () => rng.range(lo, hi));
}

/** N(mean, std^2). */
export function normal(shape: number[], std: number, rng: Rng, mean = 0): tf.Tensor {
  return fill(shape, () => mean + std * rng.normal());
}

/**
 * torch.nn.init.kaiming_normal_(w, mode, nonlinearity='relu'): N(0, 2 / fan). torchvision's
 * ResNet and MobileNetV2 use mode='fan_out' for every conv.
 */
export function kaimingNormal(shape: number[], fan: number, rng: Rng): tf.Tensor {
  return normal(shape, Math.sqrt(2) / Math.sqrt(fan), rng);
}

/**
 * PyTorch's default Linear/Conv weight init, kaiming_uniform_(a=sqrt(5)): the gain
 * sqrt(2 / (1 + 5)) times sqrt(3 / fan_in) gives U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
 */
export function kaimingUniform(shape: number[], fanIn: number, rng: Rng): tf.Tensor {
  const bound = 1 / Math.sqrt(fanIn);
  return uniform(shape, -bound, bound, rng);
}

/** PyTorch's default bias init for Linear/Conv: U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
export function torchDefaultBias(shape: number[], fanIn: number, rng: Rng): tf.Tensor {
  const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
  return uniform(shape, -bound, bound, rng);
}

export interface TruncNormalOptions {
  std?: number;
  mean?: number;
  /** Absolute bounds, as in timm/DINO's trunc_normal_(w, std=.02) whose defaults are a=-2, b=2. */
  a?: number;
  b?: number;
}

/**
 * Truncated normal by rejection: redraw until the value lies in [a, b]. DINO's heads use
 * trunc_normal_(std=0.02) with the default absolute bounds [-2, 2] (i.e. ±100 std, which in
 * practice never truncates); narrower bounds work the same way.
 */
export function truncNormal(shape: number[], rng: Rng, opts: TruncNormalOptions = {}): tf.Tensor {
  const { std = 0.02, mean = 0, a = -2, b = 2 } = opts;
  if (!(a < b)) throw new Error(`truncNormal: need a < b, got [${a}, ${b}]`);
  // Rejection needs some mass inside [a, b]; refuse bounds more than 6 std away from the mean.
  if ((a - mean) / std > 6 || (b - mean) / std < -6) {
    throw new Error(`truncNormal: [${a}, ${b}] has no mass under N(${mean}, ${std}^2)`);
  }
  return fill(shape, () => {
    for (;;) {
      const v = mean + std * rng.normal();
      if (v >= a && v <= b) return v;
    }
  });
}

/**
 * fan_in / fan_out as torch computes them from a torch-layout weight shape
 * [out, in / groups, ...kernel]: fan_in = in/groups * prod(kernel), fan_out = out * prod(kernel).
 */
export function torchFans(torchShape: number[]): { fanIn: number; fanOut: number } {
  if (torchShape.length < 2) throw new Error(`torchFans: need at least 2 dims, got [${torchShape}]`);
  const receptive = sizeOf(torchShape.slice(2));
  return { fanIn: torchShape[1] * receptive, fanOut: torchShape[0] * receptive };
}
