import { loadReference } from '../../helpers/reference';

/** ../shared/reference/backbones.json (PyTorch 1.13 / torchvision 0.14 counts), by name. */
export interface BackboneRef {
  name: string;
  params: number;
  feature_dim: number;
  macs_32: number;
}

export function backboneRef(name: string): BackboneRef | null {
  const ref = loadReference<{ backbones: BackboneRef[] }>('backbones');
  if (!ref) return null;
  const b = ref.backbones.find((x) => x.name === name);
  if (!b) throw new Error(`backbones.json has no '${name}'`);
  return b;
}
