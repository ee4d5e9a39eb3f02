import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import type { Observable, Subscription } from 'rxjs';
import type { TrainerEvent } from '../../../../src/core/events';
import { MetricStore } from '../../../../src/core/metric_store';
import { ConfigError } from '../../../../src/core/errors';
import { DASHBOARD_PAGE } from './page';

export const DEFAULT_DASHBOARD_PORT = 8765;

export interface DashboardOptions {
  /** TCP port; 0 picks a free one (the URL says which). Default 8765. */
  port?: number;
  /** Interface to bind; default 127.0.0.1 (this machine only). */
  host?: string;
  /** Page title, e.g. the command and run directory. */
  title?: string;
  /** How often queued points go to the browsers (ms). */
  pushMs?: number;
}

export interface Dashboard {
  url: string;
  port: number;
  /** Ends the streams and stops the server. */
  close(): Promise<void>;
}

interface RunState {
  title: string;
  status: 'waiting' | 'running' | 'completed' | 'max-steps' | 'interrupted' | 'failed';
  backend: string | null;
  runDir: string | null;
  config: unknown;
  seed: number | null;
  startStep: number;
  totalSteps: number;
  stepsPerEpoch: number;
  epoch: number;
  startedAt: number | null;
  resumedFrom: string | null;
  messages: Array<{ time: number; text: string }>;
  images: Record<string, { step: number; width: number; height: number }>;
}

/**
 * A live page for a run, fed by its event stream: resolved config, backend, progress with rate
 * and ETA, the curves of every scalar of the run's MetricStore (server-sent events), and the
 * latest image of each `image` tag. With no browser connected it only keeps the store (bounded)
 * up to date. One call wires it to any command that has an event stream:
 *
 *   const dash = await startDashboard(bus.events$, { port: 0, title: 'detect train' });
 *   try { await trainer.run(); } finally { await dash.close(); }
 *
 * Routes: `/` the page, `/api/state` a JSON snapshot, `/events` the SSE stream (`snapshot`, then
 * `update` batches of new points and progress), `/image/<tag>` the latest PNG of a tag.
 */
export async function startDashboard(events$: Observable<TrainerEvent>, opts: DashboardOptions = {}): Promise<Dashboard> {
  const store = MetricStore.for(events$);
  const state: RunState = {
    title: opts.title ?? 'sslight',
    status: 'waiting',
    backend: null,
    runDir: null,
    config: null,
    seed: null,
    startStep: 0,
    totalSteps: 0,
    stepsPerEpoch: 0,
    epoch: 0,
    startedAt: null,
    resumedFrom: null,
    messages: [],
    images: {},
  };
  const imageFiles = new Map<string, string>();
  const clients = new Set<http.ServerResponse>();
  let queued: Record<string, Array<[number, number]>> = {};
  let infoChanged = false;

  const progress = (): Record<string, unknown> => ({
    status: state.status,
    step: store.step,
    totalSteps: store.totalSteps || state.totalSteps,
    epoch: state.epoch,
    imagesPerS: nullIfNaN(store.median('images_per_s')),
    etaS: state.status === 'running' ? nullIfNaN(store.etaSeconds()) : null,
    elapsedS: state.startedAt ? (Date.now() - state.startedAt) / 1000 : null,
  });
  const series = (): Record<string, { group: string; points: Array<[number, number]> }> => {
    const out: Record<string, { group: string; points: Array<[number, number]> }> = {};
    for (const name of store.names()) {
      const b = store.get(name)!;
      out[name] = { group: b.group, points: b.history().map((p) => [p.step, p.value]) };
    }
    return out;
  };
  const groups = (): Record<string, string> => Object.fromEntries(store.names().map((n) => [n, store.get(n)!.group]));
  const snapshot = (): string => JSON.stringify({ info: state, progress: progress(), series: series() }, finite);

  const send = (event: string, data: string): void => {
    for (const res of clients) {
      // A browser that stopped reading is dropped rather than buffered without bound.
      if (res.writableLength > 4 * 2 ** 20) {
        clients.delete(res);
        res.destroy();
        continue;
      }
      res.write(`event: ${event}\ndata: ${data}\n\n`);
    }
  };

  const stopListening = store.onUpdate((_step, names) => {
    for (const n of names) {
      const p = store.get(n)?.latest();
      if (p) (queued[n] ??= []).push([p.step, p.value]);
    }
  });

  const sub: Subscription = events$.subscribe((e) => {
    switch (e.type) {
      case 'run:start':
        Object.assign(state, {
          status: 'running',
          backend: e.backend,
          runDir: e.runDir,
          config: e.config,
          seed: e.seed,
          startStep: e.startStep,
          totalSteps: e.totalSteps,
          stepsPerEpoch: e.stepsPerEpoch,
          startedAt: e.time,
          resumedFrom: e.resumedFrom,
        });
        infoChanged = true;
        break;
      case 'epoch:start':
        state.epoch = e.epoch;
        break;
      case 'step:end':
        state.epoch = e.epoch;
        break;
      case 'warning':
        pushMessage(state, e.time, `warning (step ${e.step}): ${e.message}`);
        infoChanged = true;
        break;
      case 'checkpoint:saved':
        pushMessage(state, e.time, `checkpoint at step ${e.step}: ${e.path}`);
        infoChanged = true;
        break;
      case 'image':
        imageFiles.set(e.tag, e.path);
        state.images[e.tag] = { step: e.step, width: e.width, height: e.height };
        infoChanged = true;
        break;
      case 'run:end':
        state.status = e.reason;
        infoChanged = true;
        flush();
        break;
      case 'run:error':
        state.status = 'failed';
        pushMessage(state, e.time, `failed at step ${e.step}: ${e.error}`);
        infoChanged = true;
        flush();
        break;
      default:
        break;
    }
  });

  function flush(): void {
    if (!clients.size) {
      // Nobody is watching: the store already holds the history a new browser will get.
      queued = {};
      infoChanged = false;
      return;
    }
    if (infoChanged) send('info', JSON.stringify(state, finite));
    send('update', JSON.stringify({ progress: progress(), points: queued, groups: groups() }, finite));
    queued = {};
    infoChanged = false;
  }
  const timer = setInterval(flush, opts.pushMs ?? 250);
  timer.unref();
  const heartbeat = setInterval(() => {
    for (const res of clients) res.write(': keep-alive\n\n');
  }, 15000);
  heartbeat.unref();

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    if (url.pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(DASHBOARD_PAGE);
    } else if (url.pathname === '/api/state') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(snapshot());
    } else if (url.pathname === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
      res.write(`retry: 2000\nevent: snapshot\ndata: ${snapshot()}\n\n`);
      clients.add(res);
      req.on('close', () => clients.delete(res));
    } else if (url.pathname.startsWith('/image/')) {
      const file = imageFiles.get(decodeURIComponent(url.pathname.slice('/image/'.length)));
      if (!file || !fs.existsSync(file)) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'no-store' });
      fs.createReadStream(file).pipe(res);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
  });
  server.keepAliveTimeout = 5000;
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? DEFAULT_DASHBOARD_PORT;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      clearInterval(timer);
      clearInterval(heartbeat);
      sub.unsubscribe();
      stopListening();
      const why = err.code === 'EADDRINUSE' ? 'is in use (pick another with --dashboard PORT, 0 for any free port)' : `cannot be opened: ${err.message}`;
      reject(new ConfigError('', `dashboard port ${host}:${port} ${why}`));
    });
    server.listen(port, host, () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  let closed = false;
  return {
    url: `http://${shownHost}:${actual}/`,
    port: actual,
    close: async () => {
      if (closed) return;
      closed = true;
      flush();
      send('end', '{}');
      clearInterval(timer);
      clearInterval(heartbeat);
      sub.unsubscribe();
      stopListening();
      for (const res of clients) res.end();
      clients.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * `--dashboard [PORT]` / `--dashboard-host HOST` as parsed by yargs (the flag is a string so it
 * may come without a value): undefined when the flag is absent, else the options.
 */
export function dashboardFlag(value: string | undefined, host: string | undefined): DashboardOptions | undefined {
  if (value === undefined) return undefined;
  const v = String(value).trim();
  const port = v === '' || v === 'true' ? DEFAULT_DASHBOARD_PORT : Number(v);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError('', `--dashboard expects a port number 0-65535 (or no value for ${DEFAULT_DASHBOARD_PORT}), got '${value}'`);
  }
  return { port, host: host ?? '127.0.0.1' };
}

/** yargs options for a command that offers the dashboard. */
export const DASHBOARD_YARGS_OPTIONS = {
  dashboard: {
    type: 'string',
    describe: `serve a live dashboard of the run on this port (default ${DEFAULT_DASHBOARD_PORT}; 0 = any free port)`,
  },
  'dashboard-host': {
    type: 'string',
    describe: 'interface the dashboard binds (default 127.0.0.1; 0.0.0.0 exposes it to the network)',
  },
} as const;

/**
 * The one call a command makes: starts the dashboard when `--dashboard` was given (and prints
 * its URL on stderr), else returns null.
 */
export async function dashboardFromArgs(
  events$: Observable<TrainerEvent>,
  args: { dashboard?: string; 'dashboard-host'?: string },
  title?: string,
): Promise<Dashboard | null> {
  const o = dashboardFlag(args.dashboard, args['dashboard-host']);
  if (!o) return null;
  const dash = await startDashboard(events$, { ...o, title });
  process.stderr.write(`sslight: dashboard at ${dash.url}\n`);
  return dash;
}

function pushMessage(state: RunState, time: number, text: string): void {
  state.messages.push({ time, text });
  if (state.messages.length > 50) state.messages.shift();
}

function nullIfNaN(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

/** JSON has no NaN/Infinity: a non-finite value becomes null (a gap in the curve). */
function finite(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? null : value;
}
