/**
 * Anchors over feature-map grids, laid out as torchvision's AnchorGenerator so RPN head outputs
 * line up with torchvision weights: per level, location-major (y, then x) and the level's cell
 * anchors minor, cell anchors ordered ratios outer, sizes inner, each rounded to whole pixels
 * (torchvision rounds its base anchors; detectron2 does not, and orders sizes outer).
 */
export interface AnchorGeneratorOptions {
  /** Anchor sizes (sqrt of area, pixels) per level. */
  sizes: number[][];
  /** Aspect ratios (height / width) per level; one list is used for every level. */
  aspectRatios: number[][];
  /** Feature stride (pixels) per level. */
  strides: number[];
  /** Grid offset as a fraction of the stride (detectron2's ANCHOR_GENERATOR.OFFSET; torchvision: 0). */
  offset?: number;
  /** Round cell anchors to whole pixels as torchvision does (default true). */
  round?: boolean;
}

/** torch.round: halves to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export class AnchorGenerator {
  private readonly cells: Float32Array[];
  readonly strides: number[];
  readonly offset: number;

  constructor(o: AnchorGeneratorOptions) {
    const levels = o.strides.length;
    if (levels === 0) throw new Error('AnchorGenerator: strides must name at least one level');
    if (o.sizes.length !== levels) {
      throw new Error(`AnchorGenerator: sizes has ${o.sizes.length} levels, strides ${levels}`);
    }
    if (o.aspectRatios.length !== levels && o.aspectRatios.length !== 1) {
      throw new Error(`AnchorGenerator: aspectRatios has ${o.aspectRatios.length} levels, expected 1 or ${levels}`);
    }
    const offset = o.offset ?? 0;
    if (!(offset >= 0 && offset < 1)) throw new Error(`AnchorGenerator: offset must be in [0, 1), got ${offset}`);
    this.strides = o.strides.slice();
    this.offset = offset;
    const round = o.round ?? true;
    this.cells = o.sizes.map((sizes, l) => {
      const ratios = o.aspectRatios.length === 1 ? o.aspectRatios[0] : o.aspectRatios[l];
      if (sizes.length === 0 || ratios.length === 0) throw new Error(`AnchorGenerator: level ${l} has no sizes or ratios`);
      const cell = new Float32Array(4 * sizes.length * ratios.length);
      let k = 0;
      for (const r of ratios) {
        if (!(r > 0)) throw new Error(`AnchorGenerator: aspect ratio must be > 0, got ${r}`);
        // torchvision: h_ratio = sqrt(r), w_ratio = 1 / h_ratio, computed in float32.
        const hr = Math.fround(Math.sqrt(r));
        const wr = Math.fround(1 / hr);
        for (const s of sizes) {
          const hw = Math.fround(Math.fround(wr * s) / 2);
          const hh = Math.fround(Math.fround(hr * s) / 2);
          const f = round ? roundHalfEven : (v: number) => v;
          cell[k++] = f(-hw);
          cell[k++] = f(-hh);
          cell[k++] = f(hw);
          cell[k++] = f(hh);
        }
      }
      return cell;
    });
  }

  get numLevels(): number {
    return this.cells.length;
  }

  /** Anchors per grid location on `level`. */
  numCellAnchors(level: number): number {
    if (!(level >= 0 && level < this.cells.length)) throw new Error(`AnchorGenerator: no level ${level}`);
    return this.cells[level].length / 4;
  }

  /** The level's cell anchors centred on (0, 0), [A*4]. */
  cellAnchors(level: number): Float32Array {
    this.numCellAnchors(level);
    return this.cells[level].slice();
  }

  /**
   * Anchors for feature maps of the given (height, width) per level: one [H*W*A*4] array per
   * level, row (y * W + x) * A + a, boxes in input-image pixels.
   */
  gridAnchors(featureSizes: Array<[number, number]>): Float32Array[] {
    if (featureSizes.length !== this.cells.length) {
      throw new Error(`AnchorGenerator: ${featureSizes.length} feature sizes for ${this.cells.length} levels`);
    }
    return featureSizes.map(([h, w], l) => {
      const cell = this.cells[l];
      const a = cell.length / 4;
      const stride = this.strides[l];
      const out = new Float32Array(h * w * a * 4);
      let k = 0;
      for (let y = 0; y < h; y++) {
        const sy = (y + this.offset) * stride;
        for (let x = 0; x < w; x++) {
          const sx = (x + this.offset) * stride;
          for (let c = 0; c < 4 * a; c += 4) {
            out[k++] = sx + cell[c];
            out[k++] = sy + cell[c + 1];
            out[k++] = sx + cell[c + 2];
            out[k++] = sy + cell[c + 3];
          }
        }
      }
      return out;
    });
  }
}
