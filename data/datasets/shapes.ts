import type { Rng } from '../../src/core/rng';

/** The ten generated classes: a shape or a texture patch, told apart by form, not colour. */
export const SHAPE_CLASSES = [
  'disc',
  'ring',
  'square',
  'triangle',
  'stripes_horizontal',
  'stripes_vertical',
  'checkers',
  'cross',
  'dots',
  'star',
] as const;

/** Signed distance (in units of the object radius, negative inside) at object coords (u, v). */
type Sdf = (u: number, v: number) => number;

function makeSdf(cls: number, rng: Rng): Sdf {
  switch (cls) {
    case 0:
      return (u, v) => Math.sqrt(u * u + v * v) - 1;
    case 1: {
      const thick = rng.range(0.2, 0.35);
      return (u, v) => Math.abs(Math.sqrt(u * u + v * v) - (1 - thick)) - thick;
    }
    case 2:
      return (u, v) => Math.max(Math.abs(u), Math.abs(v)) - 0.8;
    case 3: {
      // Equilateral triangle: the largest of three half-plane distances.
      return (u, v) => Math.max(v - 0.6, -0.866 * u - 0.5 * v - 0.6, 0.866 * u - 0.5 * v - 0.6);
    }
    case 4:
    case 5:
      return (u, v) => Math.sqrt(u * u + v * v) - 1;
    case 6:
      return (u, v) => Math.max(Math.abs(u), Math.abs(v)) - 0.85;
    case 7: {
      const w = rng.range(0.22, 0.35);
      return (u, v) => {
        const au = Math.abs(u), av = Math.abs(v);
        return Math.min(Math.max(au - 1, av - w), Math.max(au - w, av - 1));
      };
    }
    case 8: {
      const n = 4 + rng.int(0, 3);
      const du = new Float64Array(n), dv = new Float64Array(n);
      for (let k = 0; k < n; k++) {
        const a = rng.range(0, 2 * Math.PI);
        const r = rng.range(0.3, 0.8);
        du[k] = r * Math.cos(a);
        dv[k] = r * Math.sin(a);
      }
      return (u, v) => {
        let d = Infinity;
        for (let k = 0; k < n; k++) {
          const x = u - du[k], y = v - dv[k];
          const e = x * x + y * y;
          if (e < d) d = e;
        }
        return Math.sqrt(d) - 0.22;
      };
    }
    default:
      return (u, v) => {
        const r = Math.sqrt(u * u + v * v);
        const theta = Math.atan2(v, u);
        return r - (0.55 + 0.4 * Math.cos(5 * theta));
      };
  }
}

/** Foreground texture in [0, 1] (mix between the two object colours); null = flat colour. */
function makeTexture(cls: number, rng: Rng): ((u: number, v: number) => number) | null {
  if (cls === 4 || cls === 5) {
    const freq = cls === 4 ? rng.range(2.5, 3.5) : rng.range(4.5, 5.5);
    // Near-horizontal or near-vertical bands, so flips never turn one class into the other.
    const angle = (cls === 4 ? 0 : Math.PI / 2) + rng.range(-0.25, 0.25);
    const cu = Math.cos(angle), cv = Math.sin(angle);
    return (u, v) => 0.5 + 0.5 * Math.sin(Math.PI * freq * (u * cv + v * cu));
  }
  if (cls === 6) {
    const cells = rng.range(1.8, 2.6);
    return (u, v) => ((Math.floor((u + 1) * cells) + Math.floor((v + 1) * cells)) & 1 ? 1 : 0);
  }
  return null;
}

function randomColour(rng: Rng, out: Float64Array, offset: number): void {
  for (let c = 0; c < 3; c++) out[offset + c] = rng.range(0, 255);
}

/**
 * Render one image of class `cls` into `out` (RGB uint8 HWC, size x size). Everything random comes
 * from `rng`: background gradient and its colours, object position, size, rotation and colours,
 * pixel noise.
 */
export function renderShape(cls: number, size: number, rng: Rng, out: Uint8Array): void {
  const col = new Float64Array(12); // bg0, bg1, fg0, fg1
  randomColour(rng, col, 0);
  randomColour(rng, col, 3);
  randomColour(rng, col, 6);
  randomColour(rng, col, 9);
  // Keep the object visible: push its colour away from the background's mid colour.
  for (let c = 0; c < 3; c++) {
    const bg = 0.5 * (col[c] + col[3 + c]);
    if (Math.abs(col[6 + c] - bg) < 60) col[6 + c] = bg < 128 ? bg + 90 : bg - 90;
    // Textured classes need their two colours apart too, or the pattern vanishes.
    if (Math.abs(col[9 + c] - col[6 + c]) < 70) col[9 + c] = col[6 + c] < 128 ? col[6 + c] + 110 : col[6 + c] - 110;
  }
  const gAngle = rng.range(0, 2 * Math.PI);
  const gFreq = rng.range(0.5, 2.0) / size;
  const gx = Math.cos(gAngle) * gFreq * Math.PI, gy = Math.sin(gAngle) * gFreq * Math.PI;
  const gPhase = rng.range(0, 2 * Math.PI);

  const radius = size * rng.range(0.2, 0.4);
  const cx = rng.range(radius * 0.8, size - radius * 0.8);
  const cy = rng.range(radius * 0.8, size - radius * 0.8);
  const rot = cls === 4 || cls === 5 ? 0 : rng.range(0, 2 * Math.PI);
  const cr = Math.cos(rot) / radius, sr = Math.sin(rot) / radius;
  const sdf = makeSdf(cls, rng);
  const texture = makeTexture(cls, rng);
  const noise = rng.range(2, 12);
  const edge = radius; // sdf units -> pixels, for a one-pixel soft edge

  for (let y = 0; y < size; y++) {
    const py = y + 0.5 - cy;
    for (let x = 0; x < size; x++) {
      const px = x + 0.5 - cx;
      const u = px * cr + py * sr;
      const v = -px * sr + py * cr;
      const t = 0.5 + 0.5 * Math.sin(gx * x + gy * y + gPhase);
      let m = 0.5 - sdf(u, v) * edge;
      m = m < 0 ? 0 : m > 1 ? 1 : m;
      const k = m > 0 && texture ? texture(u, v) : 0;
      const o = (y * size + x) * 3;
      for (let c = 0; c < 3; c++) {
        const bg = col[c] + (col[3 + c] - col[c]) * t;
        const fg = col[6 + c] + (col[9 + c] - col[6 + c]) * k;
        const n = (rng.uniform() - 0.5) * 2 * noise;
        const val = bg + (fg - bg) * m + n;
        out[o + c] = val < 0 ? 0 : val > 255 ? 255 : val + 0.5;
      }
    }
  }
}
