import * as fs from 'fs';
import * as path from 'path';
import { z } from 'zod';
import type { Observable, Subscription } from 'rxjs';
import { registerPlugin } from '../../src/core/registry';
import type { TrainerEvent } from '../../src/core/events';
import type { Callback, RunInfo } from '../../src/core/interfaces';
import { WriteError } from '../../src/core/errors';
import { atomicWrite, wfs, writeAll } from '../../src/core/fs';

const schema = z
  .object({
    /** File name inside the run directory. */
    file: z.string().min(1).default('events.jsonl'),
    /** Event types to leave out (e.g. ['step:start']). */
    exclude: z.array(z.string()).default(['step:start']),
  })
  .strict();

/** Events that a resumed run emits again for the steps after its checkpoint. */
const REPLAYED = new Set(['step:start', 'step:end', 'epoch:end', 'eval:end', 'checkpoint:saved']);

/**
 * One JSON event per line in `<run>/events.jsonl`. Appends synchronously so the file is complete
 * up to the last event even when the process dies; a resumed run appends to the same file, after
 * dropping a partial last line (a crash mid-write) and the events of steps it will run again.
 *
 * A failed write (disk full, permissions) is cut back to the last whole line and ends the run at
 * the next awaited hook with an error naming the file: an exception thrown inside the event
 * stream would escape as an uncaught one.
 */
export class JsonlCallback implements Callback {
  readonly name = 'jsonl';
  private failure: WriteError | null = null;
  constructor(private readonly opts: z.output<typeof schema>) {}

  attach(events$: Observable<TrainerEvent>, run: RunInfo): Subscription | void {
    if (!run.runDir) return;
    const file = path.join(run.runDir, this.opts.file);
    const io = wfs();
    let fd: number;
    let size: number;
    try {
      io.mkdirSync(run.runDir, { recursive: true });
      repairLog(file, run.step());
      fd = io.openSync(file, 'a');
      size = fs.fstatSync(fd).size;
    } catch (e) {
      this.failure = e instanceof WriteError ? e : new WriteError(file, e);
      return;
    }
    const exclude = new Set(this.opts.exclude);
    let closed = false;
    const close = (): void => {
      if (closed) return;
      closed = true;
      try {
        io.closeSync(fd);
      } catch {
        /* nothing left to flush */
      }
    };
    const sub = events$.subscribe({
      next: (e) => {
        if (this.failure || exclude.has(e.type)) return;
        const line = Buffer.from(JSON.stringify(e, replacer) + '\n');
        try {
          writeAll(fd, line);
          size += line.length;
        } catch (err) {
          this.failure = new WriteError(file, err);
          try {
            io.ftruncateSync(fd, size); // never leave a partial line
          } catch {
            /* the resume repairs it */
          }
        }
      },
      complete: close,
    });
    sub.add(close);
    return sub;
  }

  beforeTrain(): void {
    if (this.failure) throw this.failure;
  }

  afterStep(): void {
    if (this.failure) throw this.failure;
  }

  afterTrain(): void {
    if (this.failure) throw this.failure;
  }
}

/**
 * Make an existing log safe to append to: drop a partial last line, and on a resume at `startStep`
 * drop the step events after it (those steps run again and log themselves again).
 */
export function repairLog(file: string, startStep: number): void {
  if (!fs.existsSync(file)) return;
  const text = fs.readFileSync(file, 'utf8');
  let body = text.endsWith('\n') || text === '' ? text : text.slice(0, text.lastIndexOf('\n') + 1);
  if (startStep > 0) {
    const kept = body.split('\n').filter((l) => {
      if (!l) return false;
      try {
        const e = JSON.parse(l) as { type?: string; step?: unknown };
        if (typeof e.step !== 'number') return true;
        if (e.type === 'epoch:start') return e.step < startStep;
        return !(REPLAYED.has(e.type ?? '') && e.step > startStep);
      } catch {
        return false; // a garbled line is no record
      }
    });
    body = kept.length ? kept.join('\n') + '\n' : '';
  }
  if (body !== text) atomicWrite(file, Buffer.from(body));
}

/** JSON has no NaN/Infinity: write them as strings so a non-finite loss is still visible. */
function replacer(_key: string, value: unknown): unknown {
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  return value;
}

registerPlugin({
  kind: 'callback',
  name: 'jsonl',
  description: 'events.jsonl in the run directory, one event per line',
  schema,
  create: (o) => new JsonlCallback(o),
});
