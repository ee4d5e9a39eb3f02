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

/** Where a backbone's entries may sit in a file, tried in this order. */
const BODY_PREFIXES = ['backbone.body.', 'student.backbone.', 'backbone.', ''];

/**
 * Loads pre-trained backbone weights into `model.backbone.body`: a torchvision Mask R-CNN file
 * (`backbone.body.*`), an sslight pre-training checkpoint's student (`student.backbone.*`), or a
 * plain torchvision classification state dict (no prefix; `fc.*` and the like are ignored).
 * `prefix` forces one; otherwise the first of the above under which every body entry exists is
 * used. Every body parameter and buffer must be present with its shape; the rest of the file
 * is ignored. Returns the prefix used and how many entries were loaded.
 */
export function loadBackboneBody(
  model: { backbone: { body: Module } },
  entries: Map<string, StateEntry>,
  prefix?: string,
): { prefix: string; loaded: number } {
  const body = model.backbone.body;
  const own = [...body.stateTensors().keys()];
  const candidates = prefix !== undefined ? [prefix] : BODY_PREFIXES;
  for (const p of candidates) {
    if (!own.every((k) => entries.has(p + k))) continue;
    const picked = new Map<string, StateEntry>();
    for (const k of own) picked.set(k, entries.get(p + k)!);
    loadModuleStateDict(body, picked, { strict: true });
    return { prefix: p, loaded: own.length };
  }
  // report the prefix that came closest
  const missingUnder = (c: string) => own.filter((k) => !entries.has(c + k));
  const p = candidates.reduce((best, c) => (missingUnder(c).length < missingUnder(best).length ? c : best));
  const missing = missingUnder(p);
  throw new Error(
    `backbone weights: no prefix (${candidates.map((c) => `'${c}'`).join(', ')}) holds every backbone entry; under '${p}' ${missing.length} of ${own.length} are missing, e.g. ${missing.slice(0, 3).join(', ')}`,
  );
}
