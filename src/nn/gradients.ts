import * as tf from '@tensorflow/tfjs-core';
import * as path from 'path';
import { register } from 'module';
import { pathToFileURL } from 'url';

/**
 * tfjs-core's CommonJS bundle (what `require('@tensorflow/tfjs-core')` loads in Node) ships
 * without the kernel gradients: only the `@tensorflow/tfjs` union bundle registers them. They
 * do exist in tfjs-core as ES modules (dist/register_all_gradients.js), but those use
 * extension-less relative imports that Node's ESM resolver rejects. This installs a resolve
 * hook, scoped to tfjs-core's dist folder, that appends `.js`, and imports them once. The
 * gradients register into tfjs's global registry and run on the global engine, so they serve
 * the CommonJS copy the rest of the code uses.
 *
 * Call (and await) once before the first tf.grad / tf.variableGrads. Idempotent.
 */
let pending: Promise<void> | null = null;

export function gradientsRegistered(): boolean {
  // Kernels the CommonJS bundle has no gradient for; all present once registration ran.
  return ['Mean', 'AvgPool', 'Conv2D', 'DepthwiseConv2dNative', 'Sum'].every((k) => tf.getGradient(k) != null);
}

export function ensureGradients(): Promise<void> {
  if (gradientsRegistered()) return Promise.resolve();
  if (!pending) pending = load();
  return pending;
}

async function load(): Promise<void> {
  const entry = require.resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js');
  const distUrl = pathToFileURL(path.dirname(entry) + path.sep).href;
  const hooks = `
const DIST = ${JSON.stringify(distUrl)};
export async function resolve(spec, ctx, next) {
  if (ctx.parentURL && ctx.parentURL.startsWith(DIST) && spec.startsWith('.') && !spec.endsWith('.js')) {
    return next(spec + '.js', ctx);
  }
  return next(spec, ctx);
}
export async function load(url, ctx, next) {
  // The package has no "type": "module"; its dist/*.js (bar the bundles) are ES modules.
  if (url.startsWith(DIST) && !/tf-core[^/]*\\.js$/.test(url)) return next(url, { ...ctx, format: 'module' });
  return next(url, ctx);
}`;
  register('data:text/javascript,' + encodeURIComponent(hooks));
  // A real dynamic import: TypeScript would turn `import()` into `require()` under commonjs.
  const dynamicImport = new Function('u', 'return import(u)') as (u: string) => Promise<unknown>;
  await dynamicImport(pathToFileURL(entry).href);
  if (!gradientsRegistered()) throw new Error('ensureGradients: tfjs-core gradients did not register');
}
