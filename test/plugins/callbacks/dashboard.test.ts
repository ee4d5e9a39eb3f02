import * as http from 'http';
import { expect } from 'chai';
import { EventBus, type EventInput } from '../../../src/core/events';
import { ConfigError } from '../../../src/core/errors';
import { dashboardFlag, startDashboard } from '../../../plugins/callbacks/common/dashboard/server';

function get(url: string): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type']) }));
      })
      .on('error', reject);
  });
}

/** Reads SSE messages until `until` returns true for one of them. */
function readSse(url: string, until: (event: string, data: unknown) => boolean): Promise<Array<{ event: string; data: unknown }>> {
  return new Promise((resolve, reject) => {
    const got: Array<{ event: string; data: unknown }> = [];
    const req = http.get(url, (res) => {
      let buf = '';
      res.on('data', (c) => {
        buf += c;
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (!ev || data === undefined) continue;
          const msg = { event: ev, data: JSON.parse(data) };
          got.push(msg);
          if (until(msg.event, msg.data)) {
            req.destroy();
            resolve(got);
          }
        }
      });
    });
    req.on('error', (e) => (got.length ? undefined : reject(e)));
  });
}

const stepEnd = (step: number, loss: number): EventInput => ({
  type: 'step:end',
  epoch: 0,
  step,
  totalSteps: 10,
  losses: { loss },
  lr: 0.01,
  wd: 0,
  images_per_s: 50,
  step_ms: 200,
  metrics: { ps_ratio: 1 },
});

describe('plugins/callbacks/common/dashboard: server', () => {
  it('parses --dashboard [PORT] and rejects bad ports with a clear error', () => {
    expect(dashboardFlag(undefined, undefined)).to.equal(undefined);
    expect(dashboardFlag('', undefined)).to.deep.equal({ port: 8765, host: '127.0.0.1' });
    expect(dashboardFlag('0', '0.0.0.0')).to.deep.equal({ port: 0, host: '0.0.0.0' });
    expect(() => dashboardFlag('http', undefined)).to.throw(ConfigError, /--dashboard expects a port/);
    expect(() => dashboardFlag('70000', undefined)).to.throw(ConfigError, /70000/);
  });

  it('keeps state with no browser, then serves the page, a snapshot and live updates over SSE', async () => {
    const bus = new EventBus();
    const dash = await startDashboard(bus.events$, { port: 0, title: 'unit', pushMs: 20 });
    try {
      expect(dash.url).to.match(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      bus.emit({ type: 'run:start', runDir: null, backend: 'cpu', seed: 1, config: { method: { name: 'dino' } }, startStep: 0, totalSteps: 10, stepsPerEpoch: 5, resumedFrom: null });
      for (let s = 1; s <= 3; s++) bus.emit(stepEnd(s, 4 - s));
      // Nobody connected: the updates were dropped, the store kept the history.
      await new Promise((r) => setTimeout(r, 60));
      const page = await get(dash.url);
      expect(page.status).to.equal(200);
      expect(page.type).to.contain('text/html');
      expect(page.body).to.contain('EventSource');
      const st = JSON.parse((await get(dash.url + 'api/state')).body);
      expect(st.info).to.include({ backend: 'cpu', status: 'running', totalSteps: 10 });
      expect(st.info.config.method.name).to.equal('dino');
      expect(st.progress).to.include({ step: 3, totalSteps: 10, imagesPerS: 50 });
      expect(st.progress.etaS).to.be.closeTo(7 * 0.2, 1e-9);
      expect(st.series.loss.points).to.deep.equal([[1, 3], [2, 2], [3, 1]]);
      expect(st.series.lr.group).to.equal('hyper');

      const sse = readSse(dash.url + 'events', (ev, d) => ev === 'update' && (d as { progress: { step: number } }).progress.step === 5);
      await new Promise((r) => setTimeout(r, 50));
      bus.emit(stepEnd(4, 0.5));
      bus.emit(stepEnd(5, NaN));
      const msgs = await sse;
      expect(msgs[0].event).to.equal('snapshot');
      const pts = msgs.filter((m) => m.event === 'update').flatMap((m) => (m.data as { points: Record<string, number[][]> }).points.loss ?? []);
      expect(pts).to.deep.equal([[4, 0.5], [5, null]]);
      expect((await get(dash.url + 'nope')).status).to.equal(404);
    } finally {
      await dash.close();
    }
    await new Promise((r) => setTimeout(r, 10));
    let refused = false;
    await get(dash.url).catch(() => (refused = true));
    expect(refused, 'closed server still answers').to.equal(true);
  });

  it('reports a port in use as bad input', async () => {
    const bus = new EventBus();
    const a = await startDashboard(bus.events$, { port: 0 });
    try {
      const err = await startDashboard(new EventBus().events$, { port: a.port }).catch((e) => e);
      expect(err).to.be.instanceOf(ConfigError);
      expect(String(err.message)).to.match(new RegExp(`${a.port} is in use`));
    } finally {
      await a.close();
    }
  });
});
