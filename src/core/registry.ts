import type { z } from 'zod';
import type { Rng } from './rng';
import type {
  Backbone,
  BackboneFactory,
  Callback,
  Dataset,
  KnnProbe,
  Optimizer,
  SSLMethod,
  ViewSampler,
} from './interfaces';
import type { Parameter } from '../nn/module';
import { PluginNotFoundError } from './errors';

/** What each kind of plugin is given besides its own options, and what it makes. */
export interface PluginKinds {
  backbone: { deps: { rng: Rng }; instance: Backbone };
  method: {
    deps: {
      buildBackbone: BackboneFactory;
      rng: Rng;
      nGlobal: number;
      nLocal: number;
      batchSize: number;
      epochs: number;
      stepsPerEpoch: number;
    };
    instance: SSLMethod;
  };
  views: { deps: Record<string, never>; instance: ViewSampler };
  optimizer: {
    deps: { params: Parameter[]; batchSize: number; epochs: number; stepsPerEpoch: number };
    instance: Optimizer;
  };
  callback: { deps: { probe?: KnnProbe }; instance: Callback };
  dataset: { deps: { split: 'train' | 'test' }; instance: Dataset };
}

export type PluginKind = keyof PluginKinds;
export const PLUGIN_KINDS: PluginKind[] = ['backbone', 'method', 'views', 'optimizer', 'callback', 'dataset'];

/**
 * A plugin: a name, a zod schema for its options (defaults live there) and a factory.
 * The schema sees the plugin's config section without `name`.
 */
export interface PluginDef<K extends PluginKind, S extends z.ZodTypeAny = z.ZodTypeAny> {
  kind: K;
  name: string;
  description?: string;
  schema: S;
  create(options: z.output<S>, deps: PluginKinds[K]['deps']): PluginKinds[K]['instance'];
}

type AnyDef = PluginDef<PluginKind, z.ZodTypeAny>;

/** One registry per component kind; out-of-tree plugins register into the same one. */
export class PluginRegistry {
  private readonly defs = new Map<PluginKind, Map<string, AnyDef>>();

  register<K extends PluginKind, S extends z.ZodTypeAny>(def: PluginDef<K, S>): void {
    let byName = this.defs.get(def.kind);
    if (!byName) this.defs.set(def.kind, (byName = new Map()));
    if (byName.has(def.name)) throw new Error(`${def.kind} plugin '${def.name}' is already registered`);
    byName.set(def.name, def as unknown as AnyDef);
  }

  has(kind: PluginKind, name: string): boolean {
    return this.defs.get(kind)?.has(name) ?? false;
  }

  get<K extends PluginKind>(kind: K, name: string): PluginDef<K> {
    const def = this.defs.get(kind)?.get(name);
    if (!def) throw new PluginNotFoundError(kind, name, this.names(kind));
    return def as unknown as PluginDef<K>;
  }

  names(kind: PluginKind): string[] {
    return [...(this.defs.get(kind)?.keys() ?? [])].sort();
  }
}

/** The process-wide registry that built-in and external plugins register into. */
export const registry = new PluginRegistry();

/** Registration entry point for plugins (built-in or loaded with `--plugin`). */
export function registerPlugin<K extends PluginKind, S extends z.ZodTypeAny>(def: PluginDef<K, S>): void {
  registry.register(def);
}
