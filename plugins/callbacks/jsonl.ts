import * as fs from 'fs';
import * as path from 'path';
import { z } from 'zod';
import type { Observable, Subscription } from 'rxjs';
import { registerPlugin } from '../../src/core/registry';
import type { TrainerEvent } from '../../src/core/events';
import type { Callback, RunInfo } from '../../src/core/interfaces';

const schema = z
  .object({
    /** File name inside the run directory. */
    file: z.string().min(1).default('events.jsonl'),
    /** Event types to leave out (e.g. ['step:start']). */
    exclude: z.array(z.string()).default(['step:start']),
  })
  .strict();

/**
 * One JSON event per line in `<run>/events.jsonl`. Appends synchronously so the file is complete
 * up to the last event even when the process dies; a resumed run appends to the same file.
 */
export class JsonlCallback implements Callback {
  readonly name = 'jsonl';
  constructor(private readonly opts: z.output<typeof schema>) {}

  attach(events$: Observable<TrainerEvent>, run: RunInfo): Subscription | void {
    if (!run.runDir) return;
    fs.mkdirSync(run.runDir, { recursive: true });
    const file = path.join(run.runDir, this.opts.file);
    const fd = fs.openSync(file, 'a');
    const exclude = new Set(this.opts.exclude);
    const sub = events$.subscribe({
      next: (e) => {
        if (!exclude.has(e.type)) fs.writeSync(fd, JSON.stringify(e, replacer) + '\n');
      },
      complete: () => fs.closeSync(fd),
    });
    sub.add(() => {
      try {
        fs.closeSync(fd);
      } catch {
        /* already closed by complete() */
      }
    });
    return sub;
  }
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
