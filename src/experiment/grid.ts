import * as fs from 'fs';
import * as path from 'path';
import YAML from 'yaml';
import { z } from 'zod';
import { applySet, loadConfigFile, resolveConfig } from '../core/config';
import { ConfigError } from '../core/errors';

// An experiment grid: one base config, axes whose values override config keys, and the
// evaluations every cell runs after pre-training. The cells are the cross product of the axes.

/** Axis names that stand for a config key (`seed: [0, 1]` sets trainer.seed). */
export const AXIS_ALIASES: Record<string, string> = {
  seed: 'trainer.seed',
  views: 'views.name',
  backbone: 'backbone.name',
  method: 'method.name',
  optimizer: 'optimizer.name',
};

const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);
/** A labelled value: `{dotted.key: value, ...}` applied as --set overrides. */
const overrides = z.record(z.string(), z.unknown());
const axis = z.union([z.array(scalar).min(1), z.record(z.string(), z.union([scalar, overrides])).refine((o) => Object.keys(o).length > 0, 'an axis needs at least one value')]);

const subsetKeys = {
  /** Class-balanced subsets of the train / test split (null: all). */
  max_train: z.number().int().positive().nullable().default(null),
  max_test: z.number().int().positive().nullable().default(null),
  /** Recompute the backbone's BN statistics on this many train images first (`--precise-bn`). */
  precise_bn: z.number().int().nonnegative().default(0),
};

export const evaluationsSchema = z
  .object({
    knn: z
      .object({ k: z.number().int().positive().default(20), temperature: z.number().positive().default(0.07), ...subsetKeys })
      .strict()
      .optional(),
    linear: z
      .object({
        epochs: z.number().int().positive().default(100),
        batch_size: z.number().int().positive().default(256),
        lr: z.number().positive().nullable().default(null),
        optimizer: z.enum(['lars', 'sgd']).nullable().default(null),
        bn: z.boolean().default(false),
        ...subsetKeys,
      })
      .strict()
      .optional(),
    semisup: z
      .object({
        percent: z.union([z.literal(1), z.literal(10)]).default(10),
        epochs: z.number().int().positive().nullable().default(null),
        batch_size: z.number().int().positive().nullable().default(null),
        lr: z.number().positive().nullable().default(null),
        max_test: z.number().int().positive().nullable().default(null),
      })
      .strict()
      .optional(),
  })
  .strict()
  .refine((e) => e.knn || e.linear || e.semisup, 'name at least one of knn, linear, semisup');

export type Evaluations = z.output<typeof evaluationsSchema>;

const gridSchema = z
  .object({
    name: z.string().regex(/^[\w.-]+$/, 'letters, digits, _ . - only').optional(),
    /** The base config, relative to the grid file. */
    base: z.string().min(1),
    /** Overrides for every cell: `{dotted.key: value}`. */
    set: overrides.default({}),
    axes: z.record(z.string().regex(/^[\w.-]+$/, 'an axis name is a word or a dotted config key'), axis).default({}),
    evaluations: evaluationsSchema,
    /**
     * Add random-init cells (evaluations of the untrained backbone, the floor): `true` gives one
     * per seed; `{axes: [...]}` varies the named axes (others take their first value).
     */
    random_init: z.union([z.boolean(), z.object({ axes: z.array(z.string()) }).strict()]).default(false),
  })
  .strict();

export interface Cell {
  /** Stable id, also the cell's directory name: `views=dino,seed=0`. */
  id: string;
  /** Axis -> value label. */
  labels: Record<string, string>;
  randomInit: boolean;
  /** `key=value` overrides applied to the base config, in order. */
  sets: string[];
  /** The merged config document this cell trains with. */
  config: Record<string, unknown>;
}

export interface Grid {
  name: string;
  file: string;
  axes: Record<string, string[]>;
  evaluations: Evaluations;
  cells: Cell[];
}

/** `key=value` with the value as JSON (valid YAML flow), so strings, null and lists survive. */
function assignment(key: string, value: unknown): string {
  return `${key}=${JSON.stringify(value)}`;
}

interface AxisValue {
  label: string;
  sets: string[];
}

function axisValues(name: string, def: z.output<typeof axis>): AxisValue[] {
  const key = AXIS_ALIASES[name] ?? name;
  if (Array.isArray(def)) return def.map((v) => ({ label: String(v), sets: [assignment(key, v)] }));
  return Object.entries(def).map(([label, v]) => ({
    label,
    sets:
      v !== null && typeof v === 'object'
        ? Object.entries(v as Record<string, unknown>).map(([k, x]) => assignment(AXIS_ALIASES[k] ?? k, x))
        : [assignment(key, v)],
  }));
}

function cellId(labels: Record<string, string>, randomInit: boolean): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
  return (randomInit ? ['random_init', ...parts] : parts).join(',').replace(/[^\w.,=-]/g, '_') || 'base';
}

/** Relative dataset roots are resolved now, so workers started elsewhere read the same files. */
function absolutePaths(doc: Record<string, unknown>): Record<string, unknown> {
  const data = doc.data as Record<string, unknown> | undefined;
  if (data && typeof data.root === 'string' && !path.isAbsolute(data.root)) {
    return { ...doc, data: { ...data, root: path.resolve(data.root) } };
  }
  return doc;
}

/** Read and expand a grid file; every cell's config is validated now, not when it runs. */
export function loadGrid(file: string): Grid {
  const abs = path.resolve(file);
  if (!fs.existsSync(abs)) throw new ConfigError('', `grid file not found: ${abs}`);
  let raw: unknown;
  try {
    raw = YAML.parse(fs.readFileSync(abs, 'utf8'));
  } catch (e) {
    throw new ConfigError('', `${abs} is not valid YAML: ${(e as Error).message}`);
  }
  const parsed = gridSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(issue.path.join('.'), `${issue.message} (in ${abs})`);
  }
  const g = parsed.data;
  const base = loadConfigFile(path.resolve(path.dirname(abs), g.base));
  const common = Object.entries(g.set).map(([k, v]) => assignment(k, v));

  const axes = Object.entries(g.axes).map(([name, def]) => ({ name, values: axisValues(name, def) }));
  const floorAxes = g.random_init === false ? null : g.random_init === true ? axes.filter((a) => a.name === 'seed').map((a) => a.name) : g.random_init.axes;
  for (const a of floorAxes ?? []) {
    if (!g.axes[a]) throw new ConfigError('random_init.axes', `'${a}' is not an axis of the grid (axes: ${Object.keys(g.axes).join(', ') || 'none'})`);
  }

  const cells: Cell[] = [];
  const make = (choice: AxisValue[], randomInit: boolean, only: typeof axes): void => {
    const labels: Record<string, string> = {};
    only.forEach((a, i) => (labels[a.name] = choice[i].label));
    const sets = [...common];
    // Axes a floor cell does not vary still set their first value, so it has the grid's network.
    for (const a of axes) {
      const i = only.indexOf(a);
      sets.push(...(i >= 0 ? choice[i].sets : a.values[0].sets));
    }
    let doc = base;
    for (const s of sets) doc = applySet(doc, s);
    const id = cellId(labels, randomInit);
    try {
      resolveConfig(doc);
    } catch (e) {
      if (e instanceof ConfigError) throw new ConfigError(e.path, `(cell ${id}) ${e.message.replace(/^config( key '[^']*')?: /, '')}`);
      throw e;
    }
    cells.push({ id, labels, randomInit, sets, config: absolutePaths(doc) });
  };
  const product = (list: typeof axes, randomInit: boolean): void => {
    const rec = (i: number, choice: AxisValue[]): void => {
      if (i === list.length) return make(choice, randomInit, list);
      for (const v of list[i].values) rec(i + 1, [...choice, v]);
    };
    rec(0, []);
  };
  product(axes, false);
  if (floorAxes) product(axes.filter((a) => floorAxes.includes(a.name)), true);

  const ids = new Set<string>();
  for (const c of cells) {
    if (ids.has(c.id)) throw new ConfigError('axes', `two cells have the same id '${c.id}': make the axis labels distinct`);
    ids.add(c.id);
  }
  return {
    name: g.name ?? path.basename(abs).replace(/\.ya?ml$/, ''),
    file: abs,
    axes: Object.fromEntries(axes.map((a) => [a.name, a.values.map((v) => v.label)])),
    evaluations: g.evaluations,
    cells,
  };
}
