import * as fs from 'fs';
import * as path from 'path';
import Module = require('module');
import { z } from 'zod';
import { registerPlugin } from './registry';
import { SslightError } from './errors';

/** What an external plugin module's optional `register(api)` export receives. */
export interface PluginApi {
  registerPlugin: typeof registerPlugin;
  z: typeof z;
}

/** Plugin modules already loaded (resolved file names): each registers once per process. */
const loaded = new Set<string>();

/**
 * Load a third-party plugin (`--plugin <module>`): an npm package name, a package directory
 * (its package.json `main`) or a path to a JS file. The module registers on import (calling
 * sslight's `registerPlugin`) or exports `register(api)`, which we call with our registry.
 *
 * A plugin imports sslight as any package does, `require('sslight')` (a peer dependency). That
 * request is answered with the sslight that is running, wherever the plugin lives: a plugin
 * outside any node_modules that has sslight (a checkout's examples/, a user's folder) then
 * resolves, and one with its own copy in its node_modules still gets this one, so the registry
 * and the tfjs engine are never split between two copies.
 */
export function loadPluginModule(spec: string, cwd = process.cwd()): void {
  provideRunningSslight();
  const isPath = spec.startsWith('.') || spec.startsWith('/') || spec.endsWith('.js');
  const id = isPath ? path.resolve(cwd, spec) : spec;
  let file: string;
  let mod: unknown;
  try {
    file = require.resolve(id, { paths: [cwd, __dirname] });
    mod = require(file);
  } catch (e) {
    throw new SslightError(`--plugin ${spec}: cannot load module (${(e as Error).message.split('\n')[0]})`);
  }
  if (loaded.has(file)) return;
  loaded.add(file);
  const register = (mod as { register?: unknown; default?: { register?: unknown } })?.register ??
    (mod as { default?: { register?: unknown } })?.default?.register;
  if (typeof register === 'function') register({ registerPlugin, z } satisfies PluginApi);
}

/** The root of the running sslight package (the folder of its package.json), or null. */
export function sslightPackageRoot(): string | null {
  // dist/src/core/plugin_loader.js -> the package root three levels up.
  const root = path.resolve(__dirname, '..', '..', '..');
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { name?: string };
    return pkg.name === 'sslight' ? root : null;
  } catch {
    return null;
  }
}

let provided = false;

/** Makes `require('sslight')` and `require('sslight/...')` resolve to the running package. */
function provideRunningSslight(): void {
  if (provided) return;
  provided = true;
  const root = sslightPackageRoot();
  if (!root) return;
  type Resolve = (request: string, parent: unknown, ...rest: unknown[]) => string;
  const M = Module as unknown as { _resolveFilename: Resolve };
  const resolve = M._resolveFilename;
  M._resolveFilename = function (this: unknown, request: string, parent: unknown, ...rest: unknown[]): string {
    const self = request === 'sslight' || request.startsWith('sslight/');
    return resolve.call(this, self ? root + request.slice('sslight'.length) : request, parent, ...rest);
  };
}
