import type { BoxCoder } from '../../ops/box_coder';
import { clipBoxes, nonEmpty } from '../../ops/boxes';
import { batchedNms } from '../../ops/nms';
import { concat, concatInt, gather, gatherBoxes, gatherInt, topKIndices } from '../arrays';

export interface ProposalOptions {
  /** Kept per level before NMS. */
  preNmsTopK: number;
  /** Kept per image after NMS. */
  postNmsTopK: number;
  nmsThresh: number;
  /** Boxes with a side <= minSize are dropped. */
  minSize: number;
  coder: BoxCoder;
}

export interface Proposals {
  /** [P*4] xyxy in image pixels, by decreasing objectness. */
  boxes: Float32Array;
  /** [P] objectness logits. */
  logits: Float32Array;
}

/**
 * Detectron2's find_top_rpn_proposals (torchvision's RegionProposalNetwork.filter_proposals):
 * per image and level the top-k anchors by objectness, decoded, clipped to the image, small and
 * non-finite boxes dropped, NMS within each level, then the best postNmsTopK over all levels.
 * Host side: proposals are not differentiated.
 *
 * logits[l]: [N * cells_l] in (image, y, x, anchor) order; deltas[l]: the same with 4 per
 * anchor; anchors[l]: [cells_l * 4] for one image (the same grid for every image).
 */
export function findTopProposals(
  logits: Float32Array[],
  deltas: Float32Array[],
  anchors: Float32Array[],
  imageSizes: Array<[number, number]>,
  o: ProposalOptions,
): Proposals[] {
  const out: Proposals[] = [];
  for (let i = 0; i < imageSizes.length; i++) {
    const boxParts: Float32Array[] = [];
    const logitParts: Float32Array[] = [];
    const levelParts: Int32Array[] = [];
    for (let l = 0; l < anchors.length; l++) {
      const n = anchors[l].length / 4;
      const top = topKIndices(logits[l], o.preNmsTopK, i * n, n);
      const sel = new Float32Array(top.length * 4);
      const selAnchors = new Float32Array(top.length * 4);
      const selLogits = new Float32Array(top.length);
      for (let k = 0; k < top.length; k++) {
        const a = top[k];
        selLogits[k] = logits[l][i * n + a];
        for (let c = 0; c < 4; c++) {
          sel[4 * k + c] = deltas[l][4 * (i * n + a) + c];
          selAnchors[4 * k + c] = anchors[l][4 * a + c];
        }
      }
      boxParts.push(o.coder.decode(sel, selAnchors));
      logitParts.push(selLogits);
      levelParts.push(new Int32Array(top.length).fill(l));
    }
    const boxes = clipBoxes(concat(boxParts), imageSizes[i][0], imageSizes[i][1]);
    const scores = concat(logitParts);
    const levels = concatInt(levelParts);
    const keep = nonEmpty(boxes, o.minSize).filter((k) => Number.isFinite(scores[k]) && isFiniteBox(boxes, k));
    const kb = gatherBoxes(boxes, keep);
    const ks = gather(scores, keep);
    const kl = gatherInt(levels, keep);
    const kept = batchedNms(kb, ks, kl, o.nmsThresh).slice(0, o.postNmsTopK);
    out.push({ boxes: gatherBoxes(kb, kept), logits: gather(ks, kept) });
  }
  return out;
}

function isFiniteBox(b: Float32Array, k: number): boolean {
  return Number.isFinite(b[4 * k]) && Number.isFinite(b[4 * k + 1]) && Number.isFinite(b[4 * k + 2]) && Number.isFinite(b[4 * k + 3]);
}
