import type * as tf from '@tensorflow/tfjs-core';
import type { z } from 'zod';
import type { Rng } from '../../src/core/rng';
import { ConfigError, PluginNotFoundError } from '../../src/core/errors';
import type { Module } from '../../src/nn/module';

/** The RPN head: per level, objectness logits [N, H, W, A] and deltas [N, H, W, 4A]. */
export interface RpnHeadPart extends Module {
  readonly numAnchors: number;
  forward(levels: tf.Tensor4D[]): { logits: tf.Tensor4D[]; deltas: tf.Tensor4D[] };
}

/** The box head: pooled RoI features [R, r, r, C] -> [R, outDim] for the box predictor. */
export interface BoxHeadPart extends Module {
  readonly outDim: number;
  forward(pooled: tf.Tensor4D): tf.Tensor2D;
}

/** The mask head: pooled RoI features [R, r, r, C] -> [R, r, r, outChannels] for the mask predictor. */
export interface MaskHeadPart extends Module {
  readonly outChannels: number;
  forward(pooled: tf.Tensor4D): tf.Tensor4D;
}

/** What each swappable detector part is given besides its own options, and what it makes. */
export interface DetectionPartKinds {
  rpn_head: { deps: { rng: Rng; channels: number; numAnchors: number }; instance: RpnHeadPart };
  box_head: { deps: { rng: Rng; channels: number; resolution: number }; instance: BoxHeadPart };
  mask_head: { deps: { rng: Rng; channels: number; resolution: number }; instance: MaskHeadPart };
}

export type DetectionPartKind = keyof DetectionPartKinds;

/**
 * A swappable part of the detector, registered like the core's plugins (src/core/registry.ts):
 * a name, a zod schema of its options (`.strict()`, defaults inside) and a factory. The config
 * section `{name, ...options}` (e.g. `model.roi_heads.box_head`) picks and configures it; a
 * `--plugin` module can register more.
 */
export interface DetectionPartDef<K extends DetectionPartKind, S extends z.ZodTypeAny = z.ZodTypeAny> {
  kind: K;
  name: string;
  description?: string;
  schema: S;
  create(options: z.output<S>, deps: DetectionPartKinds[K]['deps']): DetectionPartKinds[K]['instance'];
}

type AnyDef = DetectionPartDef<DetectionPartKind>;
const defs = new Map<string, AnyDef>();

export function registerDetectionPart<K extends DetectionPartKind, S extends z.ZodTypeAny>(def: DetectionPartDef<K, S>): void {
  const key = `${def.kind}/${def.name}`;
  if (defs.has(key)) throw new Error(`${def.kind} '${def.name}' is already registered`);
  defs.set(key, def as unknown as AnyDef);
}

export function detectionPartNames(kind: DetectionPartKind): string[] {
  return [...defs.values()].filter((d) => d.kind === kind).map((d) => d.name).sort();
}

/**
 * Builds the part a config section names: `section` is `{name, ...options}`, checked by the
 * part's schema; errors are ConfigErrors naming `keyPath` (e.g. 'model.roi_heads.box_head').
 */
export function buildDetectionPart<K extends DetectionPartKind>(
  kind: K,
  section: { name: string } & Record<string, unknown>,
  deps: DetectionPartKinds[K]['deps'],
  keyPath: string,
): DetectionPartKinds[K]['instance'] {
  const { name, ...options } = section;
  const def = defs.get(`${kind}/${name}`);
  if (!def) throw new ConfigError(`${keyPath}.name`, new PluginNotFoundError(kind, name, detectionPartNames(kind)).message);
  const parsed = def.schema.safeParse(options);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError([keyPath, ...issue.path].join('.'), issue.message);
  }
  return def.create(parsed.data, deps as never) as DetectionPartKinds[K]['instance'];
}
