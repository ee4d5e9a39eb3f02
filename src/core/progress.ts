/**
 * Terminal progress for long jobs (pre-training, feature extraction, probes, COCO evaluation,
 * experiment grids): on a TTY one line redrawn in place with a bar, rate and ETA; otherwise a
 * plain line every `everyMs` (and at the end) so logs stay readable; nothing when quiet.
 *
 *   const p = progress('extract train', nImages, { unit: 'img' });
 *   for (...) { ...; p.tick(batch); }
 *   p.done();
 */

let quiet = process.env.SSLIGHT_QUIET === '1';

/** `--quiet`: every progress reporter in the process stays silent. */
export function setQuiet(q: boolean): void {
  quiet = q;
}

export function isQuiet(): boolean {
  return quiet;
}

export interface ProgressOptions {
  /** What is counted, shown after the rate (`img/s`, `it/s`). */
  unit?: string;
  /** Where to write (default stderr, which keeps stdout for results). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Plain (non-TTY) output: one line at most this often (default 10 s). */
  everyMs?: number;
  /** Plain output: also a line every N counted items (default: time only). */
  everyN?: number | null;
  /** TTY redraws at most this often (default 100 ms). */
  redrawMs?: number;
  barWidth?: number;
  /** Overrides the global quiet flag. */
  quiet?: boolean;
  /** Clock in ms (tests). */
  now?: () => number;
}

export interface ProgressUpdate {
  /** Text after the counters (loss, lr, ...). */
  suffix?: string;
  /** Rate to show instead of the measured one (in `unit` per second). */
  rate?: number;
  /** Seconds left, instead of the one derived from the rate. */
  eta?: number;
  /** Force a plain line now (e.g. every N training steps). */
  force?: boolean;
}

export class ProgressReporter {
  private done_ = 0;
  private lastDraw = -Infinity;
  private lastPlain: number;
  private lastPlainCount = 0;
  private readonly t0: number;
  private readonly samples: Array<[number, number]> = [];
  private pending = false;
  private finished = false;
  private readonly out: NonNullable<ProgressOptions['stream']>;
  private readonly now: () => number;

  constructor(
    readonly label: string,
    public total: number,
    private readonly opts: ProgressOptions = {},
    startAt = 0,
  ) {
    this.out = opts.stream ?? process.stderr;
    this.now = opts.now ?? (() => performance.now());
    this.t0 = this.lastPlain = this.now();
    this.done_ = startAt;
    this.samples.push([this.t0, startAt]);
  }

  get count(): number {
    return this.done_;
  }

  private get silent(): boolean {
    return this.opts.quiet ?? quiet;
  }

  private get tty(): boolean {
    return !!this.out.isTTY;
  }

  tick(n = 1, u: ProgressUpdate = {}): void {
    this.update(this.done_ + n, u);
  }

  /** Items per second over the last ~10 updates. */
  rate(): number {
    const [ta, na] = this.samples[0];
    const [tb, nb] = this.samples[this.samples.length - 1];
    return tb > ta ? ((nb - na) * 1000) / (tb - ta) : NaN;
  }

  update(count: number, u: ProgressUpdate = {}): void {
    this.done_ = count;
    const t = this.now();
    this.samples.push([t, count]);
    if (this.samples.length > 11) this.samples.shift();
    if (this.silent) return;
    const last = count >= this.total;
    if (this.tty) {
      if (u.force) this.printLine(this.line(u));
      else if (last || t - this.lastDraw >= (this.opts.redrawMs ?? 100)) {
        this.out.write(`\r\x1b[2K${this.line(u)}`);
        this.pending = true;
        this.lastDraw = t;
      }
      return;
    }
    const byN = this.opts.everyN ? count - this.lastPlainCount >= this.opts.everyN : false;
    if (u.force || last || byN || t - this.lastPlain >= (this.opts.everyMs ?? 10000)) {
      this.printLine(this.line(u));
      this.lastPlain = t;
      this.lastPlainCount = count;
    }
  }

  /** Erase the redrawn TTY line, before something else writes to the terminal. */
  clear(): void {
    if (this.pending) this.out.write('\r\x1b[2K');
    this.pending = false;
  }

  /** A message on its own line (keeps the TTY bar below it). */
  log(message: string): void {
    if (this.pending) this.out.write('\n');
    this.pending = false;
    this.out.write(message + '\n');
  }

  /** The final line (always printed unless quiet), with the total time. */
  done(suffix?: string): void {
    if (this.finished) return;
    this.finished = true;
    if (this.silent) return;
    const secs = (this.now() - this.t0) / 1000;
    const tail = suffix ? ` ${suffix}` : '';
    this.printLine(`${this.label} ${this.done_}/${this.total} done in ${formatDuration(secs)}${tail}`);
  }

  private printLine(s: string): void {
    if (this.pending) this.out.write('\r\x1b[2K');
    this.pending = false;
    this.out.write(s + '\n');
  }

  private line(u: ProgressUpdate): string {
    const unit = this.opts.unit ?? 'it';
    const rate = u.rate ?? this.rate();
    const left = Math.max(0, this.total - this.done_);
    const eta = u.eta ?? (rate > 0 ? left / rate : NaN);
    const w = this.opts.barWidth ?? 24;
    const frac = this.total > 0 ? Math.min(1, this.done_ / this.total) : 0;
    const bar = w ? `[${'#'.repeat(Math.round(frac * w)).padEnd(w, '.')}] ` : '';
    const rateText = Number.isFinite(rate) ? `${rate.toFixed(1)} ${unit}/s` : `? ${unit}/s`;
    const suffix = u.suffix ? ` ${u.suffix}` : '';
    return `${bar}${this.label} ${this.done_}/${this.total}${suffix} ${rateText} ETA ${formatDuration(eta)}`;
  }
}

/** A reporter for `total` items of `label`. */
export function progress(label: string, total: number, opts: ProgressOptions = {}): ProgressReporter {
  return new ProgressReporter(label, total, opts);
}

/** `3723` -> `1h02m03s`; `NaN` -> `?`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h) return `${h}h${String(m).padStart(2, '0')}m${String(sec).padStart(2, '0')}s`;
  if (m) return `${m}m${String(sec).padStart(2, '0')}s`;
  return `${sec}s`;
}
