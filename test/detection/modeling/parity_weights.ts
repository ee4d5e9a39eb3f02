/**
 * The counter-based generator of test/fixtures/detection/modeling/make_maskrcnn_parity.py, for the
 * entries the fixtures do not store (the ResNet18 body, the images): value i of entry `name` is
 * lo + (hi - lo) * u, u = (mix32(fnv1a(name) + i * 0x9e3779b9) >>> 8) / 2^24, in float64 then
 * rounded to float32, so both sides get bit-identical numbers.
 */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

function mix32(x: number): number {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

export function hashUniform(name: string, n: number, lo: number, hi: number): Float32Array {
  const seed = fnv1a(name);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = (mix32((seed + Math.imul(i, 0x9e3779b9)) >>> 0) >>> 8) / 16777216;
    out[i] = lo + (hi - lo) * u;
  }
  return out;
}

const PREDICTORS = new Set(['cls_logits', 'bbox_pred', 'cls_score', 'mask_fcn_logits']);

/** The script's value range of a state-dict entry (torch layout shape). */
export function entryRange(name: string, shape: number[]): [number, number] {
  if (name.endsWith('running_mean')) return [-0.1, 0.1];
  if (name.endsWith('running_var')) return [0.5, 1.5];
  if (shape.length === 1) return name.endsWith('weight') ? [0.5, 1.0] : [-0.1, 0.1];
  const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
  let b = Math.sqrt(6 / fanIn);
  const parts = name.split('.');
  if (PREDICTORS.has(parts[parts.length - 2])) b *= 0.05;
  return [-b, b];
}
