import { Subject, Observable, config as rxjsConfig } from 'rxjs';

/**
 * The trainer's typed event stream. Observers (progress bar, events.jsonl, plots) subscribe
 * with RxJS operators; anything that must finish before the loop continues is an awaited
 * callback hook instead (`beforeTrain` / `afterStep` / `afterTrain` of `Callback` in interfaces.ts).
 *
 * `step`: in `step:start` and `step:end` the number of the optimizer step they bracket, 1-based
 * (both carry the same number); in every other event the number of steps done when it is emitted.
 */
export type TrainerEvent =
  | {
      type: 'run:start';
      time: number;
      runDir: string | null;
      backend: string;
      seed: number;
      config: unknown;
      startStep: number;
      totalSteps: number;
      stepsPerEpoch: number;
      resumedFrom: string | null;
    }
  | { type: 'epoch:start'; time: number; epoch: number; step: number }
  | {
      type: 'step:start';
      time: number;
      epoch: number;
      /** The step about to run, 1-based: the same number its `step:end` will carry. */
      step: number;
    }
  | {
      type: 'step:end';
      time: number;
      epoch: number;
      /** Global step just completed, 1-based (== number of optimizer steps done). */
      step: number;
      totalSteps: number;
      losses: Record<string, number>;
      lr: number;
      wd: number;
      images_per_s: number;
      step_ms: number;
      /** Method and view-sampler scalars: teacher temperature, momentum, mean PS_g/PS_l, ... */
      metrics: Record<string, number>;
    }
  | { type: 'epoch:end'; time: number; epoch: number; step: number; metrics: Record<string, number> }
  | { type: 'eval:end'; time: number; step: number; metrics: Record<string, number> }
  | { type: 'checkpoint:saved'; time: number; step: number; epoch: number; path: string }
  | { type: 'data:skipped'; time: number; source: string; reason: string; skippedTotal: number }
  | { type: 'warning'; time: number; step: number; message: string }
  /** Information worth keeping in the run's record, e.g. what a resume changed in the config. */
  | { type: 'log'; time: number; step?: number; message: string }
  /** A picture for the writers (views montage, detections): a PNG file, usually under `<run>/images/`. */
  | { type: 'image'; time: number; step: number; tag: string; path: string; width: number; height: number }
  | {
      type: 'run:end';
      time: number;
      step: number;
      reason: 'completed' | 'max-steps' | 'interrupted';
      metrics: Record<string, number>;
    }
  | { type: 'run:error'; time: number; step: number; error: string };

export type TrainerEventType = TrainerEvent['type'];
export type EventOf<T extends TrainerEventType> = Extract<TrainerEvent, { type: T }>;

/** Distributive Omit, so each union member keeps its own fields. */
export type EventInput = TrainerEvent extends infer E ? (E extends TrainerEvent ? Omit<E, 'time'> : never) : never;

/** The bus: one Subject, exposed read-only to subscribers. */
export class EventBus {
  private readonly subject = new Subject<TrainerEvent>();
  readonly events$: Observable<TrainerEvent> = this.subject.asObservable();
  private subscriberError: unknown = null;

  /** The first error a subscriber threw while watched (see `watchSubscriberErrors`), once. */
  takeSubscriberError(): unknown {
    const e = this.subscriberError;
    this.subscriberError = null;
    return e;
  }

  /** @internal */
  recordSubscriberError(err: unknown): void {
    this.subscriberError ??= err;
  }

  emit(event: EventInput): void {
    this.subject.next({ ...event, time: Date.now() } as TrainerEvent);
  }

  complete(): void {
    this.subject.complete();
  }
}

/** Filter helper with narrowing: `bus.events$.pipe(ofType('step:end'))`. */
export function ofType<T extends TrainerEventType>(...types: T[]) {
  return (source: Observable<TrainerEvent>): Observable<EventOf<T>> =>
    new Observable<EventOf<T>>((sub) =>
      source.subscribe({
        next: (e) => {
          if ((types as string[]).includes(e.type)) sub.next(e as EventOf<T>);
        },
        error: (err) => sub.error(err),
        complete: () => sub.complete(),
      }),
    );
}

const watched = new Set<EventBus>();
const defaultUnhandled = rxjsConfig.onUnhandledError;

/**
 * While a run is going, an error thrown by a subscriber (say, a log writer on a full disk) is
 * kept on the bus for the trainer to end the run with, instead of escaping from a timer as an
 * uncaught exception (rxjs reports subscriber errors asynchronously). Returns the un-watch function.
 */
export function watchSubscriberErrors(bus: EventBus): () => void {
  watched.add(bus);
  rxjsConfig.onUnhandledError = (err) => {
    if (watched.size === 0) {
      if (defaultUnhandled) defaultUnhandled(err);
      else setTimeout(() => { throw err; });
      return;
    }
    for (const b of watched) b.recordSubscriberError(err);
  };
  return () => {
    watched.delete(bus);
    if (watched.size === 0) rxjsConfig.onUnhandledError = defaultUnhandled;
  };
}
