/** Errors a user can act on: each says what, where (key path, file, value) and what was expected. */
export class SslightError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A config value is missing or invalid. `path` is the dotted key path, e.g. `method.alpha`. */
export class ConfigError extends SslightError {
  constructor(readonly path: string, detail: string) {
    super(path ? `config key '${path}': ${detail}` : `config: ${detail}`);
  }
}

/** A plugin name is unknown for its kind. */
export class PluginNotFoundError extends SslightError {
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

/** A checkpoint file is missing, truncated or does not match the run. */
export class CheckpointError extends SslightError {}

/** One data item cannot be read or decoded; loaders skip it and report it instead of stopping. */
export class DataError extends SslightError {
  constructor(readonly source: string, readonly reason: string) {
    super(`cannot read image '${source}': ${reason}`);
  }
}
