import * as fs from 'fs';
import * as path from 'path';
import YAML from 'yaml';
import { holdsCheckpoints, type ResumePick } from '../core/checkpoint';
import { describeChanges, diffConfig, resumeConflicts } from '../core/config_diff';
import { ConfigError, WriteError } from '../core/errors';
import { atomicWrite, wfs } from '../core/fs';
import { makeOutputDir } from './common';

// What `pretrain` and `detect train` do alike around their trainer: check a resume against the
// checkpoint's config, refuse to mix a new run into an old one, announce notes, and create the
// run directory with its config.yaml. All checks come before anything is written.

/** The flags `sslight pretrain` and `sslight detect train` share. */
export interface TrainRunArgs {
  config?: string;
  set?: string[];
  out?: string;
  resume?: string;
  backend?: string;
  seed?: number;
  'max-steps'?: number;
  plugin?: string[];
  overwrite?: boolean;
  dashboard?: string;
  'dashboard-host'?: string;
}

export interface RunNote {
  type: 'warning' | 'log';
  message: string;
}

/**
 * Notes for a resume (the pick's warning, what changed since the checkpoint), or a ConfigError
 * naming every conflict; `extraConflicts` are the caller's own (e.g. a changed detector).
 */
export function resumeNotes(pick: ResumePick, raw: Record<string, unknown>, extraConflicts: string[] = []): RunNote[] {
  const saved = pick.checkpoint.state.config;
  const conflicts = [...resumeConflicts(saved, raw), ...extraConflicts];
  if (conflicts.length) {
    throw new ConfigError('', `cannot resume from ${pick.checkpoint.dir}: ${conflicts.join('; ')}. Nothing was changed`);
  }
  const notes: RunNote[] = [];
  if (pick.warning) notes.push({ type: 'warning', message: pick.warning });
  const changes = diffConfig(saved, raw);
  notes.push({
    type: 'log',
    message:
      `resuming from ${pick.checkpoint.dir} at step ${pick.checkpoint.state.step}; ` +
      (changes.length ? `config changes since the checkpoint: ${describeChanges(changes)}` : 'config unchanged'),
  });
  return notes;
}

/** A new run never mixes into an old one: its events.jsonl and checkpoints would interleave. */
export function refuseMixedRun(runDir: string, resuming: boolean, overwrite: boolean | undefined): void {
  if (!resuming && holdsCheckpoints(runDir) && !overwrite) {
    throw new ConfigError(
      '',
      `${runDir} already holds a run with checkpoints: continue it with --resume ${runDir}, ` +
        'start afresh with --overwrite, or pick another --out',
    );
  }
}

/** Each note goes on the run's stream; logs (and warnings, when no progress callback prints them) to `log` too. */
export function announceNotes(
  trainer: { announce(type: RunNote['type'], message: string): void },
  notes: RunNote[],
  callbacks: ReadonlyArray<{ name: string }>,
  log: (line: string) => void,
): void {
  const printsWarnings = callbacks.some((cb) => cb.name === 'progress');
  for (const n of notes) {
    trainer.announce(n.type, n.message);
    if (n.type === 'log' || !printsWarnings) log(`sslight: ${n.type === 'warning' ? 'warning: ' : ''}${n.message}`);
  }
}

/** The run directory (emptied first with `overwrite`), holding the resolved config as config.yaml. */
export function createRunDir(runDir: string, raw: Record<string, unknown>, overwrite: boolean): void {
  if (overwrite && fs.existsSync(runDir)) {
    try {
      wfs().rmSync(runDir, { recursive: true, force: true });
    } catch (e) {
      throw new WriteError(runDir, e);
    }
  }
  makeOutputDir(runDir, '--out');
  const configFile = path.join(runDir, 'config.yaml');
  try {
    atomicWrite(configFile, Buffer.from(YAML.stringify(raw)));
  } catch (e) {
    throw new WriteError(configFile, e);
  }
}
