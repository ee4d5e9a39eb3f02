import { z } from 'zod';
import { registerPlugin } from '../../src/core/registry';
import type { Callback, KnnProbe, RunInfo } from '../../src/core/interfaces';

const schema = z
  .object({
    /** Evaluate after every N epochs (null: only by steps). */
    every_epochs: z.number().int().positive().nullable().default(1),
    /** Evaluate every N steps as well (null: off). */
    every_steps: z.number().int().positive().nullable().default(null),
    /** Class-balanced subset sizes of the train split (neighbours) and test split (queries). */
    num_train: z.number().int().positive().default(1000),
    num_test: z.number().int().positive().default(500),
    k: z.number().int().positive().default(20),
    temperature: z.number().positive().default(0.07),
    /** Also evaluate before the first step (the random-init floor of this run). */
    at_start: z.boolean().default(false),
  })
  .strict();

/**
 * k-NN top-1 of the student backbone on small class-balanced subsets while pre-training runs,
 * published as `eval:end` (metrics knn_top1, knn_num_train, knn_num_test), which events.jsonl
 * records, so features can be seen improving (or not) before the run ends.
 */
export class KnnMonitorCallback implements Callback {
  readonly name = 'knn_monitor';
  private lastStep = -1;
  constructor(
    private readonly opts: z.output<typeof schema>,
    private readonly probe: KnnProbe | undefined,
  ) {}

  async beforeTrain(run: RunInfo): Promise<void> {
    if (this.opts.at_start && run.step() === 0) await this.evaluate(run, 0);
  }

  async afterStep(run: RunInfo, step: number, epoch: number, endOfEpoch: boolean): Promise<void> {
    const o = this.opts;
    const byStep = o.every_steps !== null && step % o.every_steps === 0;
    const byEpoch = endOfEpoch && o.every_epochs !== null && epoch % o.every_epochs === 0;
    if (byStep || byEpoch) await this.evaluate(run, step);
  }

  private async evaluate(run: RunInfo, step: number): Promise<void> {
    if (step === this.lastStep) return;
    this.lastStep = step;
    if (!this.probe) throw new Error('knn_monitor needs a k-NN probe from the run (the trainer was built without one)');
    const t0 = Date.now();
    const r = await this.probe.knn({ numTrain: this.opts.num_train, numTest: this.opts.num_test, k: this.opts.k, temperature: this.opts.temperature });
    run.events.emit({
      type: 'eval:end',
      step,
      metrics: { knn_top1: r.top1, knn_num_train: r.numTrain, knn_num_test: r.numTest, knn_seconds: (Date.now() - t0) / 1000 },
    });
    run.events.emit({ type: 'log', message: `knn_monitor: step ${step}: k-NN top-1 ${(r.top1 * 100).toFixed(2)}% (${r.numTrain} train / ${r.numTest} test images)` });
  }
}

registerPlugin({
  kind: 'callback',
  name: 'knn_monitor',
  description: 'k-NN top-1 on class-balanced subsets every N epochs/steps (eval:end events)',
  schema,
  create: (o, { probe }) => new KnnMonitorCallback(o, probe),
});
