import * as fs from 'fs';
import * as path from 'path';
import YAML from 'yaml';
import type { CommandModule } from 'yargs';
import { applySet, loadConfigFile, resolveConfig } from '../core/config';
import { selectBackend } from '../core/backend';
import { CheckpointStore } from '../core/checkpoint';
import { ConfigError, SslightError } from '../core/errors';
import { InterruptedError } from '../core/trainer';
import { buildRunContainer, createTrainer } from '../run/compose';
import { loadPlugins } from './common';
import { Tokens } from '../core/tokens';
import type { EventBus } from '../core/events';
import { DASHBOARD_YARGS_OPTIONS, dashboardFromArgs } from '../../plugins/callbacks/common/dashboard/server';

interface Args {
  config?: string;
  set?: string[];
  out?: string;
  resume?: string;
  backend?: string;
  seed?: number;
  'max-steps'?: number;
  plugin?: string[];
  overwrite?: boolean;
  dashboard?: string;
  'dashboard-host'?: string;
}

/** Exit code 130 after Ctrl-C, as shells expect. */
class InterruptExit extends SslightError {
  readonly exitCode = 130;
}

export const pretrainCommand: CommandModule<object, Args> = {
  command: 'pretrain',
  describe: 'self-supervised pre-training from a YAML config',
  builder: (y) =>
    y
      .option('config', { type: 'string', describe: 'YAML config (optional with --resume: the run\'s config.yaml)' })
      .option('set', { type: 'string', array: true, describe: 'override a config key: --set method.alpha=0.4' })
      .option('out', { type: 'string', describe: 'run directory (default runs/<config>-<time>)' })
      .option('resume', { type: 'string', describe: 'continue from a run directory or checkpoint directory' })
      .option('backend', { type: 'string', describe: 'force a backend: tensorflow-gpu, tensorflow, wasm, cpu' })
      .option('seed', { type: 'number', describe: 'seed for data order, crops and initialisation' })
      .option('max-steps', { type: 'number', describe: 'stop at this global step (counted across resumes)' })
      .option('plugin', { type: 'string', array: true, describe: 'load an external plugin module' })
      .option('overwrite', { type: 'boolean', describe: 'start afresh in an --out directory that already holds a run' })
      .options(DASHBOARD_YARGS_OPTIONS) as never,
  handler: async (args) => {
    loadPlugins(args.plugin);
    const resumeDir = args.resume ? CheckpointStore.resolve(path.resolve(args.resume)) : null;
    const runDir = path.resolve(
      args.out ?? (resumeDir ? runDirOf(resumeDir) : defaultRunDir(args.config)),
    );
    let configFile = args.config;
    if (!configFile && resumeDir) configFile = path.join(runDirOf(resumeDir), 'config.yaml');
    if (!configFile) throw new ConfigError('', '--config FILE is required (or --resume a run directory that has config.yaml)');
    let doc = loadConfigFile(configFile);
    for (const s of args.set ?? []) doc = applySet(doc, s);
    if (args.seed !== undefined) doc = applySet(doc, `trainer.seed=${args.seed}`);
    const config = resolveConfig(doc);

    const backend = await selectBackend(args.backend);
    process.stderr.write(`sslight: using backend '${backend.name}' (${backend.reason})\n`);

    // A new run never mixes into an old one: its events.jsonl and checkpoints would interleave.
    if (!resumeDir && CheckpointStore.resolve(runDir, false)) {
      if (!args.overwrite) {
        throw new ConfigError(
          '',
          `${runDir} already holds a run with checkpoints: continue it with --resume ${runDir}, ` +
            'start afresh with --overwrite, or pick another --out',
        );
      }
      fs.rmSync(runDir, { recursive: true, force: true });
    }
    fs.mkdirSync(runDir, { recursive: true });
    fs.writeFileSync(path.join(runDir, 'config.yaml'), YAML.stringify(config.raw));

    const c = buildRunContainer(config, {
      runDir,
      backendName: backend.name,
      maxSteps: args['max-steps'] ?? null,
    });
    const trainer = createTrainer(c);
    if (resumeDir) await trainer.resume(resumeDir);

    const dashboard = await dashboardFromArgs(c.resolve<EventBus>(Tokens.Events).events$, args, `pretrain ${runDir}`);

    let interrupts = 0;
    const onSigint = (): void => {
      interrupts++;
      if (interrupts > 1) {
        process.stderr.write('\nsslight: second Ctrl-C, exiting without a checkpoint\n');
        process.exit(130);
      }
      process.stderr.write('\nsslight: Ctrl-C: saving a checkpoint after this step (Ctrl-C again to quit now)\n');
      trainer.requestInterrupt();
    };
    process.on('SIGINT', onSigint);
    try {
      const result = await trainer.run();
      process.stderr.write(`sslight: done at step ${result.step} (${result.reason}); outputs in ${runDir}\n`);
    } catch (err) {
      if (err instanceof InterruptedError) throw new InterruptExit(err.message);
      throw err;
    } finally {
      process.off('SIGINT', onSigint);
      await dashboard?.close();
    }
  },
};

/** checkpoint dir `<run>/checkpoints/step_N` -> `<run>`. */
function runDirOf(checkpointDir: string): string {
  return path.dirname(path.dirname(checkpointDir));
}

function defaultRunDir(configFile: string | undefined): string {
  const base = configFile ? path.basename(configFile).replace(/\.ya?ml$/, '') : 'run';
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  return path.join('runs', `${base}-${stamp}`);
}
