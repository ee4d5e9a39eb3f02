import * as tf from '@tensorflow/tfjs-core';
import type { JsonState, TensorState } from '../../../src/core/interfaces';
import { CheckpointError } from '../../../src/core/errors';
import type { Rng } from '../../../src/core/rng';

/**
 * MoCo's dictionary of negatives: a [dim, K] matrix whose columns are L2-normalised keys (torch
 * MoCo's `queue` buffer and layout, so `q @ queue` is one plain matMul), and a pointer to the
 * oldest column. `enqueue` overwrites the B columns from the pointer with this batch's keys and
 * moves the pointer by B modulo K (MoCo's _dequeue_and_enqueue). MoCo asserts K % B == 0; here
 * a batch that runs past the end wraps around to column 0 instead, so any B <= K works.
 *
 * Checkpoints: the matrix through `tensorState` ('queue'), the pointer through `jsonState`
 * ('queue_ptr'). A host copy of the matrix makes the enqueue cheap; change the queue only through
 * `enqueue` and `loadTensorState`, which keep the two equal.
 */
export class KeyQueue {
  readonly queue: tf.Variable;
  readonly dim: number;
  readonly length: number;
  private pointer: number;
  /** The queue's values on the host ([dim, K] row-major), always equal to `queue`. */
  private readonly host: Float32Array;

  /** A queue holding `initial` ([dim, K], columns taken as given) with the pointer at `ptr`. */
  constructor(initial: tf.Tensor2D, ptr = 0) {
    if (initial.rank !== 2 || initial.shape[0] < 1 || initial.shape[1] < 1) {
      throw new Error(`KeyQueue: expected a [dim, K] matrix, got [${initial.shape}]`);
    }
    [this.dim, this.length] = initial.shape;
    this.checkPointer(ptr, 'KeyQueue');
    this.host = Float32Array.from(initial.dataSync());
    this.queue = tf.variable(initial, false);
    this.pointer = ptr;
  }

  /** MoCo's initial queue: normalize(randn(dim, K), dim=0), drawn from `rng`. */
  static random(dim: number, length: number, rng: Rng): KeyQueue {
    if (!(Number.isInteger(dim) && dim > 0 && Number.isInteger(length) && length > 0)) {
      throw new RangeError(`KeyQueue: dim and length must be positive integers, got ${dim} and ${length}`);
    }
    const data = new Float32Array(dim * length);
    for (let i = 0; i < data.length; i++) data[i] = rng.normal();
    // Normalise each column (row-major [dim, K]: column j is data[d * K + j]).
    const norms = new Float64Array(length);
    for (let d = 0; d < dim; d++) for (let j = 0; j < length; j++) norms[j] += data[d * length + j] ** 2;
    for (let j = 0; j < length; j++) norms[j] = Math.max(Math.sqrt(norms[j]), 1e-12);
    for (let d = 0; d < dim; d++) for (let j = 0; j < length; j++) data[d * length + j] /= norms[j];
    const t = tf.tensor2d(data, [dim, length]);
    const q = new KeyQueue(t);
    t.dispose();
    return q;
  }

  /** Column where the next key goes (the oldest one). */
  get ptr(): number {
    return this.pointer;
  }

  /** Write `keys` ([B, dim], already normalised) as columns ptr, ptr+1, ... (mod K); ptr += B. */
  enqueue(keys: tf.Tensor2D): void {
    const [b, d] = keys.shape;
    const k = this.length;
    if (keys.rank !== 2 || d !== this.dim) throw new Error(`KeyQueue.enqueue: expected keys [B, ${this.dim}], got [${keys.shape}]`);
    if (b < 1 || b > k) throw new RangeError(`KeyQueue.enqueue: batch of ${b} keys does not fit a queue of ${k}`);
    // Column writes into the host copy, then one upload. Slicing columns of the [dim, K] tensor
    // and concatenating them back costs seconds per step on the cpu backend at K = 65536
    // (strided copies); this is B * dim scalar writes plus one contiguous copy of the queue.
    const kd = keys.dataSync();
    const ptr = this.pointer;
    for (let i = 0; i < b; i++) {
      const col = (ptr + i) % k;
      for (let r = 0; r < d; r++) this.host[r * k + col] = kd[i * d + r];
    }
    this.upload();
    this.pointer = (ptr + b) % k;
  }

  tensorState(): TensorState {
    return new Map<string, tf.Tensor>([['queue', this.queue]]);
  }

  loadTensorState(state: TensorState): void {
    const q = state.get('queue');
    if (!q) throw new CheckpointError("mocov2: checkpoint has no 'queue'");
    if (!tf.util.arraysEqual(q.shape, this.queue.shape)) {
      throw new CheckpointError(
        `mocov2: checkpoint queue is [${q.shape}], this run needs [${this.queue.shape}] ([out_dim, queue_length])`,
      );
    }
    this.host.set(q.dataSync());
    this.upload();
  }

  jsonState(): JsonState {
    return { queue_ptr: this.pointer };
  }

  loadJsonState(state: JsonState): void {
    const p = state.queue_ptr;
    if (typeof p !== 'number') throw new CheckpointError("mocov2: checkpoint state has no numeric 'queue_ptr'");
    this.checkPointer(p, 'mocov2: checkpoint');
    this.pointer = p;
  }

  dispose(): void {
    this.queue.dispose();
  }

  /** queue <- host (a copy: a backend may keep the array it is given). */
  private upload(): void {
    tf.tidy(() => this.queue.assign(tf.tensor2d(this.host.slice(), [this.dim, this.length])));
  }

  private checkPointer(p: number, who: string): void {
    if (!(Number.isInteger(p) && p >= 0 && p < this.length)) {
      const E = who.startsWith('mocov2') ? CheckpointError : RangeError;
      throw new E(`${who}: queue_ptr ${p} is not a column of a queue of length ${this.length}`);
    }
  }
}
