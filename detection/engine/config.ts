/**
 * The detection training config: `model` (the Mask R-CNN schema of detection/modeling), `data`
 * (COCO-format train / val sets and Detectron2's resize settings), `solver` (SGD with warm-up and
 * step decay, Detectron2's names), `trainer` (batch size, seed, memory guard) and `callbacks`
 * (the same callback plugins as pre-training). `extends:` and `--set` work as for pre-training.
 */
import { z } from 'zod';
import { ConfigError } from '../../src/core/errors';
import { parseCallbacks, type PluginChoice } from '../../src/core/config';
import { trainerSchema, type TrainerOptions } from '../../src/core/config';
import { maskRcnnSchema, type MaskRcnnConfig } from '../modeling/config';
import type { DetectionLoaderOptions } from '../data/loader';

const positiveInt = z.number().int().positive();

const split = z.object({ annotations: z.string().min(1), images: z.string().min(1) }).strict();

export const detectionDataSchema = z
  .object({
    /** COCO-format annotation file and image folder (paths relative to the working directory). */
    train: split,
    /** Evaluated at the end of training when given (and by `sslight detect eval` by default). */
    val: split.nullable().default(null),
    /** Detectron2 INPUT.MIN_SIZE_TRAIN (a choice per image) / MAX_SIZE_TRAIN. */
    min_size_train: z.array(positiveInt).min(1).default([640, 672, 704, 736, 768, 800]),
    max_size_train: z.number().int().nonnegative().default(1333),
    min_size_test: positiveInt.default(800),
    max_size_test: z.number().int().nonnegative().default(1333),
    flip_p: z.number().min(0).max(1).default(0.5),
    /** Image decodes in flight per batch. */
    concurrency: positiveInt.default(4),
  })
  .strict();

export const solverSchema = z
  .object({
    /** Detectron2 SOLVER.BASE_LR at `reference_batch_size` images per step. */
    base_lr: z.number().positive().default(0.02),
    /**
     * The linear scaling rule (Goyal et al.; Detectron2's REFERENCE_WORLD_SIZE): at batch size B the
     * lr is base_lr x B / reference and max_iter, steps and warmup_iters are x reference / B.
     * null: take the numbers as written.
     */
    reference_batch_size: positiveInt.nullable().default(16),
    max_iter: positiveInt.default(90000),
    /** Iterations where the lr is multiplied by gamma. */
    steps: z.array(positiveInt).default([60000, 80000]),
    gamma: z.number().positive().default(0.1),
    warmup_iters: z.number().int().nonnegative().default(1000),
    warmup_factor: z.number().positive().max(1).default(0.001),
    momentum: z.number().min(0).max(1).default(0.9),
    nesterov: z.boolean().default(false),
    weight_decay: z.number().nonnegative().default(1e-4),
  })
  .strict()
  .refine((s) => s.steps.every((v, i) => i === 0 || v > s.steps[i - 1]), { message: 'must increase', path: ['steps'] });

/** The pre-training trainer keys without epochs / max_steps (solver.max_iter decides), batch 16. */
export const detectionTrainerSchema = trainerSchema
  .omit({ epochs: true, max_steps: true, collapse_window: true, collapse_tolerance: true })
  .extend({
    batch_size: positiveInt.default(16),
    /** Evaluate on data.val (bbox and segm AP, metrics.json in the run directory) when training ends. */
    eval_at_end: z.boolean().default(true),
    /**
     * Training images (in batches of batch_size) whose average backbone BN statistics replace the
     * running ones before any evaluation (Detectron2's TEST.PRECISE_BN: 200 batches); 0 = off.
     */
    precise_bn: z.number().int().nonnegative().default(0),
  })
  .strict();

export const DETECTION_TOP_LEVEL_KEYS = ['model', 'weights', 'weights_strict', 'data', 'solver', 'trainer', 'callbacks'] as const;

export type DetectionData = z.output<typeof detectionDataSchema>;
export type SolverOptions = z.output<typeof solverSchema>;
export type DetectionTrainerOptions = z.output<typeof detectionTrainerSchema>;

export interface DetectionConfig {
  model: MaskRcnnConfig;
  /**
   * Where the backbone body starts from (`--weights`): an sslight pre-training run or checkpoint,
   * a torchvision-named backbone file (safetensors / .pth), or null / 'none' for the plugin's init.
   */
  weights: string | null;
  /**
   * `weights_strict` (`--strict`): every backbone tensor must be found with its shape (true, the
   * default); false loads what fits and reports the rest (Detectron2's checkpointer skips
   * mis-shaped tensors the same way), e.g. a CIFAR-stem ResNet pre-training into a 7x7 stem.
   */
  weightsStrict: boolean;
  data: DetectionData;
  solver: SolverOptions;
  trainer: DetectionTrainerOptions;
  callbacks: PluginChoice[];
  /** The merged raw document (after extends and --set), as saved in the run and its checkpoints. */
  raw: Record<string, unknown>;
}

/** The solver after the linear scaling rule for the configured batch size. */
export interface ScaledSolver {
  lr: number;
  maxIter: number;
  steps: number[];
  warmupIters: number;
  /** batch / reference (1 without scaling). */
  scale: number;
}

export function scaledSolver(s: SolverOptions, batchSize: number): ScaledSolver {
  if (s.reference_batch_size === null || s.reference_batch_size === batchSize) {
    return { lr: s.base_lr, maxIter: s.max_iter, steps: [...s.steps], warmupIters: s.warmup_iters, scale: 1 };
  }
  const scale = batchSize / s.reference_batch_size;
  const iters = (n: number) => Math.max(1, Math.round(n / scale));
  return {
    lr: s.base_lr * scale,
    maxIter: iters(s.max_iter),
    steps: s.steps.map(iters),
    warmupIters: s.warmup_iters === 0 ? 0 : iters(s.warmup_iters),
    scale,
  };
}

/** The training loader's options from a config (training and precise BN read the same images alike). */
export function trainLoaderOptions(config: DetectionConfig, batchSize = config.trainer.batch_size): DetectionLoaderOptions {
  return {
    mode: 'train',
    batchSize,
    minSizes: config.data.min_size_train,
    maxSize: config.data.max_size_train,
    flipP: config.data.flip_p,
    prefetch: config.trainer.prefetch,
    concurrency: config.data.concurrency,
  };
}

/** Trainer options for the core loop: as many epochs as max_iter needs, capped at max_iter. */
export function coreTrainerOptions(t: DetectionTrainerOptions, maxIter: number, stepsPerEpoch: number): TrainerOptions {
  return {
    epochs: Math.ceil(maxIter / stepsPerEpoch),
    batch_size: t.batch_size,
    seed: t.seed,
    max_steps: maxIter,
    memory_budget_gb: t.memory_budget_gb,
    prefetch: t.prefetch,
    collapse_window: 20,
    collapse_tolerance: 0,
  };
}

function section<T extends z.ZodTypeAny>(schema: T, value: unknown, key: string): z.output<T> {
  const r = schema.safeParse(value ?? {});
  if (!r.success) {
    const issue = r.error.issues[0];
    const keys = issue.code === 'unrecognized_keys' ? (issue as z.ZodIssue & { keys: string[] }).keys : [];
    const where = [key, ...issue.path.map(String), ...(keys.length === 1 ? keys : [])].filter(Boolean).join('.');
    throw new ConfigError(where, keys.length ? `unknown key${keys.length > 1 ? 's ' + keys.join(', ') : ''}` : issue.message);
  }
  return r.data;
}

/** Validate a merged detection document; errors are ConfigErrors naming the dotted key. */
export function resolveDetectionConfig(doc: Record<string, unknown>): DetectionConfig {
  const unknown = Object.keys(doc).filter((k) => !(DETECTION_TOP_LEVEL_KEYS as readonly string[]).includes(k));
  if (unknown.length) {
    throw new ConfigError(unknown.join(', '), `unknown top-level section of a detection config (expected: ${DETECTION_TOP_LEVEL_KEYS.join(', ')})`);
  }
  if (doc.data === undefined) throw new ConfigError('data', 'missing section (train: {annotations, images}, ...)');
  return {
    model: section(maskRcnnSchema, doc.model, 'model'),
    weights: parseWeights(doc.weights),
    weightsStrict: parseStrict(doc.weights_strict),
    data: section(detectionDataSchema, doc.data, 'data'),
    solver: section(solverSchema, doc.solver, 'solver'),
    trainer: section(detectionTrainerSchema, doc.trainer, 'trainer'),
    callbacks: parseCallbacks(doc.callbacks),
    raw: doc,
  };
}

function parseStrict(v: unknown): boolean {
  if (v === undefined || v === null) return true;
  if (typeof v !== 'boolean') throw new ConfigError('weights_strict', `expected true or false, got ${JSON.stringify(v)}`);
  return v;
}

function parseWeights(v: unknown): string | null {
  if (v === undefined || v === null || v === 'none') return null;
  if (typeof v !== 'string' || v === '') throw new ConfigError('weights', `expected a run, checkpoint or file path, or none; got ${JSON.stringify(v)}`);
  return v;
}
