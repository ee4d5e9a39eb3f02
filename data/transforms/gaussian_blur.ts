/**
 * Gaussian blur as PIL's ImageFilter.GaussianBlur(radius = sigma) computes it, which is what DINO
 * applies: three passes of an "extended" box blur per axis (Gwosdek et al. 2011), whose variance is
 * exactly sigma^2. Running sums make the cost independent of sigma. Edges replicate, as in PIL.
 */

/** Integer radius l and edge weight a of one extended box pass, for `passes` passes of total sigma. */
export function extendedBoxRadius(sigma: number, passes = 3): { l: number; a: number } {
  const sigma2 = (sigma * sigma) / passes;
  const boxLength = Math.sqrt(12 * sigma2 + 1);
  const l = Math.floor((boxLength - 1) / 2);
  const a = ((2 * l + 1) * (l * (l + 1) - 3 * sigma2)) / (6 * (sigma2 - (l + 1) * (l + 1)));
  return { l, a };
}

function clampIndex(i: number, n: number): number {
  return i < 0 ? 0 : i >= n ? n - 1 : i;
}

/** One horizontal pass src -> dst over RGB HWC rows. */
function boxPassRows(src: Float32Array, dst: Float32Array, width: number, height: number, l: number, a: number): void {
  const inv = 1 / (2 * l + 1 + 2 * a);
  const stride = width * 3;
  for (let y = 0; y < height; y++) {
    const row = y * stride;
    let r = 0, g = 0, b = 0;
    for (let k = -l; k <= l; k++) {
      const p = row + clampIndex(k, width) * 3;
      r += src[p];
      g += src[p + 1];
      b += src[p + 2];
    }
    for (let x = 0; x < width; x++) {
      const lo = row + clampIndex(x - l - 1, width) * 3;
      const hi = row + clampIndex(x + l + 1, width) * 3;
      const o = row + x * 3;
      dst[o] = (r + a * (src[lo] + src[hi])) * inv;
      dst[o + 1] = (g + a * (src[lo + 1] + src[hi + 1])) * inv;
      dst[o + 2] = (b + a * (src[lo + 2] + src[hi + 2])) * inv;
      // Slide the window: add column x+l+1, drop column x-l.
      const out = row + clampIndex(x - l, width) * 3;
      r += src[hi] - src[out];
      g += src[hi + 1] - src[out + 1];
      b += src[hi + 2] - src[out + 2];
    }
  }
}

/** One vertical pass src -> dst, sliding a whole row of sums so memory is read in order. */
function boxPassCols(
  src: Float32Array,
  dst: Float32Array,
  width: number,
  height: number,
  l: number,
  a: number,
  acc: Float64Array,
): void {
  const inv = 1 / (2 * l + 1 + 2 * a);
  const stride = width * 3;
  acc.fill(0, 0, stride);
  for (let k = -l; k <= l; k++) {
    const row = clampIndex(k, height) * stride;
    for (let x = 0; x < stride; x++) acc[x] += src[row + x];
  }
  for (let y = 0; y < height; y++) {
    const lo = clampIndex(y - l - 1, height) * stride;
    const hi = clampIndex(y + l + 1, height) * stride;
    const out = clampIndex(y - l, height) * stride;
    const o = y * stride;
    for (let x = 0; x < stride; x++) {
      dst[o + x] = (acc[x] + a * (src[lo + x] + src[hi + x])) * inv;
      acc[x] += src[hi + x] - src[out + x];
    }
  }
}

/**
 * Blur an HWC float RGB image in place. `scratch` (at least img.length floats) avoids an
 * allocation per call.
 */
export function gaussianBlur(
  img: Float32Array,
  width: number,
  height: number,
  sigma: number,
  scratch: Float32Array = new Float32Array(img.length),
): void {
  if (!(sigma > 0)) return;
  const { l, a } = extendedBoxRadius(sigma);
  const acc = new Float64Array(width * 3);
  // Six passes ping-pong img -> scratch -> img ..., ending back in img.
  boxPassRows(img, scratch, width, height, l, a);
  boxPassRows(scratch, img, width, height, l, a);
  boxPassRows(img, scratch, width, height, l, a);
  boxPassCols(scratch, img, width, height, l, a, acc);
  boxPassCols(img, scratch, width, height, l, a, acc);
  boxPassCols(scratch, img, width, height, l, a, acc);
}
