import type { SafeTensor } from '../safetensors';

/**
 * Where a backbone sits in the checkpoints we recognise without --weights-prefix, and how its
 * names map to ours (torchvision's / DINO's). Every rule is by name, never by position.
 */
export interface Selection {
  /** What was recognised, for messages. */
  layout: string;
  /** Backbone entries under our names. */
  entries: Map<string, SafeTensor>;
  /** Entries dropped on purpose (heads, classifiers), not reported as unexpected. */
  ignored: string[];
}

/**
 * The SSLight release (`torch.save({config, epoch, steps, optimizer, loss, state_dict})`): the
 * backbone of DINO is `module.student.backbone` (the student, as the authors' downstream loaders
 * take), SwAV's `module.network.backbone`, MoCo's `module.encoder_q.backbone`. CNNs sit in
 * `.encoder`, an nn.Sequential: torchvision MobileNetV2's `features`, or ResNet's children
 * without avgpool/fc (0 conv1, 1 bn1, 2 relu, 3 maxpool, 4-7 layer1-4). ViTs are DINO's
 * VisionTransformer directly under `backbone.`, with DINO's names (= ours).
 */
export const SSLIGHT_BACKBONES: ReadonlyArray<{ method: string; prefix: string }> = [
  { method: 'DINO', prefix: 'module.student.backbone.' },
  { method: 'SwAV', prefix: 'module.network.backbone.' },
  { method: 'MoCo', prefix: 'module.encoder_q.backbone.' },
];

const RESNET_ENCODER: Record<string, string> = { '0': 'conv1', '1': 'bn1', '4': 'layer1', '5': 'layer2', '6': 'layer3', '7': 'layer4' };

/** The top-level keys of an SSLight release checkpoint. */
export function isSslightRelease(topKeys: string[]): boolean {
  return topKeys.includes('state_dict') && topKeys.includes('config') && (topKeys.includes('epoch') || topKeys.includes('steps'));
}

export function selectSslightRelease(tensors: Map<string, SafeTensor>): Selection | null {
  const sd = subtree(tensors, 'state_dict.');
  for (const { method, prefix } of SSLIGHT_BACKBONES) {
    for (const p of [prefix, prefix.replace(/^module\./, '')]) {
      const sub = subtree(sd, p);
      if (sub.size === 0) continue;
      const layout = `SSLight ${method} release (${p}*)`;
      const ignored = [...sd.keys()].filter((k) => !k.startsWith(p));
      if (![...sub.keys()].some((k) => k.startsWith('encoder.'))) return { layout, entries: sub, ignored };
      const { entries, arch } = mapEncoder(sub);
      for (const k of sub.keys()) if (!k.startsWith('encoder.')) ignored.push(`${p}${k}`);
      return { layout: `${layout}, ${arch} encoder`, entries, ignored };
    }
  }
  return null;
}

/**
 * SSLight's CNN `encoder.*` (an nn.Sequential) under our names: MobileNetV2's `features.<i>`, or
 * ResNet's children by index (conv1, bn1, relu, maxpool, layer1-4). Entries outside `encoder.`
 * are dropped; unknown ResNet indices keep their `encoder.` name (so they show as unexpected).
 */
export function mapEncoder(sub: Map<string, SafeTensor>): { entries: Map<string, SafeTensor>; arch: 'ResNet' | 'MobileNetV2' } {
  const encoder = subtree(sub, 'encoder.');
  // ResNet's encoder holds conv1's weight at 0 and bn1 at 1; MobileNetV2's holds ConvBNReLU at 0.
  const resnet = encoder.has('0.weight') && encoder.has('1.running_mean');
  const entries = new Map<string, SafeTensor>();
  for (const [k, v] of encoder) {
    const dot = k.indexOf('.');
    const head = k.slice(0, dot);
    entries.set(resnet ? (RESNET_ENCODER[head] ? `${RESNET_ENCODER[head]}${k.slice(dot)}` : `encoder.${k}`) : `features.${k}`, v);
  }
  return { entries, arch: resnet ? 'ResNet' : 'MobileNetV2' };
}

/** sslight's own model.safetensors: the backbone of DINO/SwAV (student.backbone.) or MoCo (encoder_q.backbone.). */
export const SSLIGHT_OWN_PREFIXES = ['student.backbone.', 'encoder_q.backbone.'] as const;

/** Entries under `prefix`, with it stripped. */
export function subtree(tensors: Map<string, SafeTensor>, prefix: string): Map<string, SafeTensor> {
  const out = new Map<string, SafeTensor>();
  for (const [k, v] of tensors) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), v);
  return out;
}
