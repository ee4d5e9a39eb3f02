import * as fs from 'fs';
import * as path from 'path';
import YAML from 'yaml';
import { writeShapesDataset } from '../../../detection/data/shapes';

/**
 * The tiny detector of the CI test: MobileNetV2 x0.35, C2-C5 -> P2-P5 at 32 channels, anchors
 * 12-96, small heads (16 RoIs per image, half positive; fc 256; 2 mask convs of 16), RoI levels
 * scaled to the 64-pixel images (canonical scale 56).
 */
export const TINY_DETECTOR = {
  backbone: { name: 'mobilenetv2', options: { width: 0.35 } },
  fpn: { in_features: ['c2', 'c3', 'c4', 'c5'], out_channels: 32, top_block: 'none' },
  anchors: { sizes: [[12], [24], [48], [96]] },
  rpn: {
    in_features: ['p2', 'p3', 'p4', 'p5'],
    pre_nms_topk_train: 200,
    post_nms_topk_train: 50,
    pre_nms_topk_test: 100,
    post_nms_topk_test: 30,
    batch_size_per_image: 64,
  },
  roi_heads: {
    num_classes: 3,
    in_features: ['p2', 'p3', 'p4', 'p5'],
    batch_size_per_image: 16,
    positive_fraction: 0.5,
    box_pooler: { resolution: 7, canonical_scale: 56 },
    box_head: { fc_dim: 256 },
    mask: { pooler: { resolution: 14, canonical_scale: 56 } },
    mask_head: { conv_dim: 16, num_conv: 2 },
  },
};

export async function shapesConfig(dir: string, o: { maxIter: number; steps: number[]; lr: number; oneClass?: boolean; numImages?: number; maxShapes?: number; radius?: [number, number]; batchSize?: number }): Promise<{ file: string; annotations: string; images: string }> {
  const ds = await writeShapesDataset(path.join(dir, 'shapes'), { seed: 1, numImages: o.numImages ?? 8, size: 64, maxShapes: o.maxShapes ?? 2, radius: o.radius });
  if (o.oneClass) {
    // One category 'shape': the test is about boxes and masks, not telling the shapes apart.
    const d = JSON.parse(fs.readFileSync(ds.annotations, 'utf8'));
    for (const a of d.annotations) a.category_id = 1;
    d.categories = [{ id: 1, name: 'shape', supercategory: 'shape' }];
    fs.writeFileSync(ds.annotations, JSON.stringify(d));
  }
  const doc = {
    model: o.oneClass ? { ...TINY_DETECTOR, roi_heads: { ...TINY_DETECTOR.roi_heads, num_classes: 1 } } : TINY_DETECTOR,
    data: {
      train: { annotations: ds.annotations, images: ds.images },
      // Evaluated on the training images: the test is that the whole path can fit them.
      val: { annotations: ds.annotations, images: ds.images },
      min_size_train: [64],
      max_size_train: 0,
      min_size_test: 64,
      max_size_test: 0,
      flip_p: 0,
    },
    solver: { base_lr: o.lr, reference_batch_size: null, max_iter: o.maxIter, steps: o.steps, warmup_iters: 10, warmup_factor: 0.1 },
    trainer: { batch_size: o.batchSize ?? 4, seed: 0 },
    callbacks: { jsonl: {}, tensorboard: {}, checkpoint: { every_steps: null, every_epochs: null, keep: 1 } },
  };
  const file = path.join(dir, 'shapes.yaml');
  fs.writeFileSync(file, YAML.stringify(doc));
  return { file, annotations: ds.annotations, images: ds.images };
}
