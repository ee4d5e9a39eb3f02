import type * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../../../src/core/rng';
import { ConfigError } from '../../../src/core/errors';
import { registry } from '../../../src/core/registry';
import { Module } from '../../../src/nn/module';
import { BatchNorm2d } from '../../../src/nn/batchnorm';
import type { BackboneConfig } from '../config';

/** One backbone stage output: 'c2'..'c5', its stride and channels (the plugins' FeatureInfo). */
export interface StageInfo {
  name: string;
  stride: number;
  channels: number;
}

/**
 * What detection needs from a backbone plugin: a Module whose `featureMaps` hands out its stage
 * outputs ordered by stride (plugins/backbones/features.ts defines the same shape; it is restated
 * here structurally so detection does not import plugins, see docs/architecture.md).
 */
export interface MultiScaleBody extends Module {
  featureInfo(): StageInfo[];
  featureMaps(imagesNHWC: tf.Tensor4D): Array<StageInfo & { tensor: tf.Tensor4D }>;
}

export function isMultiScaleBody(x: unknown): x is MultiScaleBody {
  const m = x as Partial<MultiScaleBody>;
  return x instanceof Module && typeof m.featureInfo === 'function' && typeof m.featureMaps === 'function';
}

/**
 * Builds the backbone plugin named by the config through the registry (its options checked by
 * the plugin's own schema) and checks it can hand out stage outputs. The backbone plugins must
 * be registered (imported) by the caller, as the composition root does for every plugin.
 */
export function buildBody(cfg: BackboneConfig, rng: Rng, keyPrefix = 'model.backbone'): MultiScaleBody {
  const def = registry.get('backbone', cfg.name);
  const parsed = def.schema.safeParse(cfg.options);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError([keyPrefix, 'options', ...issue.path].join('.'), issue.message);
  }
  const body = def.create(parsed.data, { rng });
  if (!isMultiScaleBody(body)) {
    body.dispose();
    throw new ConfigError(`${keyPrefix}.name`, `backbone '${cfg.name}' has no featureMaps(), so it cannot feed an FPN`);
  }
  return body;
}

/**
 * Detectron2's FrozenBatchNorm2d on an existing network: every BatchNorm2d keeps using its running
 * statistics (eval mode, also while the detector trains) and its affine parameters get no
 * gradient. Call again after every `train()` of the owner (BackboneWithFpn does).
 */
export function freezeBatchNorm(module: Module): void {
  for (const m of module.modules()) {
    if (m instanceof BatchNorm2d) {
      m.eval();
      m.setTrainable(false);
    }
  }
}
