import { expect } from 'chai';
import { WarmupMultiStepSchedule, warmupMultiStepAt } from '../../src/core/schedules';

describe('core/schedules: warm-up + step decay (Detectron2 WarmupMultiStepLR)', () => {
  it('the 1x schedule at batch 16: lr 0.02, 1000 warm-up iterations from x0.001, decays at 60k / 80k', () => {
    const s = new WarmupMultiStepSchedule(0.02, [60000, 80000], 0.1, 1000, 0.001);
    expect(s.at(0)).to.be.closeTo(0.02 * 0.001, 1e-12);
    // factor = 0.001 (1 - 0.5) + 0.5
    expect(s.at(500)).to.be.closeTo(0.02 * 0.5005, 1e-12);
    expect(s.at(999)).to.be.closeTo(0.02 * (0.001 * (1 - 0.999) + 0.999), 1e-12);
    expect(s.at(1000)).to.equal(0.02);
    expect(s.at(59999)).to.equal(0.02);
    expect(s.at(60000)).to.be.closeTo(0.002, 1e-12);
    expect(s.at(79999)).to.be.closeTo(0.002, 1e-12);
    expect(s.at(80000)).to.be.closeTo(0.0002, 1e-12);
    expect(s.at(89999)).to.be.closeTo(0.0002, 1e-12);
  });

  it('a milestone inside the warm-up multiplies the warm-up factor; no warm-up is the plain step schedule', () => {
    expect(warmupMultiStepAt(5, 1, [3], 0.5, 10, 0.1)).to.be.closeTo((0.1 * 0.5 + 0.5) * 0.5, 1e-12);
    expect(warmupMultiStepAt(0, 1, [2, 4], 0.1, 0)).to.equal(1);
    expect(warmupMultiStepAt(2, 1, [2, 4], 0.1, 0)).to.be.closeTo(0.1, 1e-12);
    expect(warmupMultiStepAt(4, 1, [2, 4], 0.1, 0)).to.be.closeTo(0.01, 1e-12);
  });

  it('refuses milestones out of order and a fractional warm-up', () => {
    expect(() => new WarmupMultiStepSchedule(0.1, [80, 60])).to.throw(/steps must increase/);
    expect(() => new WarmupMultiStepSchedule(0.1, [60], 0.1, 1.5)).to.throw(/warmupIters/);
  });
});
