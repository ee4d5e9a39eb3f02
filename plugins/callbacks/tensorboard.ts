import * as fs from 'fs';
import * as path from 'path';
import { z } from 'zod';
import type { Observable, Subscription } from 'rxjs';
import { registerPlugin } from '../../src/core/registry';
import type { TrainerEvent } from '../../src/core/events';
import type { Callback, RunInfo } from '../../src/core/interfaces';
import { MetricStore } from '../../src/core/metric_store';
import { TensorBoardWriter } from './common/tb_writer';

const schema = z
  .object({
    /** Folder inside the run directory. */
    dir: z.string().min(1).default('tensorboard'),
    /** Write the step scalars every N steps (evaluation and epoch scalars always). */
    every_steps: z.number().int().positive().default(1),
    /** Image summaries from `image` events (views montage, detections). */
    images: z.boolean().default(true),
  })
  .strict();

/**
 * TensorBoard event files under `<run>/tensorboard/`: every scalar of the run's MetricStore
 * as `<group>/<name>` (loss terms, lr, wd, teacher temperature and momentum, ps_ratio, images/s,
 * step time, memory including the process RSS, evaluation metrics) and every `image` event as
 * an image summary. `tensorboard --logdir runs/` shows them.
 */
export class TensorBoardCallback implements Callback {
  readonly name = 'tensorboard';
  constructor(private readonly opts: z.output<typeof schema>) {}

  attach(events$: Observable<TrainerEvent>, run: RunInfo): Subscription | void {
    if (!run.runDir) return;
    const store = MetricStore.for(events$);
    const dir = path.join(run.runDir, this.opts.dir);
    let writer: TensorBoardWriter | null = null;
    const open = (): TensorBoardWriter => (writer ??= new TensorBoardWriter(dir));
    let pending = new Set<string>();
    const stopListening = store.onUpdate((_step, names) => names.forEach((n) => pending.add(n)));
    const flush = (step: number, time: number, extra: Array<{ tag: string; value: number }> = []): void => {
      const scalars = extra.slice();
      for (const name of pending) {
        const b = store.get(name);
        const p = b?.latest();
        if (b && p) scalars.push({ tag: `${b.group}/${name}`, value: p.value });
      }
      pending = new Set();
      open().addScalars(step, scalars, time / 1000);
    };
    const sub = events$.subscribe({
      next: (e) => {
        switch (e.type) {
          case 'run:start':
            open();
            break;
          case 'step:end':
            if (e.step % this.opts.every_steps === 0 || e.step === e.totalSteps) {
              flush(e.step, e.time, [{ tag: 'memory/rss_mb', value: process.memoryUsage().rss / 2 ** 20 }]);
            } else pending = new Set();
            break;
          case 'eval:end':
          case 'epoch:end':
            flush(e.step, e.time);
            break;
          case 'image':
            if (this.opts.images) {
              // A picture that cannot be read must not stop the run (a throw here would).
              let png: Buffer | null = null;
              try {
                png = fs.readFileSync(e.path);
              } catch (err) {
                process.stderr.write(`sslight: tensorboard: image ${e.tag} skipped: ${(err as Error).message}\n`);
              }
              if (png) open().addImage(e.tag, e.step, png, e.width, e.height, e.time / 1000);
            }
            break;
          default:
            break;
        }
      },
      complete: () => writer?.close(),
    });
    sub.add(() => {
      stopListening();
      writer?.close();
    });
    return sub;
  }
}

registerPlugin({
  kind: 'callback',
  name: 'tensorboard',
  description: 'TensorBoard event files (scalars, images) in <run>/tensorboard',
  schema,
  create: (o) => new TensorBoardCallback(o),
});
