import { z } from 'zod';
import { ConfigError } from '../../src/core/errors';
import type { Module } from '../../src/nn/module';
import { formatWeightsReport, loadWeightsInto } from '../../src/nn/weights';

/**
 * `backbone.weights: FILE` in any config: every backbone plugin takes these options and starts
 * from the file's weights (safetensors, .pth / .pth.tar, an sslight checkpoint directory),
 * found as `sslight embed --weights` finds them. Paths are relative to the working directory.
 */
export const weightsOptionShape = {
  weights: z.string().min(1).optional(),
  /** Dotted prefix of the backbone's tensors in the file (default: recognised layouts). */
  weights_prefix: z.string().optional(),
  /** false: skip (and report) unknown, missing or mis-shaped tensors instead of failing. */
  weights_strict: z.boolean().optional(),
};

export interface WeightsOptions {
  weights?: string;
  weights_prefix?: string;
  weights_strict?: boolean;
}

const reported = new Set<string>();

/** Load `o.weights` into a freshly built backbone (a no-op without it). */
export function initFromWeights<M extends Module>(backbone: M, o: WeightsOptions): M {
  if (!o.weights) return backbone;
  try {
    const report = loadWeightsInto(backbone, o.weights, { prefix: o.weights_prefix, strict: o.weights_strict !== false });
    const line = formatWeightsReport(report);
    // A method builds its copies (student and teacher) together: say it once per turn.
    if (!reported.has(line)) {
      if (reported.size === 0) setImmediate(() => reported.clear()).unref();
      reported.add(line);
      process.stderr.write(`sslight: backbone.${line}\n`);
    }
  } catch (e) {
    backbone.dispose();
    throw new ConfigError('backbone.weights', (e as Error).message);
  }
  return backbone;
}
