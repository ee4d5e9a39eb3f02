/**
 * What changed between the config a checkpoint was trained with and the one a resume brings,
 * and which of those changes make the checkpoint unusable.
 */

export interface ConfigChange {
  /** Dotted key path, e.g. `optimizer.lr`. */
  path: string;
  before: unknown;
  after: unknown;
}

type Json = Record<string, unknown>;

function isPlainObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Every leaf that differs (added, removed or changed), in key order. */
export function diffConfig(before: unknown, after: unknown, prefix = ''): ConfigChange[] {
  if (isPlainObject(before) && isPlainObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((k) => diffConfig(before[k], after[k], prefix ? `${prefix}.${k}` : k));
  }
  if (JSON.stringify(before) === JSON.stringify(after)) return [];
  return [{ path: prefix, before, after }];
}

/** `optimizer.lr 0.3 -> 0.1; trainer.seed 3 -> 4` */
export function describeChanges(changes: ConfigChange[]): string {
  const show = (v: unknown): string => (v === undefined ? '(unset)' : JSON.stringify(v));
  return changes.map((c) => `${c.path} ${show(c.before)} -> ${show(c.after)}`).join('; ');
}

/** `mobilenetv2 (width 0.5)` for a plugin section. */
export function describeSection(section: unknown): string {
  if (!isPlainObject(section)) return JSON.stringify(section);
  const { name, ...rest } = section;
  const opts = Object.entries(rest).map(([k, v]) => `${k} ${JSON.stringify(v)}`);
  return `${String(name)}${opts.length ? ` (${opts.join(', ')})` : ''}`;
}

/**
 * Reasons a checkpoint trained with `saved` cannot continue under `current`: a different
 * architecture, method or optimizer, or batch size (it moves the data position and the schedule).
 * Everything else (lr, seed, data, epochs, callbacks) may change; callers report it.
 */
export function resumeConflicts(saved: unknown, current: unknown): string[] {
  if (!isPlainObject(saved) || !isPlainObject(current)) return [];
  const out: string[] = [];
  const backboneChanges = diffConfig(saved.backbone, current.backbone);
  if (backboneChanges.length) {
    out.push(`the checkpoint has backbone ${describeSection(saved.backbone)}, the config says ${describeSection(current.backbone)}`);
  }
  for (const section of ['method', 'optimizer']) {
    const a = (saved[section] as Json | undefined)?.name;
    const b = (current[section] as Json | undefined)?.name;
    if (a !== undefined && a !== b) out.push(`the checkpoint was trained with ${section} ${String(a)}, the config says ${String(b)}`);
  }
  const bs = (v: unknown): unknown => (isPlainObject(v) && isPlainObject(v.trainer) ? v.trainer.batch_size : undefined);
  if (bs(saved) !== undefined && bs(current) !== undefined && bs(saved) !== bs(current)) {
    out.push(
      `the checkpoint was trained with trainer.batch_size ${String(bs(saved))}, the config says ${String(bs(current))} ` +
        '(a different batch size changes the steps per epoch, so the data position and the lr schedule would not line up)',
    );
  }
  return out;
}
