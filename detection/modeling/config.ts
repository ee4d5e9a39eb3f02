import { z } from 'zod';
import { ConfigError } from '../../src/core/errors';

/**
 * Every size and threshold of the Mask R-CNN FPN detector, with Detectron2's defaults
 * (configs/Base-RCNN-FPN.yaml; the paper fine-tunes with them), so a CPU config can shrink any of
 * them by key. Names follow Detectron2's config keys in snake case.
 */

const positiveInt = z.number().int().positive();
const fraction = z.number().min(0).max(1);
/** `{name, ...options}`: a registered detection part (registry.ts) and its options, checked by its own schema. */
const partSection = (name: string) => z.object({ name: z.string().min(1).default(name) }).passthrough().default({});

const weights4 = z.tuple([z.number().positive(), z.number().positive(), z.number().positive(), z.number().positive()]);

export const poolerSchema = z
  .object({
    /** Output height = width of each pooled RoI. */
    resolution: positiveInt,
    /** Samples per bin and axis; 0: adaptive (ceil(roi size / resolution)), Detectron2's ROIAlignV2. */
    sampling_ratio: z.number().int().min(0).default(0),
    /** true: ROIAlignV2's half-pixel shift; false: torchvision's legacy RoIAlign. */
    aligned: z.boolean().default(true),
    /** Level of a RoI: floor(canonical_level + log2(sqrt(area) / canonical_scale)). */
    canonical_scale: z.number().positive().default(224),
    canonical_level: z.number().int().default(4),
  })
  .strict();

export const backboneSchema = z
  .object({
    /** A registered backbone plugin whose instances have featureMaps (resnet18/34/50, mobilenetv2). */
    name: z.string().min(1).default('resnet18'),
    /** Options for that plugin, checked by its own schema. */
    options: z.record(z.unknown()).default({}),
    /** Detectron2's FrozenBN: backbone BN layers use their running statistics and are not trained. */
    freeze_bn: z.boolean().default(false),
  })
  .strict();

export const fpnSchema = z
  .object({
    /** Backbone stages feeding the FPN, by increasing stride; each gives P<n> at the same stride. */
    in_features: z.array(z.string()).min(1).default(['c2', 'c3', 'c4', 'c5']),
    out_channels: positiveInt.default(256),
    /** 'maxpool': one more level by a stride-2 1x1 max-pool of the coarsest output (P6). */
    top_block: z.enum(['maxpool', 'none']).default('maxpool'),
  })
  .strict();

export const anchorSchema = z
  .object({
    /** Sizes (sqrt of area, pixels) per RPN level. */
    sizes: z.array(z.array(z.number().positive()).min(1)).default([[32], [64], [128], [256], [512]]),
    /** Height / width ratios: one list for every level, or one per level. */
    aspect_ratios: z.array(z.array(z.number().positive()).min(1)).default([[0.5, 1, 2]]),
    offset: z.number().min(0).lt(1).default(0),
    /** Round cell anchors to whole pixels (torchvision) or not (Detectron2). */
    round: z.boolean().default(false),
  })
  .strict();

export const rpnSchema = z
  .object({
    in_features: z.array(z.string()).min(1).default(['p2', 'p3', 'p4', 'p5', 'p6']),
    /** The head shared by the levels: 'standard' (3x3 conv + 1x1 objectness / deltas). */
    head: partSection('standard'),
    /** [bg below, fg at or above]; between is ignored. */
    iou_thresholds: z.tuple([fraction, fraction]).default([0.3, 0.7]),
    allow_low_quality_matches: z.boolean().default(true),
    batch_size_per_image: positiveInt.default(256),
    positive_fraction: fraction.default(0.5),
    bbox_reg_weights: weights4.default([1, 1, 1, 1]),
    /** Per level, before NMS. */
    pre_nms_topk_train: positiveInt.default(2000),
    pre_nms_topk_test: positiveInt.default(1000),
    /** Per image, after NMS. */
    post_nms_topk_train: positiveInt.default(1000),
    post_nms_topk_test: positiveInt.default(1000),
    nms_thresh: fraction.default(0.7),
    /** Proposals with a side <= min_size are dropped (torchvision: 1e-3). */
    min_size: z.number().min(0).default(0),
    /**
     * 'detectron2': BCE + L1, both sums / (batch_size_per_image x images).
     * 'torchvision': BCE mean over sampled anchors + smooth-L1 (beta 1/9) sum / sampled anchors.
     */
    loss: z.enum(['detectron2', 'torchvision']).default('detectron2'),
    loss_weight: z.number().min(0).default(1),
  })
  .strict();

export const roiHeadsSchema = z
  .object({
    /** Object classes (background not counted); predictors have num_classes + 1 outputs. */
    num_classes: positiveInt.default(80),
    in_features: z.array(z.string()).min(1).default(['p2', 'p3', 'p4', 'p5']),
    iou_threshold: fraction.default(0.5),
    batch_size_per_image: positiveInt.default(512),
    positive_fraction: fraction.default(0.25),
    proposal_append_gt: z.boolean().default(true),
    bbox_reg_weights: weights4.default([10, 10, 5, 5]),
    box_pooler: poolerSchema.default({ resolution: 7 }),
    /** 'fc': num_fc (2) x fc_dim (1024) fully connected layers with ReLU. */
    box_head: partSection('fc'),
    score_thresh_test: fraction.default(0.05),
    nms_thresh_test: fraction.default(0.5),
    detections_per_image: positiveInt.default(100),
    /** Detections with a side <= min_size_test are dropped (torchvision: 1e-2). */
    min_size_test: z.number().min(0).default(0),
    /** 'detectron2': CE + L1 sum / sampled RoIs; 'torchvision': CE + smooth-L1 (beta 1/9) sum / sampled RoIs. */
    loss: z.enum(['detectron2', 'torchvision']).default('detectron2'),
    mask: z
      .object({
        enabled: z.boolean().default(true),
        pooler: poolerSchema.default({ resolution: 14 }),
        /**
         * 'detectron2': polygons rasterised inside each RoI, binary; 'torchvision': every mask
         * RoIAligned from the full image (unaligned), soft targets in [0, 1] (detection/ops/mask_targets.ts).
         */
        targets: z.enum(['detectron2', 'torchvision']).default('detectron2'),
      })
      .strict()
      .default({}),
    /** 'conv': num_conv (4) x (3x3 conv conv_dim (256) + ReLU); the predictor upsamples 2x. */
    mask_head: partSection('conv'),
  })
  .strict();

export const maskRcnnSchema = z
  .object({
    backbone: backboneSchema.default({}),
    fpn: fpnSchema.default({}),
    anchors: anchorSchema.default({}),
    rpn: rpnSchema.default({}),
    roi_heads: roiHeadsSchema.default({}),
  })
  .strict();

export type PoolerConfig = z.output<typeof poolerSchema>;
export type BackboneConfig = z.output<typeof backboneSchema>;
export type FpnConfig = z.output<typeof fpnSchema>;
export type AnchorConfig = z.output<typeof anchorSchema>;
export type RpnConfig = z.output<typeof rpnSchema>;
export type RoiHeadsConfig = z.output<typeof roiHeadsSchema>;
export type MaskRcnnConfig = z.output<typeof maskRcnnSchema>;

/** Parses a detector config (defaults filled in); a ConfigError names the first bad dotted key. */
export function parseMaskRcnnConfig(raw: unknown, keyPrefix = 'model'): MaskRcnnConfig {
  const r = maskRcnnSchema.safeParse(raw ?? {});
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ConfigError([keyPrefix, ...issue.path].filter((p) => p !== '').join('.'), issue.message);
  }
  return r.data;
}
