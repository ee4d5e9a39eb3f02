import * as path from 'path';
import { expect } from 'chai';
import { loadConfig } from '../../../../src/core/config';
import '../../../../src/run/builtins';
import { repoRoot } from '../../../helpers/reference';

describe('configs/*swav_mobilenetv2.yaml', () => {
  const base = loadConfig(path.join(repoRoot, 'configs', 'swav_mobilenetv2.yaml'));
  const ours = loadConfig(path.join(repoRoot, 'configs', 'sslight_swav_mobilenetv2.yaml'));

  it("the baseline is the paper's SwAV setting: LARS base lr 0.3, batch 1024, 200 epochs, dino views, eq. 2", () => {
    expect(base.method.name).to.equal('swav');
    const m = base.method.options as Record<string, unknown>;
    expect([m.nmb_prototypes, m.feat_dim, m.temperature, m.epsilon, m.sinkhorn_iterations, m.alpha]).to.deep.equal([3000, 128, 0.1, 0.05, 3, null]);
    expect([m.queue_length, m.epoch_queue_starts, m.crops_for_assign]).to.deep.equal([3840, 15, [0, 1]]);
    expect(base.optimizer.name).to.equal('lars');
    const o = base.optimizer.options as Record<string, unknown>;
    expect([o.lr, o.scale_lr_by_batch, o.min_lr_ratio, o.warmup_epochs, o.weight_decay]).to.deep.equal([0.3, true, 0.001, 10, 1e-6]);
    expect([base.trainer.batch_size, base.trainer.epochs]).to.deep.equal([1024, 200]);
    expect(base.views.name).to.equal('dino');
  });

  it('the SSLight setting differs exactly in the views and alpha 0.4', () => {
    expect(ours.views.name).to.equal('sslight');
    const bv = base.views.options as Record<string, unknown>;
    const ov = ours.views.options as Record<string, unknown>;
    expect([bv.global_crop_scale, bv.local_crop_scale, bv.local_crop_size]).to.deep.equal([[0.14, 1], [0.05, 0.14], 96]);
    expect([ov.global_crop_scale, ov.local_crop_scale, ov.local_crop_size]).to.deep.equal([[0.3, 1], [0.05, 0.3], 128]);
    expect(ours.method.options).to.deep.equal({ ...(base.method.options as Record<string, unknown>), alpha: 0.4 });
    expect(ours.backbone).to.deep.equal(base.backbone);
    expect(ours.optimizer).to.deep.equal(base.optimizer);
    expect(ours.trainer).to.deep.equal(base.trainer);
  });
});

describe('configs/cifar10/swav*_mobilenetv2_small.yaml', () => {
  for (const file of ['swav_sslight_mobilenetv2_small.yaml', 'swav_mobilenetv2_small.yaml']) {
    it(`${file}: Sinkhorn spreads at least as many features as prototypes from the first steps`, () => {
      // At batch 32 over 100 prototypes without the queue, the run collapsed to uniform predictions.
      const c = loadConfig(path.join(repoRoot, 'configs', 'cifar10', file));
      const m = c.method.options as Record<string, number>;
      expect(m.epoch_queue_starts).to.equal(0);
      expect(m.queue_length + c.trainer.batch_size).to.be.at.least(m.nmb_prototypes);
      // The queue joins once full: within SwAV's 313 prototype-freezing steps.
      expect(m.queue_length / c.trainer.batch_size).to.be.at.most(m.freeze_prototypes_niters);
      // More prototypes than feat_dim + 1, so no embedding direction scores them all the same
      // (100 in 128 dimensions collapsed to uniform predictions).
      expect(m.nmb_prototypes).to.be.greaterThan(m.feat_dim + 1);
    });
  }
});
