/**
 * The compressed string form of RLE counts used in COCO JSON (maskApi.c rleToString/rleFrString).
 * Each count (from the fourth on, as the difference to the count two places back) is written
 * LEB128-style in 5-bit groups, low group first, one ASCII character (48 + group) per group, with
 * bit 0x20 set when more groups follow and bit 0x10 of the last group giving the sign.
 * Arithmetic uses plain numbers (not 32-bit bit ops) because differences can exceed int32.
 */

/** Counts -> compressed string. */
export function countsToString(cnts: ArrayLike<number>): string {
  const chars: number[] = [];
  for (let i = 0; i < cnts.length; i++) {
    let x = cnts[i];
    // maskApi.c differences against i-2 only for i > 2 (not i >= 2); kept for byte-identical output.
    if (i > 2) x -= cnts[i - 2];
    let more = true;
    while (more) {
      let c = x - Math.floor(x / 32) * 32; // x & 0x1f for any sign
      x = Math.floor(x / 32); // arithmetic shift right by 5
      more = c & 0x10 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      chars.push(c + 48);
    }
  }
  // Chunked to stay clear of argument-count limits on very long masks.
  let s = '';
  for (let i = 0; i < chars.length; i += 8192) s += String.fromCharCode(...chars.slice(i, i + 8192));
  return s;
}

/** Compressed string -> counts (wrapped to uint32 like the C code's `(uint) x`). */
export function countsFromString(s: string): Uint32Array {
  const cnts = new Uint32Array(s.length);
  let m = 0;
  let p = 0;
  const n = s.length;
  while (p < n) {
    let x = 0;
    let k = 0;
    let more = true;
    while (more) {
      // A string that ends mid-number reads as the C code's terminating NUL would: stop.
      const c = p < n ? s.charCodeAt(p) - 48 : 0;
      x += (c & 0x1f) * 2 ** (5 * k);
      more = (c & 0x20) !== 0;
      p++;
      k++;
      if (!more && c & 0x10) x -= 2 ** (5 * k);
    }
    if (m > 2) x += cnts[m - 2];
    cnts[m++] = x; // Uint32Array stores x modulo 2^32, as `(uint) x` does
  }
  return cnts.slice(0, m);
}
