import type { Observable } from 'rxjs';
import type { TrainerEvent } from './events';

/** Which panel/tag group a scalar belongs to (TensorBoard tags are `<group>/<name>`). */
export type MetricGroup = 'loss' | 'hyper' | 'train' | 'perf' | 'memory' | 'eval' | 'epoch';

export interface MetricPoint {
  step: number;
  value: number;
  /** Wall-clock time of the event, ms since the epoch. */
  time: number;
}

/**
 * The values of one scalar: a short exact window for smoothing, and the whole run's history,
 * thinned 2:1 whenever it outgrows `maxHistory` so a 250k-step run stays bounded in memory.
 */
export class HistoryBuffer {
  private readonly recent: MetricPoint[] = [];
  private readonly all: MetricPoint[] = [];
  private stride = 1;
  private skipped = 0;

  constructor(
    readonly group: MetricGroup,
    private readonly windowCap = 1000,
    private readonly maxHistory = 20000,
  ) {}

  put(p: MetricPoint): void {
    this.recent.push(p);
    if (this.recent.length > this.windowCap) this.recent.shift();
    // Keep every `stride`-th point (and always the newest, replaced below) once thinned.
    if (++this.skipped >= this.stride || this.all.length === 0) {
      this.all.push(p);
      this.skipped = 0;
      if (this.all.length > this.maxHistory) {
        let j = 0;
        for (let i = 0; i < this.all.length; i += 2) this.all[j++] = this.all[i];
        this.all.length = j;
        this.stride *= 2;
      }
    }
  }

  latest(): MetricPoint | undefined {
    return this.recent[this.recent.length - 1];
  }

  /** Median of the last `window` values (detectron2's choice for noisy timings). */
  median(window = 20): number {
    const v = this.lastValues(window).sort((a, b) => a - b);
    if (!v.length) return NaN;
    const m = v.length >> 1;
    return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
  }

  /** Mean of the last `window` values. */
  avg(window = 20): number {
    const v = this.lastValues(window);
    return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
  }

  /** The run's history (every point, or evenly thinned for very long runs), newest last. */
  history(): MetricPoint[] {
    const last = this.latest();
    const h = this.all.slice();
    if (last && h[h.length - 1] !== last) h.push(last);
    return h;
  }

  private lastValues(window: number): number[] {
    return this.recent.slice(-Math.max(1, window)).map((p) => p.value).filter(Number.isFinite);
  }
}

/**
 * One place where a run's scalars are collected, windowed and smoothed (detectron2's
 * EventStorage): it reads the event stream, and the writers (terminal progress, TensorBoard,
 * the dashboard) read it instead of each keeping its own averages.
 *
 * Scalar names are flat: a `step:end` gives every loss term (`loss`, `loss_gg`, ...), `lr`,
 * `wd`, `images_per_s`, `step_ms` and every entry of `metrics` (`ps_ratio`, `teacher_temp`,
 * `num_tensors`, ...); `eval:end` gives its metrics (`knn_top1`, `AP`, ...); `epoch:end` gives
 * `epoch_<name>`. Each carries a group for display.
 */
export class MetricStore {
  private readonly buffers = new Map<string, HistoryBuffer>();
  private iter = 0;
  private total = 0;
  private start = 0;
  private listeners: Array<(step: number, names: string[]) => void> = [];

  /** The store shared by every writer subscribed to this stream (created on first request). */
  static for(events$: Observable<TrainerEvent>): MetricStore {
    let s = STORES.get(events$);
    if (!s) {
      const store = new MetricStore();
      // Subscribed before the asking writer subscribes, so it is always updated first.
      events$.subscribe((e) => store.ingest(e));
      STORES.set(events$, (s = store));
    }
    return s;
  }

  /** Global step of the newest `step:end` (0 before the first). */
  get step(): number {
    return this.iter;
  }

  get totalSteps(): number {
    return this.total;
  }

  /** The step the run (or the resumed part of it) started at. */
  get startStep(): number {
    return this.start;
  }

  put(name: string, value: number, step: number, group: MetricGroup, time = Date.now()): void {
    let b = this.buffers.get(name);
    if (!b) this.buffers.set(name, (b = new HistoryBuffer(group)));
    b.put({ step, value, time });
  }

  has(name: string): boolean {
    return this.buffers.has(name);
  }

  get(name: string): HistoryBuffer | undefined {
    return this.buffers.get(name);
  }

  names(): string[] {
    return [...this.buffers.keys()];
  }

  /** Newest value of every scalar, with its step and group. */
  latest(): Array<{ name: string; group: MetricGroup } & MetricPoint> {
    const out: Array<{ name: string; group: MetricGroup } & MetricPoint> = [];
    for (const [name, b] of this.buffers) {
      const p = b.latest();
      if (p) out.push({ name, group: b.group, ...p });
    }
    return out;
  }

  /** Median of the last `window` values of a scalar (NaN when unknown). */
  median(name: string, window = 20): number {
    return this.buffers.get(name)?.median(window) ?? NaN;
  }

  /** Called with (step, names put) after each event that carried scalars. */
  onUpdate(fn: (step: number, names: string[]) => void): () => void {
    this.listeners.push(fn);
    return () => {
      this.listeners = this.listeners.filter((f) => f !== fn);
    };
  }

  /** Seconds left, from the median step time of the last `window` steps. */
  etaSeconds(window = 20): number {
    const ms = this.median('step_ms', window);
    return ((this.total - this.iter) * ms) / 1000;
  }

  ingest(e: TrainerEvent): void {
    const names: string[] = [];
    const put = (name: string, value: unknown, step: number, group: MetricGroup): void => {
      if (typeof value !== 'number') return;
      this.put(name, value, step, group, e.time);
      names.push(name);
    };
    switch (e.type) {
      case 'run:start':
        this.start = this.iter = e.startStep;
        this.total = e.totalSteps;
        return;
      case 'step:end':
        this.iter = e.step;
        this.total = e.totalSteps;
        for (const [k, v] of Object.entries(e.losses)) put(k, v, e.step, 'loss');
        put('lr', e.lr, e.step, 'hyper');
        put('wd', e.wd, e.step, 'hyper');
        put('images_per_s', e.images_per_s, e.step, 'perf');
        put('step_ms', e.step_ms, e.step, 'perf');
        for (const [k, v] of Object.entries(e.metrics ?? {})) put(k, v, e.step, groupOf(k));
        break;
      case 'eval:end':
        for (const [k, v] of Object.entries(e.metrics)) put(k, v, e.step, 'eval');
        break;
      case 'epoch:end':
        for (const [k, v] of Object.entries(e.metrics)) put(`epoch_${k}`, v, e.step, 'epoch');
        break;
      default:
        return;
    }
    if (names.length) for (const fn of this.listeners) fn(this.iter, names);
  }
}

const STORES = new WeakMap<Observable<TrainerEvent>, MetricStore>();

const MEMORY = new Set(['num_tensors', 'wasm_heap_mb', 'rss_mb', 'heap_mb']);
const HYPER = new Set(['teacher_temp', 'momentum', 'temperature', 'weight_decay']);

/** Group of a `step:end` metric by name: memory, schedule values, the rest are training stats. */
export function groupOf(name: string): MetricGroup {
  if (MEMORY.has(name)) return 'memory';
  if (HYPER.has(name)) return 'hyper';
  if (name.startsWith('loss')) return 'loss';
  return 'train';
}
