import * as tf from '@tensorflow/tfjs-core';

/** The parts of tfjs-core's engine state that decide whether ops are recorded for gradients. */
interface TapeState {
  gradientDepth: number;
  activeTape: unknown[] | null;
}

/**
 * Runs `f` with gradient recording off, like torch.no_grad(): inside tf.grad / tf.variableGrads
 * its ops add no tape nodes and save no tensors for a backward pass, so their intermediates are
 * freed when `f`'s tidy scopes end instead of living until the backward pass is over, and the
 * engine skips the per-op tape bookkeeping. Results take no gradient (they are constants to the
 * enclosing gradient computation). tfjs has no public switch for this; it is the engine's own
 * condition (isTapeOn: gradientDepth > 0), set to 0 for the call and restored after, together
 * with the active tape (a nested tf.grad inside `f` starts and ends its own).
 */
export function noGrad<T>(f: () => T): T {
  const state = (tf.engine() as unknown as { state: TapeState }).state;
  const depth = state.gradientDepth;
  const tape = state.activeTape;
  if (depth === 0) return f();
  state.gradientDepth = 0;
  try {
    return f();
  } finally {
    state.gradientDepth = depth;
    state.activeTape = tape;
  }
}
