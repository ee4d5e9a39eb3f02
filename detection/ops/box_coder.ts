import * as tf from '@tensorflow/tfjs-core';

/**
 * Faster R-CNN box coding (torchvision's BoxCoder, detectron2's Box2BoxTransform): a target box
 * relative to a reference box as (dx, dy, dw, dh) = (wx * (gcx - pcx) / pw, wy * (gcy - pcy) / ph,
 * ww * log(gw / pw), wh * log(gh / ph)), widths without +1. Decoding clamps dw, dh from above
 * only, after dividing by the weights (no lower clamp), so exp() cannot overflow.
 */
export class BoxCoder {
  readonly weights: [number, number, number, number];
  readonly scaleClamp: number;

  constructor(weights: [number, number, number, number], scaleClamp = Math.log(1000 / 16)) {
    if (weights.length !== 4 || weights.some((w) => !(w > 0))) {
      throw new Error(`BoxCoder: weights must be 4 positive numbers, got [${weights}]`);
    }
    this.weights = [weights[0], weights[1], weights[2], weights[3]];
    this.scaleClamp = scaleClamp;
  }

  /** Deltas [N*4] that turn each `anchors` row into the matching `targets` row (no clamp). */
  encode(targets: Float32Array, anchors: Float32Array): Float32Array {
    if (targets.length !== anchors.length || targets.length % 4 !== 0) {
      throw new Error(`BoxCoder.encode: targets (${targets.length}) and anchors (${anchors.length}) must both be 4N values`);
    }
    const [wx, wy, ww, wh] = this.weights;
    const out = new Float32Array(targets.length);
    for (let o = 0; o < targets.length; o += 4) {
      const pw = anchors[o + 2] - anchors[o];
      const ph = anchors[o + 3] - anchors[o + 1];
      const pcx = anchors[o] + 0.5 * pw;
      const pcy = anchors[o + 1] + 0.5 * ph;
      const gw = targets[o + 2] - targets[o];
      const gh = targets[o + 3] - targets[o + 1];
      const gcx = targets[o] + 0.5 * gw;
      const gcy = targets[o + 1] + 0.5 * gh;
      out[o] = (wx * (gcx - pcx)) / pw;
      out[o + 1] = (wy * (gcy - pcy)) / ph;
      out[o + 2] = ww * Math.log(gw / pw);
      out[o + 3] = wh * Math.log(gh / ph);
    }
    return out;
  }

  /**
   * Applies `deltas` to `boxes` [N*4]. `deltas` holds N*K*4 values: K delta rows per box (K = 1
   * for the RPN, K = classes for class-specific box regression, [N, K, 4] row-major); the result
   * has the same layout as `deltas`.
   */
  decode(deltas: Float32Array, boxes: Float32Array): Float32Array {
    const n = boxes.length / 4;
    if (boxes.length % 4 !== 0 || (n === 0 ? deltas.length !== 0 : deltas.length % (4 * n) !== 0)) {
      throw new Error(`BoxCoder.decode: deltas (${deltas.length}) must be a multiple of 4 x boxes (${boxes.length / 4} boxes)`);
    }
    const k = n === 0 ? 0 : deltas.length / (4 * n);
    const [wx, wy, ww, wh] = this.weights;
    const clamp = this.scaleClamp;
    const out = new Float32Array(deltas.length);
    for (let i = 0; i < n; i++) {
      const b = 4 * i;
      const pw = boxes[b + 2] - boxes[b];
      const ph = boxes[b + 3] - boxes[b + 1];
      const pcx = boxes[b] + 0.5 * pw;
      const pcy = boxes[b + 1] + 0.5 * ph;
      for (let j = 0; j < k; j++) {
        const o = 4 * (i * k + j);
        const cx = (deltas[o] / wx) * pw + pcx;
        const cy = (deltas[o + 1] / wy) * ph + pcy;
        const w = Math.exp(Math.min(deltas[o + 2] / ww, clamp)) * pw;
        const h = Math.exp(Math.min(deltas[o + 3] / wh, clamp)) * ph;
        out[o] = cx - 0.5 * w;
        out[o + 1] = cy - 0.5 * h;
        out[o + 2] = cx + 0.5 * w;
        out[o + 3] = cy + 0.5 * h;
      }
    }
    return out;
  }

  /**
   * `decode` as tensor ops: deltas [N, 4K], boxes [N, 4] -> [N, 4K] (differentiable w.r.t. deltas).
   */
  decodeTensor(deltas: tf.Tensor2D, boxes: tf.Tensor2D): tf.Tensor2D {
    const [n, d] = deltas.shape;
    if (boxes.shape[0] !== n || boxes.shape[1] !== 4 || d % 4 !== 0) {
      throw new Error(`BoxCoder.decodeTensor: deltas [${deltas.shape}] must be [N, 4K] for boxes [${boxes.shape}] = [N, 4]`);
    }
    const k = d / 4;
    return tf.tidy(() => {
      const [x1, y1, x2, y2] = tf.split(boxes, 4, 1) as tf.Tensor2D[]; // each [N, 1]
      const pw = tf.sub(x2, x1);
      const ph = tf.sub(y2, y1);
      const pcx = tf.add(x1, tf.mul(pw, 0.5));
      const pcy = tf.add(y1, tf.mul(ph, 0.5));
      const dl = tf.reshape(deltas, [n, k, 4]);
      const part = (i: number) => tf.reshape(tf.slice(dl, [0, 0, i], [n, k, 1]), [n, k]);
      const [wx, wy, ww, wh] = this.weights;
      const cx = tf.add(tf.mul(tf.div(part(0), wx), pw), pcx);
      const cy = tf.add(tf.mul(tf.div(part(1), wy), ph), pcy);
      const hw = tf.mul(tf.mul(tf.exp(tf.minimum(tf.div(part(2), ww), this.scaleClamp)), pw), 0.5);
      const hh = tf.mul(tf.mul(tf.exp(tf.minimum(tf.div(part(3), wh), this.scaleClamp)), ph), 0.5);
      const out = tf.stack([tf.sub(cx, hw), tf.sub(cy, hh), tf.add(cx, hw), tf.add(cy, hh)], 2); // [N, K, 4]
      return tf.reshape(out, [n, d]) as tf.Tensor2D;
    });
  }
}
