import { Rng, type RngState } from '../src/core/rng';

/** murmur3's 32-bit finaliser: full avalanche, so nearby keys give unrelated states. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * A generator that is a pure function of a base state and a key path, e.g. (epoch, batch, slot).
 * This is what makes any batch reproducible on its own: it never depends on how many numbers were
 * drawn before it, so resuming at (epoch, batch) draws exactly what a run from the start drew.
 */
export function deriveRng(base: RngState | readonly number[], ...path: number[]): Rng {
  const s = [base[0] >>> 0, base[1] >>> 0, base[2] >>> 0, base[3] >>> 0];
  for (const key of path) {
    const k = fmix32((key >>> 0) ^ 0x9e3779b9) ^ Math.imul(Math.floor(key / 4294967296), 0x27d4eb2f);
    for (let i = 0; i < 4; i++) {
      s[i] = fmix32((s[i] ^ k) + Math.imul(i + 1, 0x632be5ab) + s[(i + 3) & 3]);
    }
  }
  return new Rng(s as RngState);
}

/** A base state from a plain integer seed (splitmix, as `new Rng(seed)` seeds itself). */
export function seedState(seed: number): RngState {
  return new Rng(seed).getState();
}
