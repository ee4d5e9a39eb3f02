import * as path from 'path';
import { expect } from 'chai';
import { loadConfig } from '../../../../src/core/config';
import '../../../../src/run/builtins';
import { repoRoot } from '../../../helpers/reference';

describe('configs/*mocov2* (the paper MoCo-v2 MobileNetV2 settings)', () => {
  const base = loadConfig(path.join(repoRoot, 'configs', 'mocov2_mobilenetv2.yaml'));
  const ours = loadConfig(path.join(repoRoot, 'configs', 'sslight_mocov2_mobilenetv2.yaml'));

  it('baseline: dino views (0.14, 224/96, 6 locals), mocov2 with uniform weighting, LARS 0.48 x batch/256, batch 1024, 200 epochs', () => {
    const v = base.views.options as Record<string, unknown>;
    expect([base.views.name, v.global_crop_scale, v.local_crop_scale, v.global_crop_size, v.local_crop_size, v.n_local]).to.deep.equal([
      'dino', [0.14, 1], [0.05, 0.14], 224, 96, 6,
    ]);
    const m = base.method.options as Record<string, unknown>;
    expect(base.method.name).to.equal('mocov2');
    expect([m.out_dim, m.hidden_dim, m.queue_length, m.temperature, m.momentum, m.alpha]).to.deep.equal([128, 2048, 65536, 0.2, 0.999, null]);
    const o = base.optimizer.options as Record<string, unknown>;
    expect([base.optimizer.name, o.lr, o.scale_lr_by_batch, o.warmup_epochs, o.weight_decay]).to.deep.equal(['lars', 0.48, true, 10, 1e-6]);
    expect([base.trainer.epochs, base.trainer.batch_size]).to.deep.equal([200, 1024]);
  });

  it('sslight differs exactly in the SSLight knobs: sslight views (0.3, 224/128) and alpha 0.4', () => {
    const v = ours.views.options as Record<string, unknown>;
    expect([ours.views.name, v.global_crop_scale, v.local_crop_scale, v.global_crop_size, v.local_crop_size, v.n_local]).to.deep.equal([
      'sslight', [0.3, 1], [0.05, 0.3], 224, 128, 6,
    ]);
    expect(ours.method.options.alpha).to.equal(0.4);
    expect({ ...ours.method.options, alpha: null }).to.deep.equal(base.method.options);
    expect(ours.method.name).to.equal(base.method.name);
    expect(ours.backbone).to.deep.equal(base.backbone);
    expect(ours.optimizer).to.deep.equal(base.optimizer);
    expect(ours.trainer).to.deep.equal(base.trainer);
    expect(ours.data).to.deep.equal(base.data);
  });
});
