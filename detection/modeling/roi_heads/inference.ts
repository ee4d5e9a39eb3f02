import type { BoxCoder } from '../../ops/box_coder';
import { clipBoxes, nonEmpty } from '../../ops/boxes';
import { batchedNms } from '../../ops/nms';

export interface BoxInferenceOptions {
  coder: BoxCoder;
  scoreThresh: number;
  nmsThresh: number;
  detectionsPerImage: number;
  /** Detections with a side <= minSize are dropped. */
  minSize: number;
}

export interface BoxDetections {
  /** [n*4] xyxy in image pixels, by decreasing score. */
  boxes: Float32Array;
  scores: Float32Array;
  /** 1..K */
  classes: Int32Array;
}

/**
 * Fast R-CNN inference for one image (Detectron2's fast_rcnn_inference_single_image,
 * torchvision's postprocess_detections): class-specific boxes decoded from each RoI and clipped,
 * every (RoI, class) pair with softmax score > scoreThresh a candidate, small boxes dropped,
 * NMS per class, the best detectionsPerImage kept.
 * probs [R*(K+1)] softmax scores (column 0 background), deltas [R*(K+1)*4], rois [R*4].
 */
export function boxInference(
  probs: Float32Array,
  deltas: Float32Array,
  rois: Float32Array,
  imageSize: [number, number],
  o: BoxInferenceOptions,
): BoxDetections {
  const r = rois.length / 4;
  const c = r > 0 ? probs.length / r : 0;
  const decoded = clipBoxes(o.coder.decode(deltas, rois), imageSize[0], imageSize[1]);
  const cand: number[] = [];
  for (let i = 0; i < r; i++) {
    for (let k = 1; k < c; k++) if (probs[i * c + k] > o.scoreThresh) cand.push(i * c + k);
  }
  const boxes = new Float32Array(cand.length * 4);
  const scores = new Float32Array(cand.length);
  const classes = new Int32Array(cand.length);
  cand.forEach((q, j) => {
    boxes.set(decoded.subarray(4 * q, 4 * q + 4), 4 * j);
    scores[j] = probs[q];
    classes[j] = q % c;
  });
  const big = nonEmpty(boxes, o.minSize);
  const bb = new Float32Array(big.length * 4);
  const bs = new Float32Array(big.length);
  const bc = new Int32Array(big.length);
  big.forEach((q, j) => {
    bb.set(boxes.subarray(4 * q, 4 * q + 4), 4 * j);
    bs[j] = scores[q];
    bc[j] = classes[q];
  });
  const keep = batchedNms(bb, bs, bc, o.nmsThresh).slice(0, o.detectionsPerImage);
  const out: BoxDetections = { boxes: new Float32Array(keep.length * 4), scores: new Float32Array(keep.length), classes: new Int32Array(keep.length) };
  keep.forEach((q, j) => {
    out.boxes.set(bb.subarray(4 * q, 4 * q + 4), 4 * j);
    out.scores[j] = bs[q];
    out.classes[j] = bc[q];
  });
  return out;
}
