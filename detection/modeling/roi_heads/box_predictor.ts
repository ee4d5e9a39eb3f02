import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../../../src/core/rng';
import { Module } from '../../../src/nn/module';
import { Linear } from '../../../src/nn/linear';
import { normalFill } from '../init';

/**
 * torchvision's FastRCNNPredictor: `cls_score` to K + 1 logits (index 0 background) and
 * `bbox_pred` to class-specific deltas for all K + 1 classes ([R, (K + 1) * 4], class c at
 * 4c..4c+3; the background row is never trained or used, kept so torchvision weights load).
 * Detectron2's init: N(0, 0.01^2) for the scores, N(0, 0.001^2) for the deltas, zero biases.
 */
export class BoxPredictor extends Module {
  readonly clsScore: Linear;
  readonly bboxPred: Linear;

  constructor(inDim: number, readonly numClasses: number, rng: Rng) {
    super();
    this.clsScore = this.addModule('cls_score', new Linear(inDim, numClasses + 1, rng));
    this.bboxPred = this.addModule('bbox_pred', new Linear(inDim, (numClasses + 1) * 4, rng));
    normalFill(this.clsScore, 0.01, rng);
    normalFill(this.bboxPred, 0.001, rng);
  }

  forward(x: tf.Tensor2D): { classLogits: tf.Tensor2D; boxDeltas: tf.Tensor2D } {
    return { classLogits: this.clsScore.forward(x), boxDeltas: this.bboxPred.forward(x) };
  }
}
