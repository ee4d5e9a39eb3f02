import sharp from 'sharp';
import type { RawImage } from '../../src/core/interfaces';
import { DataError } from '../../src/core/errors';

/**
 * Decode an image file to interleaved RGB uint8 with libvips. Alpha is dropped, grey and CMYK
 * become sRGB; `resizeShort` scales so the shorter side has that many pixels. Truncated or corrupt
 * files reject with a DataError naming the file (failOn 'warning' so half-decoded JPEGs count).
 */
export async function decodeImage(file: string, resizeShort?: number): Promise<RawImage> {
  let decoded;
  try {
    let pipe = sharp(file, { failOn: 'warning' });
    if (resizeShort !== undefined) pipe = pipe.resize({ width: resizeShort, height: resizeShort, fit: 'outside' });
    decoded = await pipe.removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new DataError(file, err instanceof Error ? err.message : String(err));
  }
  const buf = decoded.data;
  const { width, height, channels } = decoded.info;
  const data = new Uint8Array(width * height * 3);
  if (channels === 3) {
    data.set(buf.subarray(0, data.length));
  } else if (channels === 1 || channels === 2) {
    // Grey (possibly with alpha libvips kept): replicate the first channel.
    for (let p = 0, q = 0; p < width * height; p++, q += channels) {
      const g = buf[q];
      data[p * 3] = g;
      data[p * 3 + 1] = g;
      data[p * 3 + 2] = g;
    }
  } else if (channels >= 4) {
    for (let p = 0, q = 0; p < width * height; p++, q += channels) {
      data[p * 3] = buf[q];
      data[p * 3 + 1] = buf[q + 1];
      data[p * 3 + 2] = buf[q + 2];
    }
  } else {
    throw new DataError(file, `decoded to ${channels} channels, expected 1 to 4`);
  }
  return { width, height, data };
}
