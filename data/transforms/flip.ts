/** Mirror an HWC image left-right in place. */
export function flipHorizontal(img: Float32Array, width: number, height: number, channels = 3): void {
  const row = width * channels;
  for (let y = 0; y < height; y++) {
    let a = y * row;
    let b = a + row - channels;
    for (; a < b; a += channels, b -= channels) {
      for (let c = 0; c < channels; c++) {
        const t = img[a + c];
        img[a + c] = img[b + c];
        img[b + c] = t;
      }
    }
  }
}
