import * as fs from 'fs';
import * as path from 'path';
import { expect } from 'chai';

/** Repository root (tests run from dist/test/..., sources live at the root). */
export const repoRoot = path.resolve(__dirname, '..', '..', '..');
/** `../shared` beside the checkout: reference values and real datasets, when present. */
export const sharedDir = path.resolve(repoRoot, '..', 'shared');

export interface RefTensor {
  shape: number[];
  dtype: string;
  data: number[];
}

/** Parsed `../shared/reference/<name>.json`, or null when shared/ is absent. */
export function loadReference<T = Record<string, unknown>>(name: string): T | null {
  const file = path.join(sharedDir, 'reference', `${name}.json`);
  if (!fs.existsSync(file)) return null;
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

/** Path under `../shared/datasets`, or null when it is absent. */
export function sharedDataset(...parts: string[]): string | null {
  const p = path.join(sharedDir, 'datasets', ...parts);
  return fs.existsSync(p) ? p : null;
}

/** Elementwise |a - e| <= atol + rtol * |e|, with a message naming the first bad index. */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  opts: { rtol?: number; atol?: number; what?: string } = {},
): void {
  const { rtol = 1e-5, atol = 1e-6, what = 'value' } = opts;
  expect(actual.length, `${what}: length`).to.equal(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
      throw new Error(`${what}[${i}] = ${a}, expected ${e} (rtol ${rtol}, atol ${atol})`);
    }
  }
}
