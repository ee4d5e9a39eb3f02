import * as tf from '@tensorflow/tfjs-core';
import { Module } from './module';

/** A layer with parameters that maps a [B, C] batch (Linear, BatchNorm1d, ...). */
export interface Layer2D extends Module {
  forward(x: tf.Tensor2D): tf.Tensor2D;
}

/**
 * torch's nn.Sequential for [B, C] MLPs: layers are registered under their torch index, so
 * parameter names match (`mlp.0.weight`, `mlp.3.bias`); a parameter-free activation takes an
 * index too but registers nothing, exactly as in torch's state dicts.
 */
export class Sequential extends Module {
  private readonly layers: Array<(x: tf.Tensor2D) => tf.Tensor2D> = [];

  add(index: number, layer: Layer2D | ((x: tf.Tensor2D) => tf.Tensor2D)): this {
    if (layer instanceof Module) {
      this.addModule(String(index), layer);
      this.layers.push((x) => layer.forward(x));
    } else {
      this.layers.push(layer);
    }
    return this;
  }

  forward(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => this.layers.reduce((h, f) => f(h), x));
  }
}
