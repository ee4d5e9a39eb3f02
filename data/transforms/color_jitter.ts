import type { Rng } from '../../src/core/rng';
import { LUMA_B, LUMA_G, LUMA_R } from './grayscale';

/** Jitter strengths as torchvision's ColorJitter takes them (hue in [0, 0.5]). */
export interface ColorJitterStrength {
  brightness: number;
  contrast: number;
  saturation: number;
  hue: number;
}

/** One drawn jitter: the order of the four ops (0 b, 1 c, 2 s, 3 h) and their factors. */
export interface ColorJitterParams {
  order: number[];
  brightness: number;
  contrast: number;
  saturation: number;
  hue: number;
}

/** torchvision `ColorJitter.get_params`: a random order of the four ops, then each factor. */
export function sampleColorJitter(s: ColorJitterStrength, rng: Rng): ColorJitterParams {
  const order = Array.from(rng.permutation(4));
  const brightness = rng.range(Math.max(0, 1 - s.brightness), 1 + s.brightness);
  const contrast = rng.range(Math.max(0, 1 - s.contrast), 1 + s.contrast);
  const saturation = rng.range(Math.max(0, 1 - s.saturation), 1 + s.saturation);
  const hue = rng.range(-s.hue, s.hue);
  return { order, brightness, contrast, saturation, hue };
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

/** Blend with black: x * f, clamped (torchvision adjust_brightness). */
export function adjustBrightness(img: Float32Array, factor: number): void {
  for (let i = 0; i < img.length; i++) img[i] = clamp01(img[i] * factor);
}

/** Blend with the mean luma of the whole image (torchvision adjust_contrast). */
export function adjustContrast(img: Float32Array, factor: number): void {
  let sum = 0;
  for (let p = 0; p < img.length; p += 3) sum += LUMA_R * img[p] + LUMA_G * img[p + 1] + LUMA_B * img[p + 2];
  const mean = sum / (img.length / 3);
  const offset = (1 - factor) * mean;
  for (let i = 0; i < img.length; i++) img[i] = clamp01(img[i] * factor + offset);
}

/** Blend each pixel with its own luma (torchvision adjust_saturation). */
export function adjustSaturation(img: Float32Array, factor: number): void {
  const keep = 1 - factor;
  for (let p = 0; p < img.length; p += 3) {
    const l = keep * (LUMA_R * img[p] + LUMA_G * img[p + 1] + LUMA_B * img[p + 2]);
    img[p] = clamp01(img[p] * factor + l);
    img[p + 1] = clamp01(img[p + 1] * factor + l);
    img[p + 2] = clamp01(img[p + 2] * factor + l);
  }
}

/** Rotate hue by `shift` turns (in [-0.5, 0.5]) through HSV, as torchvision adjust_hue. */
export function adjustHue(img: Float32Array, shift: number): void {
  for (let p = 0; p < img.length; p += 3) {
    const r = img[p], g = img[p + 1], b = img[p + 2];
    const max = r > g ? (r > b ? r : b) : g > b ? g : b;
    const min = r < g ? (r < b ? r : b) : g < b ? g : b;
    const delta = max - min;
    if (delta === 0) continue; // grey pixels have no hue to rotate
    let h: number;
    if (max === r) h = (g - b) / delta;
    else if (max === g) h = 2 + (b - r) / delta;
    else h = 4 + (r - g) / delta;
    h = h / 6 + shift;
    h -= Math.floor(h); // wrap into [0, 1)
    const s = delta / max;
    const v = max;
    const h6 = h * 6;
    const sector = Math.floor(h6) % 6;
    const f = h6 - Math.floor(h6);
    const pv = v * (1 - s);
    const qv = v * (1 - s * f);
    const tv = v * (1 - s * (1 - f));
    let ro: number, go: number, bo: number;
    switch (sector) {
      case 0: ro = v; go = tv; bo = pv; break;
      case 1: ro = qv; go = v; bo = pv; break;
      case 2: ro = pv; go = v; bo = tv; break;
      case 3: ro = pv; go = qv; bo = v; break;
      case 4: ro = tv; go = pv; bo = v; break;
      default: ro = v; go = pv; bo = qv; break;
    }
    img[p] = ro;
    img[p + 1] = go;
    img[p + 2] = bo;
  }
}

/** Apply a drawn jitter in its order, in place, on a [0, 1] HWC RGB image. */
export function applyColorJitter(img: Float32Array, params: ColorJitterParams): void {
  for (const op of params.order) {
    if (op === 0) adjustBrightness(img, params.brightness);
    else if (op === 1) adjustContrast(img, params.contrast);
    else if (op === 2) adjustSaturation(img, params.saturation);
    else if (params.hue !== 0) adjustHue(img, params.hue);
  }
}
