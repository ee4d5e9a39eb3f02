/** Summary statistics for experiment grids: mean, sample sd, paired differences with t-intervals. */

export function mean(xs: number[]): number {
  if (xs.length === 0) return NaN;
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Sample standard deviation (n - 1 in the denominator); NaN below two values. */
export function sd(xs: number[]): number {
  if (xs.length < 2) return NaN;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) * (x - m), 0) / (xs.length - 1));
}

// Two-sided 97.5% quantiles of Student's t for df = 1..30 (standard tables, 3 decimals).
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11,
  2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** t_{0.975, df}: the multiplier of a 95% two-sided interval. */
export function t975(df: number): number {
  if (!(Number.isInteger(df) && df >= 1)) throw new RangeError(`t975: degrees of freedom must be a positive integer, got ${df}`);
  if (df <= T975.length) return T975[df - 1];
  // Cornish-Fisher expansion around the normal quantile; within 1e-4 of the exact value for df > 30.
  const z = 1.959963985;
  const z3 = z ** 3;
  const z5 = z ** 5;
  const z7 = z ** 7;
  return (
    z +
    (z3 + z) / (4 * df) +
    (5 * z5 + 16 * z3 + 3 * z) / (96 * df * df) +
    (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * df ** 3)
  );
}

export interface PairedDifference {
  /** Number of pairs. */
  n: number;
  mean: number;
  sd: number;
  /** 95% t-interval of the mean difference; NaN bounds with fewer than two pairs. */
  low: number;
  high: number;
}

/** Mean of a[i] - b[i] with its 95% t-interval (pairs share everything but the compared axis). */
export function pairedDifference(a: number[], b: number[]): PairedDifference {
  if (a.length !== b.length) throw new RangeError(`pairedDifference: ${a.length} vs ${b.length} values`);
  const d = a.map((x, i) => x - b[i]);
  const m = mean(d);
  const s = sd(d);
  if (d.length < 2) return { n: d.length, mean: m, sd: s, low: NaN, high: NaN };
  const half = (t975(d.length - 1) * s) / Math.sqrt(d.length);
  return { n: d.length, mean: m, sd: s, low: m - half, high: m + half };
}
