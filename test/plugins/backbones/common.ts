import * as fs from 'fs';
import * as path from 'path';
import { loadReference } from '../../helpers/reference';

/** ../shared/reference/backbones.json (PyTorch 1.13 / torchvision 0.14 counts), by name. */
export interface BackboneRef {
  name: string;
  params: number;
  feature_dim: number;
  macs_32: number;
  macs_96: number;
}

type RefFile = { backbones: BackboneRef[] };

/**
 * The helper resolves shared/ from the standard dist/ depth; builds placed deeper (such as
 * .tmp/dist-nn) would silently skip, so also look for `shared/` beside any ancestor folder.
 */
function loadBackbonesJson(): RefFile | null {
  const viaHelper = loadReference<RefFile>('backbones');
  if (viaHelper) return viaHelper;
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const f = path.join(path.dirname(dir), 'shared', 'reference', 'backbones.json');
    if (fs.existsSync(f)) return JSON.parse(fs.readFileSync(f, 'utf8')) as RefFile;
  }
  return null;
}

export function backboneRef(name: string): BackboneRef | null {
  const ref = loadBackbonesJson();
  if (!ref) return null;
  const b = ref.backbones.find((x) => x.name === name);
  if (!b) throw new Error(`backbones.json has no '${name}'`);
  return b;
}
