/**
 * Runs a detector over every image of an evaluation loader and collects COCO result records in
 * the original images' coordinates (what `evaluateDetections` and a results JSON want).
 */
import type { CocoResult } from '../coco/types';
import type { CocoDetectionDataset } from '../data/coco_dataset';
import type { DetectionLoader } from '../data/loader';
import type { DetectionBatch } from '../data/types';
import { toCocoResults, toOriginalImage, type Detections } from './results';
import { throwIfStopRequested } from '../../src/core/signals';

export type Infer = (batch: DetectionBatch) => Detections[] | Promise<Detections[]>;

export async function detectAll(
  loader: DetectionLoader,
  dataset: CocoDetectionDataset,
  infer: Infer,
  o: { maskThreshold?: number; onBatch?: (done: number, total: number) => void } = {},
): Promise<{ results: CocoResult[]; imageIds: number[] }> {
  const original = new Map<number, [number, number]>();
  for (let i = 0; i < dataset.length; i++) {
    const r = dataset.record(i);
    original.set(r.imageId, [r.height, r.width]);
  }
  const results: CocoResult[] = [];
  const imageIds: number[] = [];
  let done = 0;
  for await (const batch of loader.images()) {
    try {
      // SIGINT / SIGTERM end a long evaluation between images (exit 130 / 143).
      throwIfStopRequested('detection inference');
      const dets = await infer(batch);
      if (dets.length !== batch.batchSize) throw new Error(`detector returned ${dets.length} results for a batch of ${batch.batchSize}`);
      dets.forEach((d, i) => {
        const id = batch.imageIds[i];
        const r = toOriginalImage(d, batch.imageSizes[i], original.get(id)!, o.maskThreshold ?? 0.5);
        results.push(...toCocoResults(id, r, (k) => dataset.catIdOf(k)));
        imageIds.push(id);
      });
    } finally {
      batch.dispose();
    }
    o.onBatch?.(++done, loader.stepsPerEpoch);
  }
  return { results, imageIds };
}
