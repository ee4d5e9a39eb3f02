import type { CropBox } from './random_resized_crop';

/**
 * The centred square covering `fraction` of the shorter side: with fraction 224/256 and a
 * resize to 224 this is the usual "resize 256, centre crop 224" evaluation view in one step.
 */
export function centerCropBox(width: number, height: number, fraction = 1): CropBox {
  const side = Math.max(1, Math.min(width, height, Math.round(Math.min(width, height) * fraction)));
  return {
    top: Math.floor((height - side) / 2),
    left: Math.floor((width - side) / 2),
    height: side,
    width: side,
    attempts: 0,
  };
}
