import * as fs from 'fs';
import * as path from 'path';
import '../run/builtins';
import { loadPluginModule } from '../core/plugin_loader';
import { describeFsError, InputError } from '../core/errors';
import { wfs } from '../core/fs';

/** Built-ins are registered by importing this file; `--plugin` modules are loaded here. */
export function loadPlugins(specs: string[] | undefined): void {
  for (const spec of specs ?? []) loadPluginModule(spec);
}

/** A flag that must be a positive integer when given (`--max-steps 0`, `abc`, `-1`, `2.5` are refused). */
export function positiveIntFlag(flag: string, value: unknown): number | null {
  if (value === undefined || value === null) return null;
  const text = String(value).trim();
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1) {
    throw new InputError(`--${flag} must be a positive integer, got '${String(value)}'`);
  }
  return n;
}

/**
 * Create an output directory, one level at a time from its nearest existing ancestor (Node's
 * recursive mkdir never returns on some paths, e.g. under /proc). A path that cannot be made is
 * bad input (exit 2), named with the reason.
 */
export function makeOutputDir(dir: string, flag: string): void {
  const abs = path.resolve(dir);
  const missing: string[] = [];
  let p = abs;
  while (!fs.existsSync(p)) {
    missing.unshift(p);
    const up = path.dirname(p);
    if (up === p) break;
    p = up;
  }
  if (fs.existsSync(p) && !fs.statSync(p).isDirectory()) {
    throw new InputError(`${flag} ${dir}: ${p} is not a directory`);
  }
  for (const m of missing) {
    try {
      wfs().mkdirSync(m);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw new InputError(`${flag} ${dir}: cannot create ${m}: ${describeFsError(e)}`);
    }
  }
  // Creating it is not writing to it (a read-only directory that exists): probe once.
  const probe = path.join(abs, `.write-test-${process.pid}`);
  try {
    const fd = wfs().openSync(probe, 'w');
    wfs().closeSync(fd);
    wfs().rmSync(probe, { force: true });
  } catch (e) {
    throw new InputError(`${flag} ${dir}: cannot write there: ${describeFsError(e)}`);
  }
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** checkpoint dir `<run>/checkpoints/step_N` -> `<run>`. */
export function runDirOf(checkpointDir: string): string {
  return path.dirname(path.dirname(checkpointDir));
}

/** `runs/<config name>-<UTC time>` (`fallback` names it when there is no config file). */
export function defaultRunDir(configFile: string | undefined, fallback = 'run'): string {
  const base = configFile ? path.basename(configFile).replace(/\.ya?ml$/, '') : fallback;
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  return path.join('runs', `${base}-${stamp}`);
}
