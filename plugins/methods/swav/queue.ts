import * as tf from '@tensorflow/tfjs-core';
import type { JsonState, TensorState } from '../../../src/core/interfaces';
import { CheckpointError } from '../../../src/core/errors';

/**
 * SwAV's queue of past embeddings: [nAssign, length, featDim], newest rows first. It is created
 * at the first enqueue (SwAV starts it at `epoch_queue_starts`), fills from the front and is used
 * once full. Checkpoints: the rows through `tensorState` ('queue', absent before it starts), the
 * fill count through `jsonState` ('queue_filled').
 */
export class SwavQueue {
  private variable: tf.Variable | null = null;
  private filled = 0;

  constructor(
    readonly nAssign: number,
    readonly length: number,
    readonly featDim: number,
  ) {}

  /** The queue once started, else null. */
  get tensor(): tf.Variable | null {
    return this.variable;
  }

  /** Rows filled so far (from the front). */
  get rows(): number {
    return this.filled;
  }

  get full(): boolean {
    return this.variable !== null && this.filled >= this.length;
  }

  /** [length, featDim] rows of assigned crop i. */
  rowsOf(i: number): tf.Tensor2D {
    if (!this.variable) throw new Error('swav queue: not started');
    return tf.reshape(tf.slice(this.variable, [i, 0, 0], [1, this.length, this.featDim]), [this.length, this.featDim]);
  }

  /** SwAV's fill: shift the queue back by B rows and put `emb` ([nAssign, B, featDim]) first. */
  enqueue(emb: tf.Tensor3D): void {
    const { nAssign, length, featDim } = this;
    if (!this.variable) this.variable = tf.variable(tf.zeros([nAssign, length, featDim]), false);
    const q = this.variable;
    tf.tidy(() => {
      q.assign(tf.slice(tf.concat([emb, q], 1), [0, 0, 0], [nAssign, length, featDim]));
    });
    this.filled = Math.min(length, this.filled + emb.shape[1]);
  }

  tensorState(): TensorState {
    return new Map<string, tf.Tensor>(this.variable ? [['queue', this.variable]] : []);
  }

  /** Restores the rows; a checkpoint from before the queue started clears it. */
  loadTensorState(state: TensorState): void {
    const q = state.get('queue');
    if (!q) {
      this.dispose();
      return;
    }
    const want = [this.nAssign, this.length, this.featDim];
    if (!tf.util.arraysEqual(q.shape, want)) {
      throw new CheckpointError(`swav: checkpoint queue is [${q.shape}], this run (crops_for_assign, queue_length, feat_dim) needs [${want}]`);
    }
    if (this.variable) this.variable.assign(q);
    else this.variable = tf.variable(q, false);
  }

  jsonState(): JsonState {
    return { queue_filled: this.filled };
  }

  loadJsonState(state: JsonState): void {
    const n = state.queue_filled;
    if (!(typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= this.length)) {
      throw new CheckpointError(`swav: checkpoint state has no queue_filled in 0..${this.length} (queue_length), got ${JSON.stringify(n)}`);
    }
    this.filled = n;
  }

  dispose(): void {
    this.variable?.dispose();
    this.variable = null;
    this.filled = 0;
  }
}
