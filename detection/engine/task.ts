/**
 * Mask R-CNN as a task of the one training loop (src/core/trainer.ts): the loss of a
 * DetectionBatch is the sum of the five Detectron2 terms, each reported in `step:end`.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { JsonState, StepContext, TaskLoss, TrainTask } from '../../src/core/interfaces';
import type { RngState } from '../../src/core/rng';
import type { Module } from '../../src/nn/module';
import { deriveRng } from '../../data/seed';
import type { MaskRcnn } from '../modeling/meta_arch/mask_rcnn';
import type { DetectionBatch } from '../data/types';

/** What a detector needs to turn classes 1..K back into dataset categories (saved in checkpoints). */
export interface DetectionCategories {
  /** COCO category id of class k is catIds[k - 1]. */
  catIds: number[];
  names: string[];
}

export class MaskRcnnTask implements TrainTask<DetectionBatch> {
  readonly name = 'mask_rcnn';

  /**
   * `samplingBase`: the RPN / RoI sampling of step s draws from deriveRng(samplingBase, s), so a
   * resumed run samples exactly what an uninterrupted one did, with no generator state to save.
   */
  constructor(
    readonly model: MaskRcnn,
    private readonly samplingBase: RngState,
    public categories: DetectionCategories | null = null,
  ) {
    model.train();
  }

  /** Saved as `model.*` in model.safetensors, under torchvision's Mask R-CNN names. */
  studentModules(): Record<string, Module> {
    return { model: this.model };
  }

  targetModules(): Record<string, Module> {
    return {};
  }

  loss(batch: DetectionBatch, ctx: StepContext): TaskLoss {
    const rng = deriveRng(this.samplingBase, ctx.step);
    const l = this.model.forwardTrain(batch.images, batch.imageSizes, batch.targets, rng) as unknown as Record<string, tf.Scalar>;
    const terms: Record<string, tf.Scalar> = {};
    for (const [k, v] of Object.entries(l)) if (v) terms[k] = v;
    return { total: tf.addN(Object.values(terms)) as tf.Scalar, terms };
  }

  jsonState(): JsonState {
    return this.categories ? { categories: this.categories } : {};
  }

  loadJsonState(state: JsonState): void {
    const c = state.categories as DetectionCategories | undefined;
    if (c && Array.isArray(c.catIds) && Array.isArray(c.names)) this.categories = c;
  }
}
