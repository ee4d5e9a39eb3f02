import 'reflect-metadata';
import yargs from 'yargs';
import { SslightError, ConfigError } from '../core/errors';
import { pretrainCommand } from './pretrain';
import { infoCommand } from './info';
import { cocoEvalCommand, cocoEvalProgress } from './coco_eval';
import { setQuiet } from '../core/progress';
import { benchCommand } from './bench';
import { viewsCommand } from './views';
import { knnCommand } from './knn';
import { linearCommand } from './linear';
import { plotCommand } from './plot';

/** Exit codes: 0 ok, 1 run failure (e.g. NaN loss), 2 bad input (config, files, flags), 130 Ctrl-C. */
export async function main(argv: string[]): Promise<void> {
  try {
    // coco-eval parses its own flags (the COCO module has no dependency on the rest of sslight).
    if (argv[0] === 'coco-eval' && !argv.includes('--help')) {
      const { cocoEvalMain } = await import('../../detection/coco/cli');
      setQuiet(argv.includes('--quiet') || process.env.SSLIGHT_QUIET === '1');
      process.exitCode = await cocoEvalMain(argv.slice(1).filter((a) => a !== '--quiet'), undefined, cocoEvalProgress());
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
      .command(plotCommand)
      .option('quiet', { type: 'boolean', global: true, describe: 'no progress output (bars, rates, ETAs)' })
      .middleware((a) => setQuiet(!!a.quiet || process.env.SSLIGHT_QUIET === '1'))
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
