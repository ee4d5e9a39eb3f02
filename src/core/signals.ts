import { InterruptedError } from './errors';

export type StopSignal = 'SIGINT' | 'SIGTERM';

/**
 * SIGINT / SIGTERM as a flag that long loops poll. A command that can stop cleanly (pretrain)
 * installs the handlers: the first signal sets the flag and the loops finish their current unit of
 * work (a training step, an evaluation batch) and stop; a second signal exits at once.
 * Without handlers installed, Node's default (exit at once) applies and polling is a no-op.
 */
let requested: StopSignal | null = null;
let installed = 0;

/** The signal received, or null. */
export function stopRequested(): StopSignal | null {
  return requested;
}

/** For loops: throw InterruptedError (exit 130 / 143) if a stop signal came. `where` goes in the message. */
export function throwIfStopRequested(where: string): void {
  if (requested) throw new InterruptedError(requested, `${where}: stopped by ${requested}`);
}

export interface StopHandlerOptions {
  /** Called on the first signal (after the flag is set), e.g. to print what will happen. */
  onFirst?(signal: StopSignal): void;
  /** Called on a second signal just before exiting. */
  onSecond?(signal: StopSignal): void;
}

/** Install SIGINT and SIGTERM handlers; returns the function that removes them (and clears the flag). */
export function installStopHandlers(opts: StopHandlerOptions = {}): () => void {
  const handler = (signal: StopSignal): void => {
    if (requested) {
      opts.onSecond?.(signal);
      process.exit(signal === 'SIGTERM' ? 143 : 130);
    }
    requested = signal;
    opts.onFirst?.(signal);
  };
  const onInt = (): void => handler('SIGINT');
  const onTerm = (): void => handler('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  installed++;
  return () => {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    if (--installed === 0) requested = null;
  };
}

/** Set the flag as a signal would (tests, and callers that stop a run programmatically). */
export function requestStop(signal: StopSignal = 'SIGINT'): void {
  requested = signal;
}

/** Clear the flag (tests). */
export function clearStopRequest(): void {
  requested = null;
}
