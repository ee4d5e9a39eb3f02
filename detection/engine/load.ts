/**
 * A trained detector back from a detection run or checkpoint (for `sslight detect eval / show`):
 * the config saved in the checkpoint builds the model, model.safetensors fills it (`model.*`, in
 * torchvision's Mask R-CNN names), and the task state gives the dataset's categories.
 */
import * as path from 'path';
import { CheckpointStore, readCheckpoint } from '../../src/core/checkpoint';
import { CheckpointError, ConfigError } from '../../src/core/errors';
import { Rng } from '../../src/core/rng';
import type { StateEntry } from '../../src/nn/state_dict';
import { MaskRcnn } from '../modeling/meta_arch/mask_rcnn';
import { loadMaskRcnnStateDict } from '../modeling/state_dict';
import { resolveDetectionConfig, type DetectionConfig } from './config';
import type { DetectionCategories } from './task';

export interface LoadedDetector {
  model: MaskRcnn;
  config: DetectionConfig;
  /** The checkpoint directory read. */
  dir: string;
  step: number;
  categories: DetectionCategories | null;
}

export function loadDetector(spec: string): LoadedDetector {
  const dir = CheckpointStore.resolve(path.resolve(spec)) as string;
  const ckpt = readCheckpoint(dir);
  const doc = ckpt.state.config;
  if (typeof doc !== 'object' || doc === null || !('model' in doc) || !('data' in doc)) {
    throw new ConfigError('--checkpoint', `${dir} is not a detection checkpoint (its config has no model / data sections)`);
  }
  const config = resolveDetectionConfig(doc as Record<string, unknown>);
  const model = new MaskRcnn(config.model, new Rng(0));
  const entries = new Map<string, StateEntry>();
  for (const [k, v] of ckpt.model) if (k.startsWith('model.')) entries.set(k.slice('model.'.length), v as StateEntry);
  try {
    loadMaskRcnnStateDict(model, entries, true);
  } catch (e) {
    model.dispose();
    throw new CheckpointError(`${dir}/model.safetensors (model.*): ${(e as Error).message}`);
  }
  model.eval();
  const c = (ckpt.state.method as { categories?: DetectionCategories }).categories ?? null;
  return { model, config, dir, step: ckpt.state.step, categories: c };
}
