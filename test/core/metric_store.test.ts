import { expect } from 'chai';
import { EventBus, type EventInput } from '../../src/core/events';
import { HistoryBuffer, MetricStore, groupOf } from '../../src/core/metric_store';

const stepEnd = (step: number, loss: number, stepMs = 100): EventInput => ({
  type: 'step:end',
  epoch: 0,
  step,
  totalSteps: 100,
  losses: { loss, loss_gl: loss * 2 },
  lr: 0.1,
  wd: 0.04,
  images_per_s: 1000 / stepMs,
  step_ms: stepMs,
  metrics: { ps_ratio: 1.1, teacher_temp: 0.04, num_tensors: 7 },
});

describe('core/metric_store', () => {
  it('windows: median and mean of the last N values, NaN ignored', () => {
    const b = new HistoryBuffer('perf');
    [5, 1, 9, 3, NaN, 7].forEach((v, i) => b.put({ step: i + 1, value: v, time: 0 }));
    expect(b.median(20)).to.equal(5); // 1 3 5 7 9
    expect(b.median(2)).to.equal(7); // NaN, 7
    expect(b.avg(3)).to.equal(5); // 3, 7
    expect(b.latest()!.step).to.equal(6);
  });

  it('keeps a bounded, evenly thinned history that always ends at the newest point', () => {
    const b = new HistoryBuffer('loss', 10, 100);
    for (let s = 1; s <= 1000; s++) b.put({ step: s, value: s, time: 0 });
    const h = b.history();
    expect(h.length).to.be.at.most(101);
    expect(h.length).to.be.greaterThan(50);
    expect(h[0].step).to.equal(1);
    expect(h[h.length - 1].step).to.equal(1000);
    const gaps = new Set(h.slice(0, -1).map((p, i) => h[i + 1].step - p.step).slice(0, -1));
    expect(gaps.size).to.equal(1); // evenly spaced
    expect(b.median(10)).to.equal(995.5); // the window stays exact
  });

  it('one store per stream, updated before any writer sees the event; names and groups', () => {
    const bus = new EventBus();
    const store = MetricStore.for(bus.events$);
    expect(MetricStore.for(bus.events$)).to.equal(store);
    const seen: number[] = [];
    bus.events$.subscribe((e) => {
      if (e.type === 'step:end') seen.push(store.get('loss')!.latest()!.value);
    });
    bus.emit({ type: 'run:start', runDir: null, backend: 'cpu', seed: 0, config: {}, startStep: 10, totalSteps: 100, stepsPerEpoch: 10, resumedFrom: 'x' });
    expect(store.startStep).to.equal(10);
    for (let s = 11; s <= 30; s++) bus.emit(stepEnd(s, s / 10, s < 30 ? 100 : 5000));
    bus.emit({ type: 'eval:end', step: 30, metrics: { knn_top1: 0.5 } });
    bus.emit({ type: 'epoch:end', epoch: 1, step: 30, metrics: { loss: 2 } });
    expect(seen).to.deep.equal(Array.from({ length: 20 }, (_, i) => (i + 11) / 10));
    expect(store.step).to.equal(30);
    expect(store.median('step_ms')).to.equal(100); // one slow step does not move the median
    expect(store.etaSeconds()).to.be.closeTo(70 * 0.1, 1e-12);
    const groups = Object.fromEntries(store.latest().map((l) => [l.name, l.group]));
    expect(groups).to.deep.equal({
      loss: 'loss', loss_gl: 'loss', lr: 'hyper', wd: 'hyper', images_per_s: 'perf', step_ms: 'perf',
      ps_ratio: 'train', teacher_temp: 'hyper', num_tensors: 'memory', knn_top1: 'eval', epoch_loss: 'epoch',
    });
    expect(groupOf('wasm_heap_mb')).to.equal('memory');
    expect(MetricStore.for(new EventBus().events$)).to.not.equal(store);
  });
});
