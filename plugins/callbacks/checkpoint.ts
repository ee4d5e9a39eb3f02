import { z } from 'zod';
import { registerPlugin } from '../../src/core/registry';
import { pruneCheckpoints } from '../../src/core/checkpoint';
import type { Callback, RunInfo } from '../../src/core/interfaces';

const schema = z
  .object({
    every_steps: z.number().int().positive().nullable().default(null),
    every_epochs: z.number().int().positive().nullable().default(1),
    /** Keep only the newest N checkpoints (null keeps all). */
    keep: z.number().int().positive().nullable().default(3),
    /** Always save when the run ends (completed or --max-steps). */
    save_last: z.boolean().default(true),
  })
  .strict();

/** Saves a checkpoint every N steps and/or epochs and at the end; the trainer awaits it. */
export class CheckpointCallback implements Callback {
  readonly name = 'checkpoint';
  private lastSavedStep = -1;
  constructor(private readonly opts: z.output<typeof schema>) {}

  async afterStep(run: RunInfo, step: number, epoch: number, endOfEpoch: boolean): Promise<void> {
    const byStep = this.opts.every_steps !== null && step % this.opts.every_steps === 0;
    const byEpoch = endOfEpoch && this.opts.every_epochs !== null && epoch % this.opts.every_epochs === 0;
    if (byStep || byEpoch) await this.save(run, step);
  }

  async afterTrain(run: RunInfo): Promise<void> {
    if (this.opts.save_last) await this.save(run, run.step());
  }

  private async save(run: RunInfo, step: number): Promise<void> {
    if (step === this.lastSavedStep) return;
    const path = await run.saveCheckpoint('periodic');
    if (path && run.runDir && this.opts.keep) pruneCheckpoints(run.runDir, this.opts.keep);
    this.lastSavedStep = step;
  }
}

registerPlugin({
  kind: 'callback',
  name: 'checkpoint',
  description: 'atomic checkpoints every N steps/epochs and at the end',
  schema,
  create: (o) => new CheckpointCallback(o),
});
