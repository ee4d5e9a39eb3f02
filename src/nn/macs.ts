/**
 * Multiply-accumulate counting, the convention of reference/backbones.json: conv and linear
 * (and attention matmuls) only; BN, activations, adds and pooling are not counted. Layers call
 * `recordMacs` from their forward; it costs nothing unless a `countMacs` is running.
 */
let active: { total: number } | null = null;

export function recordMacs(n: number): void {
  if (active) active.total += n;
}

/** Run fn (typically one forward on a batch of 1) and return the MACs the layers recorded. */
export function countMacs(fn: () => void): number {
  const prev = active;
  const mine = { total: 0 };
  active = mine;
  try {
    fn();
  } finally {
    active = prev;
  }
  if (prev) prev.total += mine.total;
  return mine.total;
}
