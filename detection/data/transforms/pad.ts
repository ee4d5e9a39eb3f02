/** Padding a batch of differently sized images to one size divisible by the network's stride. */

/** n rounded up to a multiple of `divisibility` (<= 1 leaves n as is). */
export function padTo(n: number, divisibility: number): number {
  return divisibility > 1 ? Math.ceil(n / divisibility) * divisibility : n;
}

/**
 * The padded batch size: the largest height and width in the batch, each rounded up to a
 * multiple of `divisibility` (Detectron2's ImageList.from_tensors).
 */
export function paddedBatchSize(sizes: ReadonlyArray<readonly [number, number]>, divisibility: number): [number, number] {
  let h = 0;
  let w = 0;
  for (const [sh, sw] of sizes) {
    if (sh > h) h = sh;
    if (sw > w) w = sw;
  }
  return [padTo(h, divisibility), padTo(w, divisibility)];
}

/**
 * Copies HWC images (each h x w x c) into one zero-filled [B, H, W, c] buffer, top-left aligned
 * (padding with 0 after normalisation, as Detectron2 pads the normalised tensor).
 */
export function padInto(images: ReadonlyArray<{ data: Float32Array; h: number; w: number }>, H: number, W: number, c = 3): Float32Array {
  const out = new Float32Array(images.length * H * W * c);
  images.forEach((im, b) => {
    if (im.h > H || im.w > W) throw new RangeError(`image ${b} (${im.h}x${im.w}) is larger than the padded size ${H}x${W}`);
    const rowLen = im.w * c;
    for (let y = 0; y < im.h; y++) out.set(im.data.subarray(y * rowLen, (y + 1) * rowLen), ((b * H + y) * W) * c);
  });
  return out;
}
