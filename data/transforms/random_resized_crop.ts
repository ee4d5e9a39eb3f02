import type { Rng } from '../../src/core/rng';

/** A crop in source pixels: rows [top, top+height), columns [left, left+width). */
export interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
  /** Tries used (1..10), or 0 when all ten were rejected and the centre fallback was taken. */
  attempts: number;
}

/** Python's round(): halves go to the even neighbour, as torchvision's `int(round(...))` does. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * torchvision `RandomResizedCrop.get_params`, draw for draw: up to 10 tries of
 * area ~ U(scale) * W*H and aspect ~ exp(U(log ratio)), accepted when the box fits; the offset is
 * uniform over the valid positions (inclusive). All rejected: the largest centred box whose aspect
 * is clamped into `ratio`.
 */
export function sampleCropBox(
  imageWidth: number,
  imageHeight: number,
  scale: readonly [number, number],
  ratio: readonly [number, number],
  rng: Rng,
): CropBox {
  const area = imageWidth * imageHeight;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let attempt = 1; attempt <= 10; attempt++) {
    const targetArea = area * rng.range(scale[0], scale[1]);
    const aspect = Math.exp(rng.range(logLo, logHi));
    const w = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= imageWidth && h > 0 && h <= imageHeight) {
      const top = rng.int(0, imageHeight - h);
      const left = rng.int(0, imageWidth - w);
      return { top, left, height: h, width: w, attempts: attempt };
    }
  }
  const inRatio = imageWidth / imageHeight;
  const rMin = Math.min(ratio[0], ratio[1]);
  const rMax = Math.max(ratio[0], ratio[1]);
  let w = imageWidth;
  let h = imageHeight;
  if (inRatio < rMin) h = roundHalfEven(w / rMin);
  else if (inRatio > rMax) w = roundHalfEven(h * rMax);
  return {
    top: Math.floor((imageHeight - h) / 2),
    left: Math.floor((imageWidth - w) / 2),
    height: h,
    width: w,
    attempts: 0,
  };
}

/** Eq. 1 of the paper: output side squared over the crop's area in source pixels. */
export function pixelScale(outputSize: number, box: CropBox): number {
  return (outputSize * outputSize) / (box.height * box.width);
}
