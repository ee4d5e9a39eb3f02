import type { CommandModule } from 'yargs';

interface Args {
  quick?: boolean;
  only?: string[];
  out?: string;
  backends?: string;
}

/** `sslight bench`: the same as `npm run bench` (throughput, memory, COCO eval speed). */
export const benchCommand: CommandModule<object, Args> = {
  command: 'bench',
  describe: 'measure training throughput, memory and COCO evaluation speed; writes bench/results/<date>.json',
  builder: (y) =>
    y
      .option('quick', { type: 'boolean', describe: 'fewer steps, smaller problems' })
      .option('only', { type: 'string', array: true, describe: 'run only these parts' })
      .option('out', { type: 'string', describe: 'output JSON path' })
      .option('backends', { type: 'string', describe: 'comma-separated backends to measure (default: all that load but plain cpu)' }) as never,
  handler: async (args) => {
    const { runBench } = await import('../../bench/run');
    await runBench({ quick: args.quick, only: args.only, out: args.out, backends: args.backends?.split(',') });
  },
};
