/** Errors a user can act on: each says what, where (key path, file, value) and what was expected. */
export class SslightError extends Error {
  // Subclasses may set `exitCode` (2 bad input, 130/143 signal); without one a command exits 1.
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad input the user can fix (a file, a flag, a path): exit code 2. */
export class InputError extends SslightError {
  readonly exitCode: number = 2;
}

/** A config value is missing or invalid. `path` is the dotted key path, e.g. `method.alpha`. */
export class ConfigError extends InputError {
  constructor(readonly path: string, detail: string) {
    super(path ? `config key '${path}': ${detail}` : `config: ${detail}`);
  }
}

/** A plugin name is unknown for its kind. */
export class PluginNotFoundError extends InputError {
  constructor(readonly kind: string, readonly pluginName: string, known: string[]) {
    super(`no ${kind} plugin named '${pluginName}' (known: ${known.join(', ') || 'none'})`);
  }
}

/** The loss became NaN or Inf; the run stops and the last good checkpoint is kept. */
export class NonFiniteLossError extends SslightError {
  constructor(readonly step: number, readonly value: number, readonly lastCheckpoint: string | null) {
    super(
      `loss is ${value} at step ${step}; run stopped` +
        (lastCheckpoint ? `, last good checkpoint kept at ${lastCheckpoint}` : ' (no checkpoint had been written yet)'),
    );
  }
}

/** The wasm heap would exceed its budget (the 4 GiB ceiling fails silently, so we fail loudly first). */
export class MemoryBudgetError extends SslightError {}

/** A checkpoint file is missing, truncated, holds non-finite values or does not match the run. */
export class CheckpointError extends InputError {}

/** A gradient or an updated weight became NaN or Inf; the run stops before anything is saved. */
export class NonFiniteValueError extends SslightError {
  constructor(readonly what: string, readonly tensor: string, readonly step: number, readonly lastCheckpoint: string | null) {
    super(
      `${what} '${tensor}' is not finite at step ${step}; run stopped` +
        (lastCheckpoint ? `, last good checkpoint kept at ${lastCheckpoint}` : ' (no checkpoint had been written yet)'),
    );
  }
}

/** Writing an output failed (disk full, permissions): the message names the path. Exit code 1. */
export class WriteError extends SslightError {
  constructor(readonly path: string, readonly fsError: unknown) {
    super(`cannot write ${path}: ${describeFsError(fsError)}`);
  }
}

/** The run or command stopped on SIGINT (exit 130) or SIGTERM (exit 143), after saving what it could. */
export class InterruptedError extends SslightError {
  readonly exitCode: number;
  constructor(readonly signal: 'SIGINT' | 'SIGTERM', message: string) {
    super(message);
    this.exitCode = signal === 'SIGTERM' ? 143 : 130;
  }
}

/** `ENOSPC: no space left on device, write` -> `no space left on device (ENOSPC)`. */
export function describeFsError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e.code === 'string') {
    const text = String(e.message ?? '')
      .replace(new RegExp(`^${e.code}:\\s*`), '')
      .replace(/,\s*\w+(\s+'[^']*')*$/, '');
    return `${text || 'error'} (${e.code})`;
  }
  return (err as Error)?.message ?? String(err);
}

/** One data item cannot be read or decoded; loaders skip it and report it instead of stopping. */
export class DataError extends SslightError {
  constructor(readonly source: string, readonly reason: string) {
    super(`cannot read image '${source}': ${reason}`);
  }
}
