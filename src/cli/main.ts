import 'reflect-metadata';
import yargs from 'yargs';
import { SslightError, InputError, describeFsError } from '../core/errors';
import { pretrainCommand } from './pretrain';
import { infoCommand } from './info';
import { cocoEvalCommand, cocoEvalProgress } from './coco_eval';
import { setQuiet } from '../core/progress';
import { benchCommand } from './bench';
import { viewsCommand } from './views';
import { knnCommand } from './knn';
import { linearCommand } from './linear';
import { plotCommand } from './plot';
import { embedCommand } from './embed';
import { exportCommand } from './export';
import { experimentCommand } from './experiment';
import { workerCommand } from './worker';
import { semisupCommand } from './semisup';
import { detectCommand } from './detect';

/**
 * Exit codes, the same for every command: 0 done, 1 run failure (NaN loss, disk full), 2 bad input
 * (config, flags, input files, an output path that cannot be written), 130 SIGINT, 143 SIGTERM.
 */
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
      .command(embedCommand)
      .command(exportCommand)
      .command(experimentCommand)
      .command(workerCommand)
      .command(semisupCommand)
      .command(detectCommand)
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

class UsageError extends InputError {}

/** Paths the user named that cannot be used: bad input. Anything else (ENOSPC, EIO) is a run failure. */
const BAD_PATH_CODES = new Set(['EACCES', 'EPERM', 'ENOENT', 'ENOTDIR', 'EISDIR', 'EROFS', 'ENAMETOOLONG']);

export function reportError(err: unknown): number {
  if (err instanceof SslightError) {
    process.stderr.write(`sslight: ${err.message}\n`);
    return (err as SslightError & { exitCode?: number }).exitCode ?? 1;
  }
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e.code === 'string' && typeof e.path === 'string') {
    // A file-system error no command wrapped: one line naming the path, not a stack.
    process.stderr.write(`sslight: cannot ${e.syscall ?? 'access'} ${e.path}: ${describeFsError(e)}\n`);
    return BAD_PATH_CODES.has(e.code) ? 2 : 1;
  }
  process.stderr.write(`sslight: ${(err as Error)?.stack ?? String(err)}\n`);
  return 1;
}
