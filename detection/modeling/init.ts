import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../../src/core/rng';
import { normal, uniform } from '../../src/nn/init';

/**
 * Detectron2's initialisers (fvcore.nn.weight_init), applied to a layer's weight variable after
 * construction. Fans come from the torch-layout shape, which for our layouts is:
 * conv / transposed conv HWIO-like [kh, kw, a, b] -> fan_in a*kh*kw, fan_out b*kh*kw (as torch
 * computes them from [b, a, kh, kw]); linear [in, out].
 */
interface Weighted {
  weight: tf.Variable;
  bias: tf.Variable | null;
}

function fans(w: tf.Variable): { fanIn: number; fanOut: number } {
  const s = w.shape as number[];
  if (s.length === 2) return { fanIn: s[0], fanOut: s[1] };
  return { fanIn: s[2] * s[0] * s[1], fanOut: s[3] * s[0] * s[1] };
}

function assignDisposing(v: tf.Variable, t: tf.Tensor): void {
  v.assign(t);
  t.dispose();
}

function setBiasZero(layer: Weighted): void {
  if (layer.bias) assignDisposing(layer.bias, tf.zerosLike(layer.bias));
}


/** c2_xavier_fill: kaiming_uniform(a=1) = U(+-sqrt(3 / fan_in)), bias 0 (FPN convs, box head fcs). */
export function c2XavierFill(layer: Weighted, rng: Rng): void {
  const b = Math.sqrt(3 / fans(layer.weight).fanIn);
  assignDisposing(layer.weight, uniform(layer.weight.shape, -b, b, rng));
  setBiasZero(layer);
}

/** c2_msra_fill: kaiming_normal(fan_out, relu) = N(0, 2 / fan_out), bias 0 (mask head convs, deconv). */
export function c2MsraFill(layer: Weighted, rng: Rng): void {
  const std = Math.sqrt(2 / fans(layer.weight).fanOut);
  assignDisposing(layer.weight, normal(layer.weight.shape, std, rng));
  setBiasZero(layer);
}

/** N(0, std^2) weight, bias 0 (RPN head std 0.01; box predictor 0.01 / 0.001; mask predictor 0.001). */
export function normalFill(layer: Weighted, std: number, rng: Rng): void {
  assignDisposing(layer.weight, normal(layer.weight.shape, std, rng));
  setBiasZero(layer);
}
