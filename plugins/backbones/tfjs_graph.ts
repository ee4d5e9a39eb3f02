import type * as tf from '@tensorflow/tfjs-core';
import type { Backbone } from '../../src/core/interfaces';
import { Conv2d } from '../../src/nn/conv2d';
import { BatchNorm2d } from '../../src/nn/batchnorm';
import { LayersGraph, type ConvSpec, type TfjsArtifacts } from '../../src/nn/tfjs_layers';
import { ConvBNAct } from './conv_bn_act';
import { InvertedResidual, MobileNetV2 } from './mobilenetv2';
import { ResNet } from './resnet';

/**
 * The inference form of a backbone as a tfjs LayersModel: NHWC images in, pooled features out,
 * every BatchNorm folded into the convolution before it (each BN follows a conv directly, with
 * no non-linearity between, so conv+BN == conv with scaled kernel and a bias, exactly up to
 * float rounding). MobileNetV2 and the ResNets; ViTs have no tfjs-layers equivalent here.
 */
export function backboneToTfjs(backbone: Backbone, name: string, weightsPath: string): TfjsArtifacts {
  if (backbone instanceof MobileNetV2) return mobileNetV2Graph(backbone, name, weightsPath);
  if (backbone instanceof ResNet) return resNetGraph(backbone, name, weightsPath);
  throw new Error(`tfjs export supports MobileNetV2 and the ResNets, not '${name}'`);
}

interface BnParams {
  gamma: Float32Array | null;
  beta: Float32Array | null;
  mean: Float32Array;
  variance: Float32Array;
  eps: number;
}

function fold(weight: tf.Variable, depthwise: boolean, stride: number, padding: number, bn: BnParams, convBias?: Float32Array): ConvSpec {
  const w = weight.dataSync() as Float32Array;
  const c = bn.mean.length;
  const scale = new Float64Array(c);
  const bias = new Float32Array(c);
  for (let i = 0; i < c; i++) {
    scale[i] = (bn.gamma ? bn.gamma[i] : 1) / Math.sqrt(bn.variance[i] + bn.eps);
    bias[i] = (bn.beta ? bn.beta[i] : 0) + ((convBias ? convBias[i] : 0) - bn.mean[i]) * scale[i];
  }
  // HWIO: the output channel is the last axis; depth-wise [kh, kw, C, 1]: the channel is C, which
  // is also the fastest-varying index because the last axis has size 1.
  const kernel = new Float32Array(w.length);
  for (let i = 0; i < w.length; i++) kernel[i] = w[i] * scale[i % c];
  return { kernel, kernelShape: weight.shape as [number, number, number, number], bias, stride, padding, depthwise };
}

function bnOf(bn: BatchNorm2d): BnParams {
  return {
    gamma: bn.weight ? (bn.weight.dataSync() as Float32Array) : null,
    beta: bn.bias ? (bn.bias.dataSync() as Float32Array) : null,
    mean: bn.runningMean.dataSync() as Float32Array,
    variance: bn.runningVar.dataSync() as Float32Array,
    eps: bn.eps,
  };
}

function convSpec(conv: Conv2d, bn: BatchNorm2d): ConvSpec {
  if (typeof conv.padding !== 'number') throw new Error(`tfjs export: conv padding '${conv.padding}' is not supported`);
  if (conv.dilation !== 1) throw new Error('tfjs export: dilated convolutions are not supported');
  return fold(conv.weight, conv.depthwise, conv.stride, conv.padding, bnOf(bn), conv.bias ? (conv.bias.dataSync() as Float32Array) : undefined);
}

function convBnAct(g: LayersGraph, x: string, name: string, m: ConvBNAct): string {
  const y = g.conv(x, name, convSpec(m.conv, m.bn));
  return m.activation === 'none' ? y : g.activation(y, `${name}_${m.activation}`, m.activation);
}

function mobileNetV2Graph(net: MobileNetV2, name: string, weightsPath: string): TfjsArtifacts {
  const g = new LayersGraph(name);
  let x = g.input;
  let i = 0;
  for (const f of net.features) {
    const base = `features_${i}`;
    if (f instanceof ConvBNAct) {
      x = convBnAct(g, x, base, f);
    } else {
      const block: InvertedResidual = f;
      const items = [...block.conv];
      let y = x;
      items.forEach((m, j) => {
        if (m instanceof ConvBNAct) y = convBnAct(g, y, `${base}_conv_${j}`, m);
        else if (m instanceof Conv2d) {
          const bn = items[j + 1];
          if (!(bn instanceof BatchNorm2d)) throw new Error(`tfjs export: ${base}.conv.${j} is not followed by a BatchNorm2d`);
          y = g.conv(y, `${base}_conv_${j}`, convSpec(m, bn));
        }
      });
      x = block.useResidual ? g.sum(x, y, `${base}_add`) : y;
    }
    i++;
  }
  return g.artifacts(g.globalAvgPool(x, 'avgpool'), weightsPath);
}

/** ResNet keeps its layers private; its state names (torchvision's) say everything needed. */
function resNetGraph(net: ResNet, name: string, weightsPath: string): TfjsArtifacts {
  const state = net.stateTensors();
  const get = (k: string): tf.Variable => {
    const t = state.get(k);
    if (!t) throw new Error(`tfjs export: ResNet has no '${k}'`);
    return t.tensor;
  };
  const bn = (p: string): BnParams => ({
    gamma: get(`${p}.weight`).dataSync() as Float32Array,
    beta: get(`${p}.bias`).dataSync() as Float32Array,
    mean: get(`${p}.running_mean`).dataSync() as Float32Array,
    variance: get(`${p}.running_var`).dataSync() as Float32Array,
    eps: 1e-5, // ResNet builds every BatchNorm2d with the default eps
  });
  const conv = (x: string, c: string, b: string, stride: number): string => {
    const w = get(`${c}.weight`);
    const k = w.shape[0];
    return g.conv(x, c.replace(/\./g, '_'), fold(w, false, stride, (k - 1) >> 1, bn(b)));
  };
  const g = new LayersGraph(name);
  const small = net.smallInput;
  let x = conv(g.input, 'conv1', 'bn1', small ? 1 : 2);
  x = g.activation(x, 'relu', 'relu');
  if (!small) {
    // Zero padding before the max-pool equals torch's -inf padding: its input is >= 0 (after ReLU).
    x = g.maxPool(g.zeroPad(x, 'maxpool_pad', 1), 'maxpool', 3, 2);
  }
  const bottleneck = state.has('layer1.0.conv3.weight');
  for (let i = 1; i <= 4; i++) {
    for (let j = 0; state.has(`layer${i}.${j}.conv1.weight`); j++) {
      const p = `layer${i}.${j}`;
      const stride = j === 0 && i > 1 ? 2 : 1;
      let y: string;
      if (bottleneck) {
        y = g.activation(conv(x, `${p}.conv1`, `${p}.bn1`, 1), `${p}_relu1`.replace(/\./g, '_'), 'relu');
        y = g.activation(conv(y, `${p}.conv2`, `${p}.bn2`, stride), `${p}_relu2`.replace(/\./g, '_'), 'relu');
        y = conv(y, `${p}.conv3`, `${p}.bn3`, 1);
      } else {
        y = g.activation(conv(x, `${p}.conv1`, `${p}.bn1`, stride), `${p}_relu1`.replace(/\./g, '_'), 'relu');
        y = conv(y, `${p}.conv2`, `${p}.bn2`, 1);
      }
      const shortcut = state.has(`${p}.downsample.0.weight`) ? conv(x, `${p}.downsample.0`, `${p}.downsample.1`, stride) : x;
      x = g.activation(g.sum(y, shortcut, `${p}_add`.replace(/\./g, '_')), `${p}_relu`.replace(/\./g, '_'), 'relu');
    }
  }
  return g.artifacts(g.globalAvgPool(x, 'avgpool'), weightsPath);
}
