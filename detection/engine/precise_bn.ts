/**
 * Detectron2's PreciseBN for the detector (TEST.PRECISE_BN): before evaluation, the backbone's
 * BatchNorm running statistics are replaced by their average over batches of `numImages`
 * training images in all (the training resize and flip, the config's batch size; Detectron2
 * counts NUM_ITER = 200 batches). Trained at 2 images a step, the running averages (momentum
 * 0.1) hold the statistics of the last ~10 batches only; the average over many batches is what
 * evaluation should normalise with. The batches come from a
 * fixed seed, so `detect eval` of a checkpoint reproduces the end-of-training numbers.
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { recomputeBatchNormStats, type PreciseBnResult } from '../../src/eval/precise_bn';
import type { LabelledImageBatch } from '../../src/eval/features';
import { CocoDetectionDataset } from '../data/coco_dataset';
import { DetectionLoader } from '../data/loader';
import type { MaskRcnn } from '../modeling/meta_arch/mask_rcnn';
import { trainLoaderOptions, type DetectionConfig } from './config';

export async function preciseBnDetector(model: MaskRcnn, config: DetectionConfig, numImages: number): Promise<PreciseBnResult> {
  if (numImages <= 0 || config.model.backbone.freeze_bn) return { layers: 0, images: 0 };
  const batchSize = Math.max(2, config.trainer.batch_size); // one image gives BatchNorm no batch statistics
  const numIter = Math.ceil(numImages / batchSize);
  const dataset = new CocoDetectionDataset({ annotations: path.resolve(config.data.train.annotations), images: path.resolve(config.data.train.images) });
  const loader = new DetectionLoader(dataset, trainLoaderOptions(config, batchSize), config.trainer.seed);
  async function* batches(): AsyncGenerator<LabelledImageBatch> {
    let n = 0;
    for (let epoch = 0; n < numIter && loader.stepsPerEpoch > 0; epoch++) {
      for await (const b of loader.batchesForEpoch(epoch)) {
        const images = tf.clone(b.images);
        b.dispose();
        yield { images, labels: new Int32Array(0) };
        if (++n >= numIter) return;
      }
    }
  }
  try {
    return await recomputeBatchNormStats(model.backbone, batches());
  } finally {
    loader.dispose();
  }
}
