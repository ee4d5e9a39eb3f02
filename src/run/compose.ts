import 'reflect-metadata';
import { container as rootContainer, instanceCachingFactory, type DependencyContainer } from 'tsyringe';
import { Tokens } from '../core/tokens';
import { registry } from '../core/registry';
import { EventBus } from '../core/events';
import { Rng } from '../core/rng';
import type { ResolvedConfig } from '../core/config';
import type {
  BackboneFactory,
  BatchSource,
  Callback,
  Dataset,
  Optimizer,
  SSLMethod,
  ViewSampler,
} from '../core/interfaces';
import { CheckpointStore } from '../core/checkpoint';
import { Trainer } from '../core/trainer';
import { ViewLoader } from '../../data/loader';
import { viewsMontageHook } from './views_montage';
import { createKnnProbe } from './knn_probe';

export interface RunOptions {
  /** Output directory (events.jsonl, checkpoints, config.yaml); null for in-memory runs (tests). */
  runDir: string | null;
  backendName: string;
  maxSteps?: number | null;
}

/**
 * The composition root: one child container per run, with a factory per token built from the
 * config. Tests override any token (`c.register(Tokens.Dataset, {useValue: ...})`) before
 * resolving the trainer, which is how a fake dataset or a toy backbone gets in.
 */
export function buildRunContainer(
  config: ResolvedConfig,
  opts: RunOptions,
  parent: DependencyContainer = rootContainer,
): DependencyContainer {
  const c = parent.createChildContainer();
  const seed = config.trainer.seed;
  c.register(Tokens.Config, { useValue: config });
  c.register(Tokens.RunOptions, { useValue: opts });
  c.register(Tokens.Events, { useValue: new EventBus() });
  // Separate streams per consumer so that adding, say, a crop draw never shifts initialisation.
  c.register(Tokens.Rng, { useValue: new Rng(seed) });
  c.register(Tokens.Dataset, {
    useFactory: instanceCachingFactory<Dataset>(() =>
      registry.get('dataset', config.data.name).create(config.data.options, { split: 'train' }),
    ),
  });
  c.register(Tokens.Views, {
    useFactory: instanceCachingFactory<ViewSampler>(() =>
      registry.get('views', config.views.name).create(config.views.options, {}),
    ),
  });
  c.register(Tokens.BatchSource, {
    useFactory: instanceCachingFactory<BatchSource>((cc) => {
      const events = cc.resolve<EventBus>(Tokens.Events);
      return new ViewLoader(
        cc.resolve<Dataset>(Tokens.Dataset),
        cc.resolve<ViewSampler>(Tokens.Views),
        config.trainer.batch_size,
        seed,
        {
          prefetch: config.trainer.prefetch,
          onSkip: (source: string, reason: string, total: number) =>
            events.emit({ type: 'data:skipped', source, reason, skippedTotal: total }),
        },
      );
    }),
  });
  c.register(Tokens.BackboneFactory, {
    useValue: ((rng: Rng) => registry.get('backbone', config.backbone.name).create(config.backbone.options, { rng })) as BackboneFactory,
  });
  c.register(Tokens.Method, {
    useFactory: instanceCachingFactory<SSLMethod>((cc) => {
      const views = cc.resolve<ViewSampler>(Tokens.Views);
      const batches = cc.resolve<BatchSource>(Tokens.BatchSource);
      return registry.get('method', config.method.name).create(config.method.options, {
        buildBackbone: cc.resolve<BackboneFactory>(Tokens.BackboneFactory),
        rng: new Rng(seed + 1),
        nGlobal: views.nGlobal,
        nLocal: views.nLocal,
        batchSize: config.trainer.batch_size,
        epochs: config.trainer.epochs,
        stepsPerEpoch: batches.stepsPerEpoch,
      });
    }),
  });
  c.register(Tokens.Optimizer, {
    useFactory: instanceCachingFactory<Optimizer>((cc) => {
      const method = cc.resolve<SSLMethod>(Tokens.Method);
      const batches = cc.resolve<BatchSource>(Tokens.BatchSource);
      const params = Object.entries(method.studentModules()).flatMap(([k, m]) =>
        m.namedParameters(`${k}.`).filter((p) => p.trainable),
      );
      return registry.get('optimizer', config.optimizer.name).create(config.optimizer.options, {
        params,
        batchSize: config.trainer.batch_size,
        epochs: config.trainer.epochs,
        stepsPerEpoch: batches.stepsPerEpoch,
      });
    }),
  });
  c.register(Tokens.Callbacks, {
    useFactory: instanceCachingFactory<Callback[]>((cc) => {
      const probe = createKnnProbe(config, () => cc.resolve<Dataset>(Tokens.Dataset), () => cc.resolve<SSLMethod>(Tokens.Method));
      return [
        ...config.callbacks.map((cb) => registry.get('callback', cb.name).create(cb.options, { probe })),
        // The views montage for the writers (TensorBoard) once training starts.
        ...(opts.runDir ? [viewsMontageHook(cc)] : []),
      ];
    }),
  });
  c.register(Tokens.CheckpointStore, {
    useFactory: instanceCachingFactory<CheckpointStore | null>(() => (opts.runDir ? new CheckpointStore(opts.runDir) : null)),
  });
  return c;
}

/** Resolve every part and assemble the trainer. */
export function createTrainer(c: DependencyContainer): Trainer {
  const config = c.resolve<ResolvedConfig>(Tokens.Config);
  const opts = c.resolve<RunOptions>(Tokens.RunOptions);
  return new Trainer({
    options: config.trainer,
    events: c.resolve<EventBus>(Tokens.Events),
    batches: c.resolve<BatchSource>(Tokens.BatchSource),
    method: c.resolve<SSLMethod>(Tokens.Method),
    optimizer: c.resolve<Optimizer>(Tokens.Optimizer),
    callbacks: c.resolve<Callback[]>(Tokens.Callbacks),
    checkpoints: c.resolve<CheckpointStore | null>(Tokens.CheckpointStore),
    backendName: opts.backendName,
    runDir: opts.runDir,
    config: config.raw,
    maxSteps: opts.maxSteps ?? null,
  });
}
