import { z } from 'zod';
import type { Subscription } from 'rxjs';
import { registerPlugin } from '../../src/core/registry';
import type { Callback } from '../../src/core/interfaces';
import { formatDuration } from './format';

const schema = z
  .object({
    /** Print every N steps (a TTY redraws one line every step regardless). */
    every_steps: z.number().int().positive().default(10),
    /** Smoothing of the images/s figure (EMA factor of the newest step). */
    smoothing: z.number().gt(0).lte(1).default(0.3),
    bar_width: z.number().int().nonnegative().default(24),
  })
  .strict();

/** Writes one human-readable progress line: step, epoch, loss, lr, images/s, ETA. */
export class ProgressCallback implements Callback {
  readonly name = 'progress';
  constructor(
    private readonly opts: z.output<typeof schema>,
    private readonly out: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr,
  ) {}

  attach(events$: import('rxjs').Observable<import('../../src/core/events').TrainerEvent>): Subscription {
    let ips = 0;
    let startStep = 0;
    let pendingNewline = false;
    const tty = !!this.out.isTTY;
    const write = (line: string, transient: boolean): void => {
      if (tty && transient) {
        this.out.write(`\r\x1b[2K${line}`);
        pendingNewline = true;
      } else {
        if (pendingNewline) this.out.write('\n');
        pendingNewline = false;
        this.out.write(line + '\n');
      }
    };
    return events$.subscribe((e) => {
      switch (e.type) {
        case 'run:start':
          startStep = e.startStep;
          write(
            `sslight: backend ${e.backend}, ${e.totalSteps} steps (${e.stepsPerEpoch}/epoch)` +
              (e.resumedFrom ? `, resumed at step ${e.startStep} from ${e.resumedFrom}` : '') +
              (e.runDir ? `, output ${e.runDir}` : ''),
            false,
          );
          break;
        case 'step:end': {
          ips = e.step - startStep <= 1 ? e.images_per_s : this.opts.smoothing * e.images_per_s + (1 - this.opts.smoothing) * ips;
          const left = e.totalSteps - e.step;
          const batch = (e.images_per_s * e.step_ms) / 1000;
          const eta = ips > 0 ? (left * batch) / ips : NaN;
          const frac = e.totalSteps ? e.step / e.totalSteps : 0;
          const w = this.opts.bar_width;
          const bar = w ? `[${'#'.repeat(Math.round(frac * w)).padEnd(w, '.')}] ` : '';
          const extra = Object.entries(e.losses)
            .filter(([k]) => k !== 'loss')
            .map(([k, v]) => ` ${k} ${v.toFixed(4)}`)
            .join('');
          const line =
            `${bar}step ${e.step}/${e.totalSteps} ep ${e.epoch} loss ${e.losses.loss.toFixed(4)}${extra} ` +
            `lr ${e.lr.toExponential(3)} ${ips.toFixed(1)} img/s ETA ${formatDuration(eta)}`;
          const periodic = e.step % this.opts.every_steps === 0 || e.step === e.totalSteps;
          if (tty) write(line, !periodic);
          else if (periodic) write(line, false);
          break;
        }
        case 'checkpoint:saved':
          write(`checkpoint saved: ${e.path}`, false);
          break;
        case 'warning':
          write(`warning (step ${e.step}): ${e.message}`, false);
          break;
        case 'data:skipped':
          write(`skipped unreadable image ${e.source}: ${e.reason} (${e.skippedTotal} skipped so far)`, false);
          break;
        case 'run:end':
          write(`run ended at step ${e.step} (${e.reason})`, false);
          break;
        case 'run:error':
          write(`run failed at step ${e.step}: ${e.error}`, false);
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
