import type { CommandModule } from 'yargs';
import { SslightError } from '../core/errors';
import { startWorker } from '../experiment/queue';
import { loadPlugins } from './common';

interface Args {
  queue: string;
  'lock-s': number;
  plugin?: string[];
}

class WorkerExit extends SslightError {
  constructor(readonly exitCode: number) {
    super(`worker stopped by ${exitCode === 130 ? 'SIGINT' : 'SIGTERM'}`);
  }
}

/**
 * `sslight worker --queue URL`: takes grid cells from a BullMQ queue one at a time, until
 * stopped. The grid's output directory must be visible here at the same path (shared storage).
 */
export const workerCommand: CommandModule<object, Args> = {
  command: 'worker',
  describe: 'run grid cells from a BullMQ queue (see `sslight experiment --queue`)',
  builder: (y) =>
    y
      .option('queue', { type: 'string', demandOption: true, describe: 'redis://HOST:PORT[/name]' })
      .option('lock-s', {
        type: 'number',
        default: 60,
        describe: 'seconds without a heartbeat after which a dead worker\'s cell goes to another worker',
      })
      .option('plugin', { type: 'string', array: true, describe: 'load an external plugin module' }) as never,
  handler: async (args) => {
    if (!(args['lock-s'] > 0)) throw new SslightError(`--lock-s must be > 0, got ${args['lock-s']}`);
    loadPlugins(args.plugin);
    const log = (msg: string): void => {
      process.stderr.write(`sslight: ${msg}\n`);
    };
    const worker = startWorker(args.queue, { lockMs: Math.round(args['lock-s'] * 1000), log });
    log(`worker waiting for cells on ${args.queue}`);
    const code = await new Promise<number>((resolve) => {
      const stop = (c: number) => () => resolve(c);
      process.once('SIGINT', stop(130));
      process.once('SIGTERM', stop(143));
    });
    // The cell in progress (if any) finishes or, on Ctrl-C during pre-training, checkpoints and
    // goes back to the queue.
    await worker.close();
    throw new WorkerExit(code);
  },
};
