import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../../../src/core/rng';
import { ConfigError } from '../../../src/core/errors';
import { Module } from '../../../src/nn/module';
import type { BackboneConfig, FpnConfig } from '../config';
import { Fpn } from '../fpn/fpn';
import { buildBody, freezeBatchNorm, type MultiScaleBody, type StageInfo } from './body';

/** A named pyramid level: 'p2'..'p6', stride, channels and the NHWC map. */
export interface PyramidLevel extends StageInfo {
  tensor: tf.Tensor4D;
}

/**
 * torchvision's BackboneWithFPN: `body` (the backbone plugin, its own names) + `fpn`, so the
 * state dict reads `backbone.body.*` / `backbone.fpn.*` under the detector.
 */
export class BackboneWithFpn extends Module {
  readonly body: MultiScaleBody;
  readonly fpn: Fpn;
  readonly freezeBn: boolean;
  private readonly stageNames: string[];

  constructor(backbone: BackboneConfig, fpn: FpnConfig, rng: Rng) {
    super();
    this.body = this.addModule('body', buildBody(backbone, rng));
    const info = this.body.featureInfo();
    const inputs = fpn.in_features.map((name) => {
      const s = info.find((i) => i.name === name);
      if (!s) {
        throw new ConfigError('model.fpn.in_features', `backbone '${backbone.name}' has no stage '${name}' (it has ${info.map((i) => i.name).join(', ')})`);
      }
      return s;
    });
    this.stageNames = inputs.map((s) => s.name);
    this.fpn = this.addModule('fpn', new Fpn({ inputs, outChannels: fpn.out_channels, topBlock: fpn.top_block }, rng));
    this.freezeBn = backbone.freeze_bn;
    if (this.freezeBn) freezeBatchNorm(this.body);
  }

  override train(mode = true): this {
    super.train(mode);
    if (this.freezeBn) freezeBatchNorm(this.body);
    return this;
  }

  outputInfo(): StageInfo[] {
    return this.fpn.outputInfo();
  }

  /** Images NHWC -> pyramid levels by increasing stride; the caller disposes the tensors. */
  forward(images: tf.Tensor4D): PyramidLevel[] {
    const info = this.fpn.outputInfo();
    const maps = tf.tidy(() => {
      const stages = this.body.featureMaps(images);
      const picked = this.stageNames.map((n) => stages.find((s) => s.name === n)!.tensor);
      const out = this.fpn.forward(picked);
      for (const s of stages) s.tensor.dispose();
      return out;
    });
    return maps.map((tensor, i) => ({ ...info[i], tensor }));
  }
}
