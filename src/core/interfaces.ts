import type * as tf from '@tensorflow/tfjs-core';
import type { Observable, Subscription } from 'rxjs';
import type { Module, Parameter } from '../nn/module';
import type { Rng } from './rng';
import type { TrainerEvent, EventBus } from './events';

/**
 * Plugin interfaces. The core knows only these; implementations live in plugins/ and data/.
 * Tensors are NHWC, float32.
 */

// ---------------------------------------------------------------- data

/** A decoded image: interleaved RGB, uint8, row-major [height, width, 3]. */
export interface RawImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export interface Sample {
  image: RawImage;
  label: number;
  /** Where it came from (file path or generator index), for error reports. */
  source: string;
}

export interface Dataset {
  readonly name: string;
  readonly length: number;
  readonly classNames: string[];
  /** Label of item i without decoding it (for class-balanced subsets). */
  labelOf(index: number): number;
  /** Decode item i. Rejects with an error naming the file when it cannot be decoded. */
  get(index: number): Promise<Sample>;
}

// ---------------------------------------------------------------- views

/** One view of every image in a batch, at one size: [B, size, size, 3], normalised. */
export interface ViewGroup {
  kind: 'global' | 'local';
  size: number;
  /** Float32 NHWC data, B*size*size*3 values. */
  data: Float32Array;
}

/** What a view sampler makes of one image: the crops (already augmented and normalised). */
export interface ImageViews {
  globals: Float32Array[];
  locals: Float32Array[];
  /** Pixel scale of each view (eq. 1): output side^2 / crop area in source pixels. */
  globalPixelScales: number[];
  localPixelScales: number[];
}

export interface ViewSampler {
  readonly nGlobal: number;
  readonly nLocal: number;
  readonly globalSize: number;
  readonly localSize: number;
  /** Crop, augment and normalise one image. Deterministic given the rng. */
  sample(image: RawImage, rng: Rng): ImageViews;
}

/** A batch of views as tensors, ordered view-major as in DINO (`torch.chunk(ncrops)` order). */
export interface ViewBatch extends TrainBatch {
  /** nGlobal tensors [B, GC, GC, 3]. */
  globals: tf.Tensor4D[];
  /** nLocal tensors [B, LC, LC, 3]. */
  locals: tf.Tensor4D[];
  labels: Int32Array;
  /** Batch statistics from the sampler, e.g. `ps_ratio` = mean PS_g / PS_l. */
  stats: Record<string, number>;
}

// ---------------------------------------------------------------- networks

export interface Backbone extends Module {
  /** Size of the pooled feature vector. */
  readonly featureDim: number;
  /** images NHWC -> pooled features [B, featureDim]. */
  forward(imagesNHWC: tf.Tensor4D): tf.Tensor2D;
}

/** Builds fresh backbones of the configured architecture (a method needs two: student, teacher). */
export type BackboneFactory = (rng: Rng) => Backbone;

// ---------------------------------------------------------------- training

/** Where the trainer is; passed to every step-level call. */
export interface StepContext {
  /** Global step about to run, 0-based (== optimizer steps done before it). */
  step: number;
  epoch: number;
  stepsPerEpoch: number;
  totalSteps: number;
  epochs: number;
  /** Record a scalar for this step's `step:end` event. */
  metric(name: string, value: number): void;
}

/** A plain serialisable record of a component's non-tensor state (counters, flags). */
export type JsonState = Record<string, unknown>;

/** Tensors that a component saves in the checkpoint, by PyTorch-style name. */
export type TensorState = Map<string, tf.Tensor>;

export interface Stateful {
  /** Tensors to save (live references; the caller reads, never disposes). */
  tensorState?(): TensorState;
  loadTensorState?(state: TensorState): void;
  jsonState?(): JsonState;
  loadJsonState?(state: JsonState): void;
}

/**
 * What the trainer consumes: one batch of any task (views for SSL, images + boxes for detection).
 * The trainer disposes it after the step.
 */
export interface TrainBatch {
  readonly batchSize: number;
  /** Scalars about the batch (from the loader), copied into `step:end`'s metrics. */
  stats: Record<string, number>;
  /** Release the batch's tensors. */
  dispose(): void;
}

/** A loss with named parts: the trainer differentiates `total` and reports every term. */
export interface LossTerms {
  total: tf.Scalar;
  terms: Record<string, tf.Scalar>;
}

/** What a task's `loss` returns: the scalar to minimise, or it with named parts. */
export type TaskLoss = tf.Scalar | LossTerms;

/** Anything the trainer trains: an SSL method, a detector. */
export interface TrainTask<B extends TrainBatch> extends Stateful {
  readonly name: string;
  /** Modules whose trainable parameters the optimizer updates (student backbone + heads). */
  studentModules(): Record<string, Module>;
  /** Other networks saved in checkpoints (teacher / momentum encoder); may be empty. */
  targetModules(): Record<string, Module>;
  /**
   * The loss of one batch. Called inside `tf.variableGrads`, so it must be a pure tensor function
   * of the student's variables; tensors it needs after the step (teacher output for the center)
   * are kept by the task and released in `afterStep`. With terms, each term's value appears in
   * `step:end`'s `losses` beside `loss` (the total).
   */
  loss(batch: B, ctx: StepContext): TaskLoss;
  /** Change gradients before the optimizer sees them (clipping, freezing the last layer). */
  processGradients?(grads: Map<Parameter, tf.Tensor>, ctx: StepContext): Map<Parameter, tf.Tensor>;
  /** After the optimizer step: EMA teacher, centering, queues. Runs in the trainer's tidy scope. */
  afterStep?(ctx: StepContext): void;
  /** The value at which the loss means collapse (DINO: ln(out_dim)), for the collapse check. */
  collapseLoss?(): number | null;
}

/**
 * The backbone downstream evaluation uses (knn, linear, export, detection) and the prefix of its
 * weights in a checkpoint's model.safetensors, e.g. `student.backbone.`.
 */
export interface EvaluableBackbone {
  module: Backbone;
  prefix: string;
}

/** A self-supervised method: a task over batches of multi-crop views. */
export interface SSLMethod extends TrainTask<ViewBatch> {
  /** Which backbone to evaluate and under which checkpoint prefix its weights are saved. */
  evaluableBackbone(): EvaluableBackbone;
}

export interface OptimizerHyper {
  lr: number;
  weightDecay: number;
}

export interface Optimizer extends Stateful {
  readonly name: string;
  /** Learning rate and weight decay at a global step (warm-up, cosine decay, batch scaling). */
  hyperAt(step: number): OptimizerHyper;
  /** Apply one update in place. `grads` pairs each trainable parameter with its gradient. */
  apply(grads: Map<Parameter, tf.Tensor>, hyper: OptimizerHyper): void;
}

// ---------------------------------------------------------------- callbacks

/** The view of the run a callback gets. */
export interface RunInfo {
  runDir: string | null;
  events: EventBus;
  config: unknown;
  /** Global steps done so far. */
  step(): number;
  /** Saves a checkpoint now (awaitable); used by checkpoint callbacks. Returns its path. */
  saveCheckpoint(reason: string): Promise<string | null>;
}

/**
 * A callback sees the event stream (subscribe) and may also implement awaited hooks for work
 * that must finish before the loop goes on (detectron2's before/after train/step stages).
 */
export interface Callback extends Stateful {
  readonly name: string;
  /** Subscribe to the stream; the trainer unsubscribes at run end. */
  attach?(events$: Observable<TrainerEvent>, run: RunInfo): Subscription | void;
  beforeTrain?(run: RunInfo): Promise<void> | void;
  afterStep?(run: RunInfo, step: number, epoch: number, endOfEpoch: boolean): Promise<void> | void;
  afterTrain?(run: RunInfo): Promise<void> | void;
}

/** Options of one k-NN evaluation of the network being trained (class-balanced subsets). */
export interface KnnProbeOptions {
  numTrain: number;
  numTest: number;
  k: number;
  temperature: number;
}

/**
 * k-NN top-1 of the student backbone as it is now, train split -> test split, with the
 * `sslight knn` protocol. The composition root gives it to callbacks (`knn_monitor`), which
 * cannot reach datasets or networks themselves.
 */
export interface KnnProbe {
  knn(opts: KnnProbeOptions): Promise<{ top1: number; numTrain: number; numTest: number }>;
}

// ---------------------------------------------------------------- batches

/** Where batches come from (data/loader.ts implements it over a Dataset and a ViewSampler). */
export interface BatchSource<B extends TrainBatch = ViewBatch> {
  readonly stepsPerEpoch: number;
  /**
   * The batches of one epoch starting at batch index `startBatch`. Batch (epoch, k) depends only
   * on the seed, epoch and k, so a resumed run sees exactly the batches an uninterrupted one would.
   * The consumer owns (and disposes) each batch.
   */
  batchesForEpoch(epoch: number, startBatch?: number): AsyncIterable<B>;
  /** Stop prefetching and release what is buffered. */
  close?(): Promise<void> | void;
}
