import type { Callback } from '../../src/core/interfaces';
import type { EventBus } from '../../src/core/events';
import { publishImage } from '../../src/core/images';
import { decodeImage } from '../../data/datasets/decode';
import { singleImageBatch } from '../data/single_image';
import type { MaskRcnn } from '../modeling/meta_arch/mask_rcnn';
import { toOriginalImage } from '../postprocess/results';
import { renderDetectionsPng } from '../postprocess/draw';
import type { CocoDetectionDataset } from '../data/coco_dataset';
import type { DetectionConfig } from './config';
import { inferTidy } from './evaluate';

/** What the hook draws with, resolved when training ends (the composition root provides it). */
export interface PictureParts {
  dataset: CocoDetectionDataset;
  model: MaskRcnn;
  config: DetectionConfig;
  classNames: string[];
  events: EventBus;
}

/**
 * A hook that, at the end of training, draws the detector's detections on the first training
 * image and publishes them as an `image` event (`detections`), so TensorBoard and the dashboard
 * show what the detector finds. A picture is not worth failing the run over: an unreadable image
 * is skipped.
 */
export function detectionPicturesHook(parts: () => PictureParts, o: { scoreThreshold?: number } = {}): Callback {
  return {
    name: 'detection-pictures',
    afterTrain: async (run) => {
      if (!run.runDir) return;
      const { dataset, model, config, classNames, events } = parts();
      if (dataset.length === 0) return;
      const image = await decodeImage(dataset.record(0).file).catch(() => null);
      if (!image) return;
      const batch = singleImageBatch(image, { shortEdge: config.data.min_size_test, maxSize: config.data.max_size_test });
      const wasTraining = model.training;
      model.eval();
      try {
        const [det] = inferTidy(model, batch.images, batch.imageSizes);
        const r = toOriginalImage(det, batch.imageSizes[0], [image.height, image.width]);
        const { png } = await renderDetectionsPng(image, r, { classNames, scoreThreshold: o.scoreThreshold ?? 0.5 });
        publishImage(events, {
          runDir: run.runDir,
          tag: 'detections',
          step: run.step(),
          image: { png, width: image.width, height: image.height },
        });
      } finally {
        model.train(wasTraining);
        batch.dispose();
      }
    },
  };
}
