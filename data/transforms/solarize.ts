/** PIL's ImageOps.solarize threshold 128 on the [0, 1] scale: values >= 128/255 are inverted. */
export const SOLARIZE_THRESHOLD = 128 / 255;

/** Invert every value at or above the threshold (x -> 1 - x), in place; x in [0, 1]. */
export function solarize(img: Float32Array, threshold = SOLARIZE_THRESHOLD): void {
  for (let i = 0; i < img.length; i++) {
    const v = img[i];
    if (v >= threshold) img[i] = 1 - v;
  }
}
