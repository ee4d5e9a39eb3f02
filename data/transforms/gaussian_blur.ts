/**
 * Separable Gaussian blur of an HWC float RGB image in place; kernel radius ceil(3 sigma),
 * edges replicate. `scratch` (same length as img) avoids an allocation per call.
 */
export function gaussianBlur(
  img: Float32Array,
  width: number,
  height: number,
  sigma: number,
  scratch: Float32Array = new Float32Array(img.length),
): void {
  const radius = Math.max(1, Math.ceil(3 * sigma));
  const kernel = new Float32Array(2 * radius + 1);
  let total = 0;
  for (let k = -radius; k <= radius; k++) {
    const w = Math.exp(-(k * k) / (2 * sigma * sigma));
    kernel[k + radius] = w;
    total += w;
  }
  for (let k = 0; k < kernel.length; k++) kernel[k] /= total;

  // Horizontal pass img -> scratch.
  for (let y = 0; y < height; y++) {
    const row = y * width * 3;
    for (let x = 0; x < width; x++) {
      let r = 0, g = 0, b = 0;
      for (let k = -radius; k <= radius; k++) {
        let xx = x + k;
        xx = xx < 0 ? 0 : xx >= width ? width - 1 : xx;
        const w = kernel[k + radius];
        const p = row + xx * 3;
        r += img[p] * w;
        g += img[p + 1] * w;
        b += img[p + 2] * w;
      }
      const o = row + x * 3;
      scratch[o] = r;
      scratch[o + 1] = g;
      scratch[o + 2] = b;
    }
  }
  // Vertical pass scratch -> img.
  const stride = width * 3;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < stride; x++) {
      let acc = 0;
      for (let k = -radius; k <= radius; k++) {
        let yy = y + k;
        yy = yy < 0 ? 0 : yy >= height ? height - 1 : yy;
        acc += scratch[yy * stride + x] * kernel[k + radius];
      }
      img[y * stride + x] = acc;
    }
  }
}
