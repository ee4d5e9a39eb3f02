/** ITU-R 601 luma weights, as torchvision's rgb_to_grayscale and PIL's convert('L'). */
export const LUMA_R = 0.299;
export const LUMA_G = 0.587;
export const LUMA_B = 0.114;

/** Replace each RGB pixel of an HWC float image by its luma on all three channels, in place. */
export function grayscale(img: Float32Array): void {
  for (let p = 0; p < img.length; p += 3) {
    const l = LUMA_R * img[p] + LUMA_G * img[p + 1] + LUMA_B * img[p + 2];
    img[p] = l;
    img[p + 1] = l;
    img[p + 2] = l;
  }
}
