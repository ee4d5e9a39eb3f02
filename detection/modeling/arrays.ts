/** Small host-side helpers over flat typed arrays (boxes are 4 values per row). */

/** Indices of the top k values, by decreasing value (ties: lower index first). */
export function topKIndices(values: Float32Array, k: number, offset = 0, length = values.length - offset): Int32Array {
  const idx = new Int32Array(length);
  for (let i = 0; i < length; i++) idx[i] = i;
  idx.sort((a, b) => values[offset + b] - values[offset + a] || a - b);
  return idx.slice(0, Math.min(k, length));
}

export function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function concatInt(parts: Int32Array[]): Int32Array {
  const out = new Int32Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function gather(v: Float32Array, idx: ArrayLike<number>): Float32Array {
  const out = new Float32Array(idx.length);
  for (let k = 0; k < idx.length; k++) out[k] = v[idx[k]];
  return out;
}

export function gatherInt(v: Int32Array, idx: ArrayLike<number>): Int32Array {
  const out = new Int32Array(idx.length);
  for (let k = 0; k < idx.length; k++) out[k] = v[idx[k]];
  return out;
}

export function gatherBoxes(b: Float32Array, idx: ArrayLike<number>): Float32Array {
  const out = new Float32Array(idx.length * 4);
  for (let k = 0; k < idx.length; k++) out.set(b.subarray(4 * idx[k], 4 * idx[k] + 4), 4 * k);
  return out;
}
