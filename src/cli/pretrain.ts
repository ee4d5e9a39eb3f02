import * as path from 'path';
import type { CommandModule } from 'yargs';
import { applySet, loadConfigFile, resolveConfig } from '../core/config';
import { selectBackend } from '../core/backend';
import { CheckpointStore, type ResumePick } from '../core/checkpoint';
import { ConfigError } from '../core/errors';
import { installStopHandlers, throwIfStopRequested } from '../core/signals';
import { buildRunContainer, createTrainer } from '../run/compose';
import { defaultRunDir, isPlainObject, loadPlugins, positiveIntFlag, runDirOf } from './common';
import { announceNotes, createRunDir, refuseMixedRun, resumeNotes, type RunNote, type TrainRunArgs } from './run_setup';
import { Tokens } from '../core/tokens';
import type { EventBus } from '../core/events';
import { DASHBOARD_YARGS_OPTIONS, dashboardFromArgs } from '../../plugins/callbacks/common/dashboard/server';

type Args = TrainRunArgs;

export const pretrainCommand: CommandModule<object, Args> = {
  command: 'pretrain',
  describe: 'self-supervised pre-training from a YAML config',
  builder: (y) =>
    y
      .option('config', { type: 'string', describe: 'YAML config (optional with --resume: the checkpoint\'s own config)' })
      .option('set', { type: 'string', array: true, describe: 'override a config key: --set method.alpha=0.4' })
      .option('out', { type: 'string', describe: 'run directory (default runs/<config>-<time>)' })
      .option('resume', { type: 'string', describe: 'continue from a run directory or checkpoint directory' })
      .option('backend', { type: 'string', describe: 'force a backend: tensorflow-gpu, tensorflow, wasm, cpu' })
      .option('seed', { type: 'number', describe: 'seed for data order, crops and initialisation' })
      .option('max-steps', { type: 'string', describe: 'stop at this global step, a positive integer (counted across resumes)' })
      .option('plugin', { type: 'string', array: true, describe: 'load an external plugin module' })
      .option('overwrite', { type: 'boolean', describe: 'start afresh in an --out directory that already holds a run' })
      .options(DASHBOARD_YARGS_OPTIONS) as never,
  handler: async (args) => {
    // From the start: a signal during set-up stops before anything is written (exit 130 / 143).
    const uninstall = installStopHandlers({
      onFirst: (signal) =>
        process.stderr.write(`\nsslight: ${signal}: saving a checkpoint after this step (send it again to quit now)\n`),
      onSecond: (signal) => process.stderr.write(`\nsslight: second ${signal}, exiting without a checkpoint\n`),
    });
    try {
      await pretrain(args);
    } finally {
      uninstall();
    }
  },
};

async function pretrain(args: Args): Promise<void> {
  loadPlugins(args.plugin);
  const maxSteps = positiveIntFlag('max-steps', args['max-steps']);

  // Everything is read and checked before anything is written: a refused resume changes nothing.
  const pick: ResumePick | null = args.resume ? CheckpointStore.pickForResume(path.resolve(args.resume)) : null;
  const resumeDir = pick?.checkpoint.dir ?? null;
  const runDir = path.resolve(args.out ?? (resumeDir ? runDirOf(resumeDir) : defaultRunDir(args.config)));
  const saved = pick?.checkpoint.state.config;
  let doc: Record<string, unknown>;
  if (args.config) doc = loadConfigFile(args.config);
  else if (pick && isPlainObject(saved)) doc = saved; // what the checkpoint was trained with
  else if (pick) doc = loadConfigFile(path.join(runDirOf(resumeDir as string), 'config.yaml'));
  else throw new ConfigError('', '--config FILE is required (or --resume a run directory)');
  for (const s of args.set ?? []) doc = applySet(doc, s);
  if (args.seed !== undefined) doc = applySet(doc, `trainer.seed=${args.seed}`);
  const config = resolveConfig(doc);

  const notes: RunNote[] = pick ? resumeNotes(pick, config.raw) : [];
  refuseMixedRun(runDir, !!pick, args.overwrite);

  const backend = await selectBackend(args.backend);
  process.stderr.write(`sslight: using backend '${backend.name}' (${backend.reason})\n`);
  const c = buildRunContainer(config, { runDir, backendName: backend.name, maxSteps });
  const trainer = createTrainer(c);
  if (pick) await trainer.resume(pick.checkpoint);
  announceNotes(trainer, notes, config.callbacks, (line) => process.stderr.write(line + '\n'));

  // From here on the run directory is written.
  throwIfStopRequested('pretrain (before the run started; nothing was written)');
  createRunDir(runDir, config.raw, !pick && !!args.overwrite);

  const dashboard = await dashboardFromArgs(c.resolve<EventBus>(Tokens.Events).events$, args, `pretrain ${runDir}`);
  try {
    const result = await trainer.run();
    process.stderr.write(`sslight: done at step ${result.step} (${result.reason}); outputs in ${runDir}\n`);
  } finally {
    await dashboard?.close();
  }
}
