/**
 * A detector over a COCO-format set, evaluated with our COCOeval: `bbox` and `segm` AP, the
 * printed table, and (with outDir) metrics.json + coco_instances_results.json.
 */
import * as tf from '@tensorflow/tfjs-core';
import { CocoDetectionDataset } from '../data/coco_dataset';
import { DetectionLoader } from '../data/loader';
import type { MaskRcnn } from '../modeling/meta_arch/mask_rcnn';
import type { Detections } from '../modeling/roi_heads/roi_heads';
import { detectAll } from '../postprocess/detect_all';
import { evaluateAndReport, type DetectionMetrics } from '../postprocess/evaluate';

export interface EvaluateOptions {
  annotations: string;
  images: string;
  minSize: number;
  maxSize: number;
  batchSize?: number;
  outDir?: string;
  log?: (line: string) => void;
  extra?: Record<string, unknown>;
  onBatch?: (done: number, total: number) => void;
}

/** Runs the model in eval mode over every image (restoring its mode after) and evaluates. */
export async function evaluateDetector(model: MaskRcnn, o: EvaluateOptions): Promise<DetectionMetrics> {
  const dataset = new CocoDetectionDataset({ annotations: o.annotations, images: o.images, filterEmpty: false });
  const loader = new DetectionLoader(dataset, { mode: 'test', batchSize: o.batchSize ?? 1, minSizes: o.minSize, maxSize: o.maxSize });
  const wasTraining = model.training;
  model.eval();
  try {
    const { results, imageIds } = await detectAll(loader, dataset, (b) => inferTidy(model, b.images, b.imageSizes), { onBatch: o.onBatch });
    return evaluateAndReport(dataset.coco, results, { outDir: o.outDir, log: o.log, imgIds: imageIds, extra: o.extra });
  } finally {
    loader.dispose();
    model.train(wasTraining);
  }
}

/** model.inference with every intermediate tensor released (its outputs are host arrays). */
export function inferTidy(model: MaskRcnn, images: tf.Tensor4D, imageSizes: Array<[number, number]>): Detections[] {
  let out: Detections[] = [];
  tf.tidy(() => {
    out = model.inference(images, imageSizes);
  });
  return out;
}
