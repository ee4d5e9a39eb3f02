import * as tf from '@tensorflow/tfjs-core';

/** The float32 just above 6: step(c - x) is 1 exactly for x <= 6. */
const ABOVE_SIX = Math.fround(6 + 2 ** -21);

let replaced: tf.GradConfig | undefined;
let ours: tf.GradConfig | undefined;

/**
 * The shipped Relu6 gradient is dy * cast((x <= 6) * step(x)); on wasm, LessEqual and the casts
 * are scalar loops (~15x an XNNPACK elementwise op). Here the mask 0 < x <= 6 is
 * step(x * (c - x)) with c the float above 6: the same values (x * (c - x) > 0 exactly when
 * 0 < x < c), from Sub, Mul, Step and Mul. Other backends keep the gradient we replaced.
 * Re-applies itself when someone registered another Relu6 gradient since (e.g. late gradient
 * registration); returns whether ours is now in place.
 */
export function ensureRelu6Gradient(): boolean {
  const current = tf.getGradient('Relu6');
  if (current && current === ours) return true;
  replaced = current;
  ours = {
    kernelName: 'Relu6',
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      if (tf.getBackend() !== 'wasm' && replaced) return replaced.gradFunc(dy, saved, attrs);
      const x = saved[0];
      return { x: () => tf.mul(dy as tf.Tensor, tf.step(tf.mul(x, tf.sub(tf.scalar(ABOVE_SIX), x)))) };
    },
  };
  tf.registerGradient(ours);
  return true;
}
