/**
 * The composition root of a detection run, like src/run/compose.ts for pre-training: one child
 * container per run with a factory per token built from the config. Tests register their own
 * value for any token (a small batch source, say) before `createDetectionTrainer`. The detector's
 * parts come from registries: the backbone plugin (`model.backbone.name`, core registry) and the
 * RPN / box / mask heads (`model.*.head` sections, detection/modeling/registry.ts), so a
 * `--plugin` module can swap any of them.
 */
import { detectionPicturesHook } from './pictures';
import 'reflect-metadata';
import * as path from 'path';
import { container as rootContainer, instanceCachingFactory, type DependencyContainer } from 'tsyringe';
import { EventBus } from '../../src/core/events';
import { registry } from '../../src/core/registry';
import { Rng } from '../../src/core/rng';
import { CheckpointStore } from '../../src/core/checkpoint';
import { Trainer } from '../../src/core/trainer';
import type { BatchSource, Callback, Optimizer } from '../../src/core/interfaces';
import type { RunOptions } from '../../src/run/compose';
import { CocoDetectionDataset } from '../data/coco_dataset';
import { DetectionLoader } from '../data/loader';
import type { DetectionBatch } from '../data/types';
import { MaskRcnn } from '../modeling/meta_arch/mask_rcnn';
import { coreTrainerOptions, scaledSolver, trainLoaderOptions, type DetectionConfig, type ScaledSolver } from './config';
import { buildDetectionOptimizer } from './optimizer';
import { MaskRcnnTask } from './task';

export const DetectionTokens = {
  Config: Symbol('DetectionConfig'),
  RunOptions: Symbol('DetectionRunOptions'),
  Events: Symbol('Events'),
  Dataset: Symbol('DetectionDataset'),
  BatchSource: Symbol('DetectionBatchSource'),
  Model: Symbol('MaskRcnn'),
  Task: Symbol('DetectionTask'),
  Optimizer: Symbol('Optimizer'),
  Callbacks: Symbol('Callbacks'),
  CheckpointStore: Symbol('CheckpointStore'),
} as const;

/** The same options as a pre-training run's (output directory, backend, --max-steps). */
export type DetectionRunOptions = RunOptions;

/** What the dataset must give the composition (CocoDetectionDataset does). */
export type TrainDataset = CocoDetectionDataset;

export function buildDetectionContainer(
  config: DetectionConfig,
  opts: DetectionRunOptions,
  parent: DependencyContainer = rootContainer,
): DependencyContainer {
  const c = parent.createChildContainer();
  const seed = config.trainer.seed;
  c.register(DetectionTokens.Config, { useValue: config });
  c.register(DetectionTokens.RunOptions, { useValue: opts });
  c.register(DetectionTokens.Events, { useValue: new EventBus() });
  c.register(DetectionTokens.Dataset, {
    useFactory: instanceCachingFactory<TrainDataset>(
      () => new CocoDetectionDataset({ annotations: path.resolve(config.data.train.annotations), images: path.resolve(config.data.train.images) }),
    ),
  });
  c.register(DetectionTokens.BatchSource, {
    useFactory: instanceCachingFactory<BatchSource<DetectionBatch>>((cc) => {
      const events = cc.resolve<EventBus>(DetectionTokens.Events);
      return new DetectionLoader(
        cc.resolve<TrainDataset>(DetectionTokens.Dataset),
        {
          ...trainLoaderOptions(config),
          onSkip: (source: string, reason: string, total: number) => events.emit({ type: 'data:skipped', source, reason, skippedTotal: total }),
        },
        seed,
      );
    }),
  });
  // Separate streams: initialisation (seed + 1) and RoI / anchor sampling (seed + 2).
  c.register(DetectionTokens.Model, { useFactory: instanceCachingFactory<MaskRcnn>(() => new MaskRcnn(config.model, new Rng(seed + 1))) });
  c.register(DetectionTokens.Task, {
    useFactory: instanceCachingFactory<MaskRcnnTask>((cc) => {
      const model = cc.resolve<MaskRcnn>(DetectionTokens.Model);
      let categories = null;
      if (cc.isRegistered(DetectionTokens.Dataset, true)) {
        const ds = cc.resolve<TrainDataset>(DetectionTokens.Dataset);
        categories = { catIds: [...ds.categories.catIds], names: [...ds.categories.names] };
      }
      return new MaskRcnnTask(model, new Rng(seed + 2).getState(), categories);
    }),
  });
  c.register(DetectionTokens.Optimizer, {
    useFactory: instanceCachingFactory<Optimizer>((cc) => {
      const model = cc.resolve<MaskRcnn>(DetectionTokens.Model);
      const params = model.namedParameters('model.').filter((p) => p.trainable);
      return buildDetectionOptimizer(params, config.solver, solverOf(config), config.trainer.batch_size);
    }),
  });
  c.register(DetectionTokens.Callbacks, {
    useFactory: instanceCachingFactory<Callback[]>((cc) => [
      ...config.callbacks.map((cb) => registry.get('callback', cb.name).create(cb.options, {})),
      // The detections on a training image at the end, for the writers (TensorBoard, dashboard).
      ...(opts.runDir
        ? [
            detectionPicturesHook(() => ({
              dataset: cc.resolve<TrainDataset>(DetectionTokens.Dataset),
              model: cc.resolve<MaskRcnn>(DetectionTokens.Model),
              config,
              classNames: cc.resolve<MaskRcnnTask>(DetectionTokens.Task).categories?.names ?? [],
              events: cc.resolve<EventBus>(DetectionTokens.Events),
            })),
          ]
        : []),
    ]),
  });
  c.register(DetectionTokens.CheckpointStore, {
    useFactory: instanceCachingFactory<CheckpointStore | null>(() => (opts.runDir ? new CheckpointStore(opts.runDir) : null)),
  });
  return c;
}

export function solverOf(config: DetectionConfig): ScaledSolver {
  return scaledSolver(config.solver, config.trainer.batch_size);
}

/** Resolves every part and assembles the one trainer over detection batches. */
export function createDetectionTrainer(c: DependencyContainer): Trainer<DetectionBatch> {
  const config = c.resolve<DetectionConfig>(DetectionTokens.Config);
  const opts = c.resolve<DetectionRunOptions>(DetectionTokens.RunOptions);
  const batches = c.resolve<BatchSource<DetectionBatch>>(DetectionTokens.BatchSource);
  const scaled = solverOf(config);
  return new Trainer<DetectionBatch>({
    options: coreTrainerOptions(config.trainer, scaled.maxIter, batches.stepsPerEpoch),
    events: c.resolve<EventBus>(DetectionTokens.Events),
    batches,
    method: c.resolve<MaskRcnnTask>(DetectionTokens.Task),
    optimizer: c.resolve<Optimizer>(DetectionTokens.Optimizer),
    callbacks: c.resolve<Callback[]>(DetectionTokens.Callbacks),
    checkpoints: c.resolve<CheckpointStore | null>(DetectionTokens.CheckpointStore),
    backendName: opts.backendName,
    runDir: opts.runDir,
    config: config.raw,
    maxSteps: opts.maxSteps ?? null,
  });
}
