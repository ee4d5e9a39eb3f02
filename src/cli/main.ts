import 'reflect-metadata';
import yargs from 'yargs';
import { SslightError, ConfigError } from '../core/errors';
import { pretrainCommand } from './pretrain';
import { infoCommand } from './info';
import { cocoEvalCommand } from './coco_eval';
import { benchCommand } from './bench';
import { viewsCommand } from './views';
import { knnCommand } from './knn';
import { linearCommand } from './linear';
import { experimentCommand } from './experiment';
import { workerCommand } from './worker';
import { semisupCommand } from './semisup';

/** Exit codes: 0 ok, 1 run failure (e.g. NaN loss), 2 bad input (config, files, flags), 130 Ctrl-C. */
export async function main(argv: string[]): Promise<void> {
  try {
    // coco-eval parses its own flags (the COCO module has no dependency on the rest of sslight).
    if (argv[0] === 'coco-eval' && !argv.includes('--help')) {
      const { cocoEvalMain } = await import('../../detection/coco/cli');
      process.exitCode = await cocoEvalMain(argv.slice(1));
      return;
    }
    await yargs(argv)
      .scriptName('sslight')
      .command(pretrainCommand)
      .command(infoCommand)
      .command(cocoEvalCommand)
      .command(benchCommand)
      .command(viewsCommand)
      .command(knnCommand)
      .command(linearCommand)
      .command(experimentCommand)
      .command(workerCommand)
      .command(semisupCommand)
      .demandCommand(1, 'name a command (see --help)')
      .strict()
      .recommendCommands()
      .help()
      .fail((msg, err) => {
        throw err ?? new UsageError(msg);
      })
      .parseAsync();
  } catch (err) {
    process.exitCode = reportError(err);
  }
}

class UsageError extends SslightError {}

function reportError(err: unknown): number {
  if (err instanceof ConfigError || err instanceof UsageError) {
    process.stderr.write(`sslight: ${err.message}\n`);
    return 2;
  }
  if (err instanceof SslightError) {
    process.stderr.write(`sslight: ${err.message}\n`);
    return (err as SslightError & { exitCode?: number }).exitCode ?? 1;
  }
  process.stderr.write(`sslight: ${(err as Error)?.stack ?? String(err)}\n`);
  return 1;
}
