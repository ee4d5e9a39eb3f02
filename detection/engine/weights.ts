/**
 * `--weights RUN|CKPT|FILE|none` of `sslight detect train`: where the detector's backbone body
 * starts from. A directory is an sslight pre-training run or checkpoint: its config's method says
 * which backbone it evaluates and under which prefix (`buildEvaluableBackbone`), e.g. the DINO
 * student's `student.backbone.`; a file is a torchvision-named backbone (safetensors or .pth,
 * classifier ignored); `none` keeps the initialisation.
 */
import * as fs from 'fs';
import * as path from 'path';
import { CheckpointStore } from '../../src/core/checkpoint';
import { resolveConfig } from '../../src/core/config';
import { ConfigError } from '../../src/core/errors';
import type { Module } from '../../src/nn/module';
import { buildEvaluableBackbone } from '../../src/run/evaluable';
import { formatWeightsReport, loadWeightsInto } from '../../src/nn/weights';

export interface WeightsSource {
  kind: 'none' | 'pretrain' | 'file';
  /** Checkpoint directory or file. */
  path: string | null;
  /** Dotted prefix of the backbone in the file (pre-training checkpoints). */
  prefix?: string;
  /** The pre-training config's backbone name (must be the detector's). */
  backbone?: string;
}

/** Reads a spec without loading tensors; bad specs are ConfigErrors naming `--weights`. */
export function resolveWeightsSource(spec: string | null | undefined): WeightsSource {
  if (!spec || spec === 'none') return { kind: 'none', path: null };
  const abs = path.resolve(spec);
  if (!fs.existsSync(abs)) throw new ConfigError('--weights', `${abs} does not exist (give a pre-training run or checkpoint, a weights file, or none)`);
  if (!fs.statSync(abs).isDirectory()) return { kind: 'file', path: abs };
  let dir: string;
  try {
    dir = CheckpointStore.resolve(abs) as string;
  } catch (e) {
    throw new ConfigError('--weights', (e as Error).message);
  }
  const state = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')) as { config?: unknown };
  const doc = state.config;
  if (typeof doc !== 'object' || doc === null || !('method' in doc)) {
    throw new ConfigError('--weights', `${dir} is not an sslight pre-training checkpoint (its state.json has no config with a method); a detection run cannot initialise a backbone`);
  }
  const cfg = resolveConfig(doc as Record<string, unknown>);
  const evaluable = buildEvaluableBackbone(cfg);
  evaluable.module.dispose();
  return { kind: 'pretrain', path: dir, prefix: evaluable.prefix, backbone: cfg.backbone.name };
}

/**
 * Loads the source into the detector's backbone body. Strict (the default): every body tensor
 * must be found, with its shape; otherwise what fits is loaded and the log line lists the rest.
 * Returns a line for the log, or null for `none`.
 */
export function loadBackboneWeights(body: Module, backboneName: string, src: WeightsSource, strict = true): string | null {
  if (src.kind === 'none') return null;
  if (src.kind === 'pretrain' && src.backbone !== backboneName) {
    throw new ConfigError('--weights', `${src.path} pre-trained a '${src.backbone}' backbone, but model.backbone.name is '${backboneName}'`);
  }
  try {
    const report = loadWeightsInto(body, src.path as string, { prefix: src.prefix, strict });
    return formatWeightsReport(report);
  } catch (e) {
    throw new ConfigError('--weights', (e as Error).message);
  }
}
