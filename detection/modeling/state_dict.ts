import type { Module } from '../../src/nn/module';
import { loadModuleStateDict, moduleStateDict, type LoadStateDictResult, type StateEntry } from '../../src/nn/state_dict';

/**
 * The detector's state dict uses the names of torchvision's published Mask R-CNN checkpoints
 * (`backbone.fpn.inner_blocks.0.weight`, `rpn.head.conv.weight`, `roi_heads.mask_head.mask_fcn1.weight`).
 * torchvision >= 0.13 builds those blocks from Conv2dNormActivation and names them one level
 * deeper (`inner_blocks.0.0.weight`, `rpn.head.conv.0.0.weight`, `mask_head.0.0.weight`); this maps
 * such a key to the published one (others pass unchanged), so both kinds of file load.
 */
export function publishedMaskRcnnKey(key: string): string {
  let m = /^(backbone\.fpn\.(?:inner|layer)_blocks\.\d+)\.0\.(weight|bias)$/.exec(key);
  if (m) return `${m[1]}.${m[2]}`;
  m = /^rpn\.head\.conv\.0\.0\.(weight|bias)$/.exec(key);
  if (m) return `rpn.head.conv.${m[1]}`;
  m = /^roi_heads\.mask_head\.(\d+)\.0\.(weight|bias)$/.exec(key);
  if (m) return `roi_heads.mask_head.mask_fcn${Number(m[1]) + 1}.${m[2]}`;
  return key;
}

/** The detector's entries under torchvision's published names, PyTorch layouts. */
export function maskRcnnStateDict(model: Module): Map<string, StateEntry> {
  return moduleStateDict(model);
}

/**
 * Loads a torchvision Mask R-CNN state dict (published or >= 0.13 names) into the detector.
 * `strict: false` allows partial files (e.g. a backbone-only file under `backbone.body.`).
 */
export function loadMaskRcnnStateDict(model: Module, entries: Map<string, StateEntry>, strict = true): LoadStateDictResult {
  const renamed = new Map<string, StateEntry>();
  for (const [k, v] of entries) renamed.set(publishedMaskRcnnKey(k), v);
  return loadModuleStateDict(model, renamed, { strict });
}
