/**
 * The dashboard page: one self-contained HTML file (no external scripts, works offline). It
 * reads `/events` (server-sent events): a `snapshot` with the run info and every series, then
 * `update`s with new points and progress, and draws one small SVG chart per scalar.
 */
export const DASHBOARD_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sslight dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body{font:14px system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
 header{background:#1d2330;color:#fff;padding:10px 16px;display:flex;gap:16px;align-items:baseline;flex-wrap:wrap}
 header h1{font-size:18px;margin:0}
 .badge{padding:2px 8px;border-radius:10px;background:#55606e;font-size:12px}
 .badge.running{background:#2f7d32}.badge.failed{background:#b3261e}.badge.interrupted{background:#a86b00}
 main{padding:12px 16px}
 .progress{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:10px 12px;margin-bottom:12px}
 .bar{height:10px;background:#e4e7eb;border-radius:5px;overflow:hidden;margin:6px 0}
 .bar>div{height:100%;background:#3b6fd8;width:0}
 .stats span{margin-right:18px}.stats b{font-variant-numeric:tabular-nums}
 #charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:10px}
 .panel{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:6px 8px}
 .panel h3{font-size:13px;margin:0 0 2px;display:flex;justify-content:space-between}
 .panel h3 small{color:#55606e;font-weight:normal}
 svg text{font-size:10px;fill:#55606e}
 .line{fill:none;stroke:#3b6fd8;stroke-width:1.5}
 .grid{stroke:#eceef1}
 details{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:6px 10px;margin-top:12px}
 pre{font-size:12px;overflow:auto;max-height:400px}
 #images img{image-rendering:pixelated;max-width:100%;border:1px solid #dde1e6}
 #messages div{font-size:12px;color:#7a4d00}
</style></head>
<body>
<header><h1 id="title">sslight</h1><span id="status" class="badge">waiting</span>
<span>backend <b id="backend">?</b></span><span id="rundir"></span></header>
<main>
<section class="progress">
 <div class="stats"><span>step <b id="step">0 / ?</b></span><span>epoch <b id="epoch">0</b></span>
 <span><b id="rate">?</b> img/s</span><span>ETA <b id="eta">?</b></span><span>elapsed <b id="elapsed">?</b></span></div>
 <div class="bar"><div id="bar"></div></div>
 <div id="messages"></div>
</section>
<section id="charts"></section>
<section id="images"></section>
<details><summary>resolved config</summary><pre id="config"></pre></details>
</main>
<script>
'use strict';
const ORDER = ['loss', 'eval', 'hyper', 'perf', 'train', 'memory', 'epoch'];
const S = { series: {}, info: null, progress: null };
let dirty = false;
const $ = (id) => document.getElementById(id);
function fmtDur(s) {
  if (s == null || !isFinite(s) || s < 0) return '?';
  s = Math.round(s); const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), x = s % 60;
  return h ? h + 'h' + String(m).padStart(2, '0') + 'm' : m ? m + 'm' + String(x).padStart(2, '0') + 's' : x + 's';
}
function fmtNum(v) {
  if (v == null) return '?';
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(2) : (+v.toPrecision(4)).toString();
}
/** Axis label with enough digits to tell ticks apart on a narrow range. */
function fmtTick(v, range) {
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(2);
  const dec = Math.max(0, Math.min(8, Math.ceil(-Math.log10(range || 1)) + 1));
  return v.toFixed(dec);
}
function setInfo(info) {
  S.info = info;
  $('title').textContent = info.title;
  document.title = info.title + ' - sslight';
  $('status').textContent = info.status;
  $('status').className = 'badge ' + info.status;
  $('backend').textContent = info.backend || '?';
  $('rundir').textContent = info.runDir || '';
  $('config').textContent = JSON.stringify(info.config, null, 2);
  $('messages').innerHTML = '';
  for (const m of info.messages.slice(-5)) {
    const d = document.createElement('div'); d.textContent = m.text; $('messages').appendChild(d);
  }
  const imgs = $('images'); imgs.innerHTML = '';
  for (const [tag, im] of Object.entries(info.images)) {
    const fig = document.createElement('figure');
    const img = document.createElement('img'); img.src = '/image/' + encodeURIComponent(tag) + '?step=' + im.step;
    img.width = Math.min(im.width * 2, 900);
    const cap = document.createElement('figcaption'); cap.textContent = tag + ' (step ' + im.step + ')';
    fig.appendChild(img); fig.appendChild(cap); imgs.appendChild(fig);
  }
}
function setProgress(p) {
  S.progress = p;
  $('step').textContent = p.step + ' / ' + p.totalSteps;
  $('epoch').textContent = p.epoch;
  $('rate').textContent = p.imagesPerS == null ? '?' : p.imagesPerS.toFixed(1);
  $('eta').textContent = fmtDur(p.etaS);
  $('elapsed').textContent = fmtDur(p.elapsedS);
  $('bar').style.width = (p.totalSteps ? Math.min(100, (100 * p.step) / p.totalSteps) : 0) + '%';
  if (S.info && p.status !== S.info.status) { $('status').textContent = p.status; $('status').className = 'badge ' + p.status; }
}
function panelFor(name, group) {
  let el = document.querySelector('.panel[data-metric="' + CSS.escape(name) + '"]');
  if (el) return el;
  el = document.createElement('div'); el.className = 'panel'; el.dataset.metric = name; el.dataset.group = group;
  el.innerHTML = '<h3><span></span><small></small></h3><svg width="100%" viewBox="0 0 310 150"></svg>';
  el.querySelector('h3 span').textContent = name;
  const charts = $('charts');
  const rank = (g, n) => ORDER.indexOf(g) * 1000 + (n === 'loss' ? 0 : 1);
  const after = [...charts.children].find((c) => {
    const a = rank(c.dataset.group, c.dataset.metric), b = rank(group, name);
    return a > b || (a === b && c.dataset.metric > name);
  });
  charts.insertBefore(el, after || null);
  return el;
}
function draw(name) {
  const s = S.series[name];
  const el = panelFor(name, s.group);
  const pts = s.points.filter((p) => p[1] != null && isFinite(p[1]));
  const W = 310, H = 150, L = 46, R = 6, T = 6, B = 18;
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const [x, y] of pts) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  if (!pts.length) { x0 = 0; x1 = 1; y0 = 0; y1 = 1; }
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) { const d = Math.abs(y0) * 0.05 || 1; y0 -= d; y1 += d; }
  const sx = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R), sy = (y) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  let d = '';
  pts.forEach(([x, y], i) => { d += (i ? 'L' : 'M') + sx(x).toFixed(1) + ' ' + sy(y).toFixed(1); });
  const grid = [0, 0.5, 1].map((f) => {
    const y = y0 + f * (y1 - y0), py = sy(y).toFixed(1);
    return '<line class="grid" x1="' + L + '" x2="' + (W - R) + '" y1="' + py + '" y2="' + py + '"/>' +
      '<text x="' + (L - 4) + '" y="' + py + '" text-anchor="end" dominant-baseline="middle">' + fmtTick(y, y1 - y0) + '</text>';
  }).join('');
  const xl = '<text x="' + L + '" y="' + (H - 4) + '">' + x0 + '</text><text x="' + (W - R) + '" y="' + (H - 4) + '" text-anchor="end">step ' + x1 + '</text>';
  const last = pts[pts.length - 1];
  const dot = last ? '<circle r="2.5" fill="#3b6fd8" cx="' + sx(last[0]).toFixed(1) + '" cy="' + sy(last[1]).toFixed(1) + '"/>' : '';
  el.querySelector('svg').innerHTML = grid + xl + '<path class="line" data-points="' + pts.length + '" d="' + d + '"/>' + dot;
  el.querySelector('h3 small').textContent = last ? fmtNum(last[1]) + ' @ ' + last[0] : '';
}
function render() {
  dirty = false;
  for (const name of Object.keys(S.series)) if (S.series[name].changed) { S.series[name].changed = false; draw(name); }
}
function schedule() { if (!dirty) { dirty = true; requestAnimationFrame(render); } }
const es = new EventSource('/events');
es.addEventListener('snapshot', (m) => {
  const d = JSON.parse(m.data);
  S.series = {};
  $('charts').innerHTML = '';
  for (const [k, v] of Object.entries(d.series)) S.series[k] = { group: v.group, points: v.points, changed: true };
  setInfo(d.info); setProgress(d.progress); schedule();
});
es.addEventListener('info', (m) => setInfo(JSON.parse(m.data)));
es.addEventListener('update', (m) => {
  const d = JSON.parse(m.data);
  for (const [k, pts] of Object.entries(d.points)) {
    const s = S.series[k] || (S.series[k] = { group: d.groups[k] || 'train', points: [] });
    for (const p of pts) s.points.push(p);
    if (s.points.length > 5000) s.points = s.points.filter((_, i) => i % 2 === 0 || i === s.points.length - 1);
    s.changed = true;
  }
  setProgress(d.progress); schedule();
});
// The server closes when its run ends; EventSource then keeps retrying, so a page left open follows
// the next run served on the same port (the next cell of an experiment grid) from its snapshot.
es.addEventListener('end', () => { $('status').textContent += ' (server closed)'; });
</script>
</body></html>
`;
