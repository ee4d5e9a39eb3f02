import { z } from 'zod';
import type { Observable, Subscription } from 'rxjs';
import { registerPlugin } from '../../src/core/registry';
import type { TrainerEvent } from '../../src/core/events';
import type { Callback } from '../../src/core/interfaces';
import { MetricStore } from '../../src/core/metric_store';
import { isQuiet, ProgressReporter } from '../../src/core/progress';

const schema = z
  .object({
    /** A permanent line every N steps (a TTY also redraws one line in place in between). */
    every_steps: z.number().int().positive().default(10),
    /** images/s and ETA: median over this many recent steps (from the run's metric store). */
    window: z.number().int().positive().default(20),
    bar_width: z.number().int().nonnegative().default(24),
  })
  .strict();

/**
 * Pre-training progress on the terminal: step, epoch, loss terms, lr, images/s and ETA, read
 * from the run's MetricStore; run start/end, checkpoints and warnings on their own lines.
 * `--quiet` silences all of it but warnings and errors.
 */
export class ProgressCallback implements Callback {
  readonly name = 'progress';
  constructor(
    private readonly opts: z.output<typeof schema>,
    private readonly out: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr,
  ) {}

  attach(events$: Observable<TrainerEvent>): Subscription {
    const store = MetricStore.for(events$);
    let bar: ProgressReporter | null = null;
    const say = (line: string, important = false): void => {
      if (isQuiet() && !important) return;
      if (bar) bar.log(line);
      else this.out.write(line + '\n');
    };
    return events$.subscribe((e) => {
      switch (e.type) {
        case 'run:start':
          bar = new ProgressReporter(
            'step',
            e.totalSteps,
            { stream: this.out, unit: 'img', barWidth: this.opts.bar_width, everyMs: Infinity },
            e.startStep,
          );
          say(
            `sslight: backend ${e.backend}, ${e.totalSteps} steps (${e.stepsPerEpoch}/epoch)` +
              (e.resumedFrom ? `, resumed at step ${e.startStep} from ${e.resumedFrom}` : '') +
              (e.runDir ? `, output ${e.runDir}` : ''),
          );
          break;
        case 'step:end': {
          if (!bar) bar = new ProgressReporter('step', e.totalSteps, { stream: this.out, unit: 'img', everyMs: Infinity });
          bar.total = e.totalSteps;
          const extra = Object.entries(e.losses)
            .filter(([k]) => k !== 'loss')
            .map(([k, v]) => ` ${k} ${v.toFixed(4)}`)
            .join('');
          bar.update(e.step, {
            suffix: `ep ${e.epoch} loss ${e.losses.loss.toFixed(4)}${extra} lr ${e.lr.toExponential(3)}`,
            rate: store.median('images_per_s', this.opts.window),
            eta: store.etaSeconds(this.opts.window),
            force: e.step % this.opts.every_steps === 0 || e.step === e.totalSteps,
          });
          break;
        }
        case 'checkpoint:saved':
          say(`checkpoint saved: ${e.path}`);
          break;
        case 'warning':
          say(`warning (step ${e.step}): ${e.message}`, true);
          break;
        case 'data:skipped':
          say(`skipped unreadable image ${e.source}: ${e.reason} (${e.skippedTotal} skipped so far)`, true);
          break;
        case 'eval:end':
          say(`eval at step ${e.step}: ${Object.entries(e.metrics).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(' ')}`);
          break;
        case 'run:end':
          say(`run ended at step ${e.step} (${e.reason})`);
          break;
        case 'run:error':
          say(`run failed at step ${e.step}: ${e.error}`, true);
          break;
        default:
          break;
      }
    });
  }
}

registerPlugin({
  kind: 'callback',
  name: 'progress',
  description: 'console progress: loss, lr, images/s, ETA',
  schema,
  create: (o) => new ProgressCallback(o),
});
