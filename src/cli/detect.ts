import * as fs from 'fs';
import * as path from 'path';
import type { Argv, CommandModule } from 'yargs';
import { applySet, loadConfigFile } from '../core/config';
import { selectBackend } from '../core/backend';
import { CheckpointStore, type ResumePick } from '../core/checkpoint';
import { describeChanges, diffConfig } from '../core/config_diff';
import { ConfigError, InputError } from '../core/errors';
import { installStopHandlers } from '../core/signals';
import { progress } from '../core/progress';
import type { EventBus } from '../core/events';
import { defaultRunDir, isPlainObject, loadPlugins, makeOutputDir, positiveIntFlag, runDirOf } from './common';
import { announceNotes, createRunDir, refuseMixedRun, resumeNotes, type RunNote, type TrainRunArgs } from './run_setup';
import { DASHBOARD_YARGS_OPTIONS, dashboardFromArgs } from '../../plugins/callbacks/common/dashboard/server';
import { resolveDetectionConfig, type DetectionConfig } from '../../detection/engine/config';
import { buildDetectionContainer, createDetectionTrainer, DetectionTokens } from '../../detection/engine/compose';
import { loadBackboneWeights, resolveWeightsSource } from '../../detection/engine/weights';
import { evaluateDetector, inferTidy } from '../../detection/engine/evaluate';
import { loadDetector } from '../../detection/engine/load';
import type { MaskRcnn } from '../../detection/modeling/meta_arch/mask_rcnn';

// `sslight detect train | eval | show`: Mask R-CNN fine-tuning through the one trainer, COCO
// evaluation of a trained detector, and its detections drawn on an image.

interface TrainArgs extends TrainRunArgs {
  weights?: string;
  strict?: boolean;
}

/** Resolve, build, (resume or load --weights), train, evaluate on data.val; returns the run directory. */
export async function detectTrain(args: TrainArgs, log: (s: string) => void = (s) => process.stderr.write(s + '\n')): Promise<string> {
  loadPlugins(args.plugin);
  const maxSteps = positiveIntFlag('max-steps', args['max-steps']);
  const pick: ResumePick | null = args.resume ? CheckpointStore.pickForResume(path.resolve(args.resume)) : null;
  const resumeDir = pick?.checkpoint.dir ?? null;
  const runDir = path.resolve(args.out ?? (resumeDir ? runDirOf(resumeDir) : defaultRunDir(args.config, 'detect')));
  const saved = pick?.checkpoint.state.config;
  let doc: Record<string, unknown>;
  if (args.config) doc = loadConfigFile(args.config);
  else if (pick && isPlainObject(saved)) doc = saved;
  else throw new ConfigError('', '--config FILE is required (or --resume a detection run)');
  for (const s of args.set ?? []) doc = applySet(doc, s);
  if (args.seed !== undefined) doc = applySet(doc, `trainer.seed=${args.seed}`);
  if (args.weights !== undefined) doc = { ...doc, weights: args.weights };
  if (args.strict !== undefined) doc = { ...doc, weights_strict: args.strict };
  const config = resolveDetectionConfig(doc);

  const notes: RunNote[] = [];
  if (pick) {
    const modelChanges = diffConfig(isPlainObject(saved) ? saved.model : undefined, config.raw.model);
    notes.push(...resumeNotes(pick, config.raw, modelChanges.length ? [`the model config changed (${describeChanges(modelChanges)})`] : []));
  }
  refuseMixedRun(runDir, !!pick, args.overwrite);
  // The backend first: naming a pre-training run's backbone builds its method (tensors).
  const backend = await selectBackend(args.backend);
  log(`sslight: using backend '${backend.name}' (${backend.reason})`);
  // Checked before anything is written; loaded below unless resuming.
  const weights = pick ? null : resolveWeightsSource(config.weights);
  const c = buildDetectionContainer(config, { runDir, backendName: backend.name, maxSteps });
  const trainer = createDetectionTrainer(c);
  const model = c.resolve<MaskRcnn>(DetectionTokens.Model);
  if (pick) await trainer.resume(pick.checkpoint);
  else if (weights) {
    const line = loadBackboneWeights(model.backbone.body, config.model.backbone.name, weights, config.weightsStrict);
    notes.push({ type: 'log', message: line ? `backbone from --weights ${line}` : 'backbone from its initialisation (--weights none)' });
  }
  announceNotes(trainer, notes, config.callbacks, log);
  createRunDir(runDir, config.raw, !pick && !!args.overwrite);
  const events = c.resolve<EventBus>(DetectionTokens.Events);
  const dashboard = await dashboardFromArgs(events.events$, args, `detect train ${runDir}`);
  const uninstall = installStopHandlers({
    onFirst: (signal) => process.stderr.write(`\nsslight: ${signal}: saving a checkpoint after this step (send it again to quit now)\n`),
    onSecond: (signal) => process.stderr.write(`\nsslight: second ${signal}, exiting without a checkpoint\n`),
  });
  try {
    const t0 = performance.now();
    const result = await trainer.run();
    log(`sslight: done at step ${result.step} (${result.reason}) in ${((performance.now() - t0) / 1000).toFixed(0)} s; outputs in ${runDir}`);
    if (config.data.val && config.trainer.eval_at_end) {
      await evaluateInto(model, config, config.data.val.annotations, config.data.val.images, runDir, log, { step: result.step }, config.trainer.precise_bn);
    }
  } finally {
    uninstall();
    await dashboard?.close();
    model.dispose();
    (c.resolve(DetectionTokens.Optimizer) as { dispose?: () => void }).dispose?.();
  }
  return runDir;
}

async function evaluateInto(
  model: MaskRcnn,
  config: DetectionConfig,
  annotations: string,
  images: string,
  outDir: string,
  log: (s: string) => void,
  extra: Record<string, unknown>,
  preciseBn: number,
): Promise<void> {
  const t0 = performance.now();
  if (preciseBn > 0) {
    const { preciseBnDetector } = await import('../../detection/engine/precise_bn');
    const r = await preciseBnDetector(model, config, preciseBn);
    log(
      r.layers > 0
        ? `sslight: precise BN: backbone BatchNorm statistics recomputed on ${r.images} training images (${r.layers} layers)`
        : 'sslight: precise BN skipped (no trainable BatchNorm in the backbone)',
    );
    extra = { ...extra, precise_bn: { images: r.images, layers: r.layers } };
  }
  let bar: ReturnType<typeof progress> | null = null;
  await evaluateDetector(model, {
    annotations: path.resolve(annotations),
    images: path.resolve(images),
    minSize: config.data.min_size_test,
    maxSize: config.data.max_size_test,
    outDir,
    log,
    extra: { ...extra, annotations: path.resolve(annotations) },
    onBatch: (done, total) => {
      bar ??= progress('detect', total, { unit: 'img' });
      bar.update(done);
    },
  });
  (bar as ReturnType<typeof progress> | null)?.done();
  log(`sslight: evaluated in ${((performance.now() - t0) / 1000).toFixed(1)} s; metrics in ${path.join(outDir, 'metrics.json')}`);
}

interface EvalArgs {
  checkpoint: string;
  'precise-bn'?: number;
  data?: string;
  images?: string;
  out?: string;
  backend?: string;
  plugin?: string[];
}

export async function detectEval(args: EvalArgs, log: (s: string) => void = (s) => console.log(s)): Promise<void> {
  loadPlugins(args.plugin);
  const backend = await selectBackend(args.backend);
  process.stderr.write(`sslight: using backend '${backend.name}' (${backend.reason})\n`);
  const d = loadDetector(args.checkpoint);
  try {
    const annotations = args.data ?? d.config.data.val?.annotations;
    const images = args.images ?? d.config.data.val?.images;
    if (!annotations || !images) throw new InputError('--data ANNOTATIONS.json and --images DIR are required (the checkpoint\'s config has no data.val)');
    const outDir = path.resolve(args.out ?? path.join(d.dir, 'eval'));
    makeOutputDir(outDir, '--out');
    const preciseBn = args['precise-bn'] ?? d.config.trainer.precise_bn;
    await evaluateInto(d.model, d.config, annotations, images, outDir, log, { checkpoint: d.dir, step: d.step }, preciseBn);
  } finally {
    d.model.dispose();
  }
}

interface ShowArgs {
  checkpoint: string;
  image: string;
  out: string;
  'score-thresh'?: number;
  backend?: string;
  plugin?: string[];
}

export async function detectShow(args: ShowArgs): Promise<number> {
  loadPlugins(args.plugin);
  const { decodeImage } = await import('../../data/datasets/decode');
  const { singleImageBatch } = await import('../../detection/data/single_image');
  const { toOriginalImage } = await import('../../detection/postprocess/results');
  const { drawDetections } = await import('../../detection/postprocess/draw');
  if (!fs.existsSync(args.image)) throw new InputError(`--image ${args.image} does not exist`);
  const backend = await selectBackend(args.backend);
  process.stderr.write(`sslight: using backend '${backend.name}' (${backend.reason})\n`);
  const d = loadDetector(args.checkpoint);
  try {
    let image;
    try {
      image = await decodeImage(path.resolve(args.image));
    } catch (e) {
      throw new InputError(`--image ${args.image}: ${(e as Error).message}`);
    }
    const batch = singleImageBatch(image, { shortEdge: d.config.data.min_size_test, maxSize: d.config.data.max_size_test });
    try {
      const [det] = inferTidy(d.model, batch.images, batch.imageSizes);
      const r = toOriginalImage(det, batch.imageSizes[0], [image.height, image.width]);
      makeOutputDir(path.dirname(path.resolve(args.out)), '--out');
      const names = d.categories?.names ?? [];
      const { drawn } = await drawDetections(image, r, path.resolve(args.out), { classNames: names, scoreThreshold: args['score-thresh'] ?? 0.5 });
      process.stderr.write(`sslight: ${drawn} detections drawn (of ${r.scores.length} above the model's score threshold) into ${args.out}\n`);
      return drawn;
    } finally {
      batch.dispose();
    }
  } finally {
    d.model.dispose();
  }
}

const common = <T>(y: Argv<T>): Argv<T> =>
  y
    .option('backend', { type: 'string', describe: 'force a backend: tensorflow-gpu, tensorflow, wasm, cpu' })
    .option('plugin', { type: 'string', array: true, describe: 'load an external plugin module (backbone, detector heads, callbacks)' }) as Argv<T>;

export const detectCommand: CommandModule<object, object> = {
  command: 'detect <command>',
  describe: 'Mask R-CNN FPN: train (fine-tune) a detector, evaluate it on COCO-format data, draw its detections',
  builder: (y) =>
    y
      .command<TrainArgs>({
        command: 'train',
        describe: 'train a detector from a YAML config',
        builder: (yy) =>
          common(yy)
            .option('config', { type: 'string', describe: 'detection YAML config (optional with --resume)' })
            .option('weights', { type: 'string', describe: 'backbone init: an sslight pre-training RUN or CKPT, a torchvision-named FILE, or none' })
            .option('strict', { type: 'boolean', describe: '--weights: every backbone tensor must fit (default; false: load what fits, report the rest; config key weights_strict)' })
            .option('set', { type: 'string', array: true, describe: 'override a config key: --set solver.base_lr=0.01' })
            .option('out', { type: 'string', describe: 'run directory (default runs/<config>-<time>)' })
            .option('resume', { type: 'string', describe: 'continue from a run directory or checkpoint directory' })
            .option('seed', { type: 'number', describe: 'seed for data order, sampling and initialisation' })
            .option('max-steps', { type: 'string', describe: 'stop at this global step (counted across resumes)' })
            .option('overwrite', { type: 'boolean', describe: 'start afresh in an --out directory that already holds a run' })
            .options(DASHBOARD_YARGS_OPTIONS) as never,
        handler: async (a) => {
          await detectTrain(a);
        },
      })
      .command<EvalArgs>({
        command: 'eval',
        describe: 'COCO bbox + segm AP of a trained detector; prints the table, writes metrics.json',
        builder: (yy) =>
          common(yy)
            .option('checkpoint', { type: 'string', demandOption: true, describe: 'a detection run or checkpoint directory' })
            .option('data', { type: 'string', describe: 'COCO annotation JSON (default: the config\'s data.val)' })
            .option('images', { type: 'string', describe: 'image folder (default: the config\'s data.val)' })
            .option('out', { type: 'string', describe: 'where metrics.json and the results go (default <checkpoint>/eval)' })
            .option('precise-bn', {
              type: 'number',
              describe: "recompute the backbone's BatchNorm statistics on N training images first (default: the config's trainer.precise_bn; 0 = off)",
            }) as never,
        handler: async (a) => {
          if (a['precise-bn'] !== undefined && !(Number.isInteger(a['precise-bn']) && a['precise-bn'] >= 0)) {
            throw new InputError(`--precise-bn must be a whole number >= 0, got ${String(a['precise-bn'])}`);
          }
          await detectEval(a);
        },
      })
      .command<ShowArgs>({
        command: 'show',
        describe: 'draw a detector\'s boxes, masks, class names and scores on an image',
        builder: (yy) =>
          common(yy)
            .option('checkpoint', { type: 'string', demandOption: true, describe: 'a detection run or checkpoint directory' })
            .option('image', { type: 'string', demandOption: true, describe: 'an image file' })
            .option('out', { type: 'string', demandOption: true, describe: 'output PNG' })
            .option('score-thresh', { type: 'number', describe: 'draw detections scoring at least this (default 0.5)' }) as never,
        handler: async (a) => {
          await detectShow(a);
        },
      })
      .demandCommand(1, 'name a detect command: train, eval or show') as never,
  handler: () => undefined,
};
