import type { SafetensorsEntry } from './safetensors';

/**
 * The first tensor of a weights file holding a NaN or Inf, with how many and the first one, or
 * null. Every loader checks with it, so a poisoned file is refused where it enters (the caller
 * names the file).
 */
export function firstNonFinite(
  entries: Map<string, SafetensorsEntry>,
): { name: string; index: number; value: string; count: number } | null {
  for (const [name, e] of entries) {
    const d = e.data;
    let first = -1;
    let count = 0;
    if (e.dtype === 'F32' || e.dtype === 'F64') {
      const f = d as Float32Array | Float64Array;
      for (let i = 0; i < f.length; i++) {
        if (!Number.isFinite(f[i])) {
          if (first < 0) first = i;
          count++;
        }
      }
      if (first >= 0) return { name, index: first, value: String(f[first]), count };
    } else if (e.dtype === 'F16' || e.dtype === 'BF16') {
      const mask = e.dtype === 'F16' ? 0x7c00 : 0x7f80;
      const u = d as Uint16Array;
      for (let i = 0; i < u.length; i++) {
        if ((u[i] & mask) === mask) {
          if (first < 0) first = i;
          count++;
        }
      }
      if (first >= 0) return { name, index: first, value: 'NaN or Inf', count };
    }
  }
  return null;
}

