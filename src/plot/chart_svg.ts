import type { RunSeries } from './run_series';

export interface ChartOptions {
  /** Figure title (default none). */
  title?: string;
  /** Panels per row (default up to 3). */
  columns?: number;
  panelWidth?: number;
  panelHeight?: number;
  /** TensorBoard-style EMA weight for per-step curves, 0 = raw only (default 0.6). */
  smooth?: number;
  /** At most this many points per drawn line (longer series are evenly thinned). */
  maxPoints?: number;
}

/** Matplotlib's tab10: distinct, readable on white. */
export const RUN_COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

/** Schedules and counters: exact values, smoothing would only shift them. */
const UNSMOOTHED = new Set(['lr', 'wd', 'momentum', 'teacher_temp', 'num_tensors', 'wasm_heap_mb', 'skipped', 'prototypes_frozen', 'queue_used']);

const FONT = "DejaVu Sans, Helvetica, Arial, sans-serif";

/**
 * The curves of several runs as one SVG: a legend naming each run in its colour, then one
 * panel per metric with every run that has it overlaid (per-step metrics faint raw plus a
 * smoothed line; evaluation metrics as marked points), nice-number axes and grid lines.
 */
export function renderChartSvg(runs: RunSeries[], metrics: string[], opts: ChartOptions = {}): string {
  const pw = opts.panelWidth ?? 420;
  const ph = opts.panelHeight ?? 250;
  const cols = Math.max(1, Math.min(opts.columns ?? 3, metrics.length));
  const rows = Math.ceil(metrics.length / cols);
  const titleH = opts.title ? 26 : 0;
  const legendH = 26;
  const W = cols * pw;
  const H = titleH + legendH + rows * ph;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="${FONT}">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
  );
  if (opts.title) out.push(`<text x="${W / 2}" y="19" font-size="16" font-weight="bold" text-anchor="middle" fill="#222">${esc(opts.title)}</text>`);
  // Legend: one swatch and label per run.
  let lx = 12;
  out.push(`<g class="legend" transform="translate(0,${titleH})">`);
  runs.forEach((r, i) => {
    const c = RUN_COLORS[i % RUN_COLORS.length];
    out.push(
      `<line x1="${lx}" x2="${lx + 22}" y1="13" y2="13" stroke="${c}" stroke-width="3"/>`,
      `<text class="run-label" data-run="${esc(r.label)}" x="${lx + 28}" y="17" font-size="13" fill="#222">${esc(r.label)}</text>`,
    );
    lx += 40 + r.label.length * 7.5;
  });
  out.push('</g>');
  metrics.forEach((m, k) => {
    const x0 = (k % cols) * pw;
    const y0 = titleH + legendH + Math.floor(k / cols) * ph;
    out.push(panel(runs, m, x0, y0, pw, ph, opts));
  });
  out.push('</svg>');
  return out.join('\n');
}

function panel(runs: RunSeries[], metric: string, X: number, Y: number, w: number, h: number, opts: ChartOptions): string {
  const L = 62;
  const R = 14;
  const T = 26;
  const B = 34;
  const iw = w - L - R;
  const ih = h - T - B;
  let xmin = Infinity;
  let xmax = -Infinity;
  let ymin = Infinity;
  let ymax = -Infinity;
  for (const r of runs) {
    for (const [x, y] of r.series.get(metric)?.points ?? []) {
      if (!Number.isFinite(y)) continue;
      xmin = Math.min(xmin, x);
      xmax = Math.max(xmax, x);
      ymin = Math.min(ymin, y);
      ymax = Math.max(ymax, y);
    }
  }
  const parts: string[] = [`<g class="panel" data-metric="${esc(metric)}" transform="translate(${X},${Y})">`];
  parts.push(`<text x="${L + iw / 2}" y="17" font-size="14" font-weight="bold" text-anchor="middle" fill="#222">${esc(metric)}</text>`);
  parts.push(`<rect x="${L}" y="${T}" width="${iw}" height="${ih}" fill="none" stroke="#bbb"/>`);
  if (!Number.isFinite(xmin)) {
    parts.push(`<text x="${L + iw / 2}" y="${T + ih / 2}" font-size="12" text-anchor="middle" fill="#888">no data</text></g>`);
    return parts.join('\n');
  }
  if (xmax === xmin) {
    xmin -= 1;
    xmax += 1;
  }
  if (ymax === ymin) {
    const d = Math.abs(ymin) * 0.05 || 1;
    ymin -= d;
    ymax += d;
  }
  const pad = (ymax - ymin) * 0.05;
  const yt = niceTicks(ymin - pad, ymax + pad, 5);
  const xt = niceTicks(xmin, xmax, 5);
  const ylo = ymin - pad;
  const yhi = ymax + pad;
  const sx = (x: number): number => L + ((x - xmin) / (xmax - xmin)) * iw;
  const sy = (y: number): number => T + (1 - (y - ylo) / (yhi - ylo)) * ih;
  const ydec = decimals(yt);
  for (const t of yt) {
    if (t < ylo || t > yhi) continue;
    const py = sy(t).toFixed(1);
    parts.push(`<line x1="${L}" x2="${L + iw}" y1="${py}" y2="${py}" stroke="#e6e6e6"/>`);
    parts.push(`<text x="${L - 5}" y="${py}" font-size="11" text-anchor="end" dominant-baseline="middle" fill="#444">${fmtTick(t, ydec)}</text>`);
  }
  for (const t of xt) {
    if (t < xmin || t > xmax) continue;
    const px = sx(t).toFixed(1);
    parts.push(`<line x1="${px}" x2="${px}" y1="${T}" y2="${T + ih}" stroke="#f0f0f0"/>`);
    parts.push(`<text x="${px}" y="${T + ih + 14}" font-size="11" text-anchor="middle" fill="#444">${fmtTick(t, decimals(xt))}</text>`);
  }
  parts.push(`<text x="${L + iw / 2}" y="${h - 4}" font-size="11" text-anchor="middle" fill="#666">step</text>`);
  const smooth = opts.smooth ?? 0.6;
  const maxPts = opts.maxPoints ?? 2000;
  runs.forEach((r, i) => {
    const s = r.series.get(metric);
    if (!s) return;
    const c = RUN_COLORS[i % RUN_COLORS.length];
    const pts = s.points.filter(([, y]) => Number.isFinite(y));
    const line = (p: Array<[number, number]>, cls: string, style: string): string =>
      `<polyline class="series ${cls}" data-run="${esc(r.label)}" data-points="${p.length}" fill="none" stroke="${c}" ${style} ` +
      `points="${thin(p, maxPts).map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ')}"/>`;
    if (s.kind === 'eval') {
      parts.push(line(pts, 'raw', 'stroke-width="2"'));
      for (const [x, y] of pts) parts.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3.5" fill="${c}"/>`);
    } else if (smooth > 0 && pts.length > 2 && !UNSMOOTHED.has(metric)) {
      parts.push(line(pts, 'raw', 'stroke-width="1" stroke-opacity="0.25"'));
      parts.push(line(ema(pts, smooth), 'smoothed', 'stroke-width="2"'));
    } else {
      parts.push(line(pts, 'raw', 'stroke-width="1.6"'));
    }
  });
  parts.push('</g>');
  return parts.join('\n');
}

/** TensorBoard's smoothing: EMA with its start-up bias removed. */
export function ema(points: Array<[number, number]>, weight: number): Array<[number, number]> {
  let last = 0;
  let debias = 1;
  return points.map(([x, y]) => {
    last = last * weight + (1 - weight) * y;
    debias *= weight;
    return [x, last / (1 - debias)];
  });
}

/** Round tick values (1, 2, 5 x 10^k) covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, n: number): number[] {
  const span = hi - lo;
  const raw = span / Math.max(1, n);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((f) => f * mag).find((s) => s >= raw * (1 - 1e-9)) ?? 10 * mag;
  const out: number[] = [];
  for (let t = Math.floor(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Number(t.toPrecision(12)));
  return out;
}

function decimals(ticks: number[]): number {
  if (ticks.length < 2) return 2;
  const step = Math.abs(ticks[1] - ticks[0]);
  return Math.max(0, Math.min(10, -Math.floor(Math.log10(step) + 1e-9)));
}

function fmtTick(v: number, dec: number): string {
  if (v === 0) return '0';
  if (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e6) return v.toExponential(1);
  return v.toFixed(dec);
}

function thin(p: Array<[number, number]>, max: number): Array<[number, number]> {
  if (p.length <= max) return p;
  const out: Array<[number, number]> = [];
  for (let i = 0; i < max; i++) out.push(p[Math.round((i * (p.length - 1)) / (max - 1))]);
  return out;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
