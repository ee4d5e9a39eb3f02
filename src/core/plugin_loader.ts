import * as path from 'path';
import { z } from 'zod';
import { registerPlugin } from './registry';
import { SslightError } from './errors';

/** What an external plugin module's optional `register(api)` export receives. */
export interface PluginApi {
  registerPlugin: typeof registerPlugin;
  z: typeof z;
}

/**
 * Load a third-party plugin (`--plugin <module>`): an npm package name or a path to a JS file.
 * The module registers on import (calling sslight's `registerPlugin`) or exports
 * `register(api)`, which we call with our registry, so a second copy of sslight in the plugin's
 * own node_modules cannot split the registry.
 */
export function loadPluginModule(spec: string, cwd = process.cwd()): void {
  const isPath = spec.startsWith('.') || spec.startsWith('/') || spec.endsWith('.js');
  const id = isPath ? path.resolve(cwd, spec) : spec;
  let mod: unknown;
  try {
    mod = require(require.resolve(id, { paths: [cwd, __dirname] }));
  } catch (e) {
    throw new SslightError(`--plugin ${spec}: cannot load module (${(e as Error).message.split('\n')[0]})`);
  }
  const register = (mod as { register?: unknown; default?: { register?: unknown } })?.register ??
    (mod as { default?: { register?: unknown } })?.default?.register;
  if (typeof register === 'function') register({ registerPlugin, z } satisfies PluginApi);
}
