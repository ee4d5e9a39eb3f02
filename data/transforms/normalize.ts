export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];

/** (x - mean[c]) / std[c] per channel of an HWC float image in place. */
export function normalize(
  img: Float32Array,
  mean: readonly number[] = IMAGENET_MEAN,
  std: readonly number[] = IMAGENET_STD,
): void {
  const m0 = mean[0], m1 = mean[1], m2 = mean[2];
  const s0 = 1 / std[0], s1 = 1 / std[1], s2 = 1 / std[2];
  for (let p = 0; p < img.length; p += 3) {
    img[p] = (img[p] - m0) * s0;
    img[p + 1] = (img[p + 1] - m1) * s1;
    img[p + 2] = (img[p + 2] - m2) * s2;
  }
}
