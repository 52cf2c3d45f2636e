/**
 * The live analytics dashboard, served by the engine at
 * /v1/analytics/dashboard: one self-contained page (no framework, no
 * external asset) that opens /v1/analytics/ws and draws the per-second
 * rollups on canvases — throughput (submitted and delivered per second),
 * delivery rate and delivery latency (p50, p90), per SMSC and per country,
 * over the last two minutes. The page holds no data or secret: it asks for an
 * API key (tenant: own traffic; admin: all), taken from `#key=...` or typed
 * in, kept in sessionStorage only.
 *
 * Served with a Content-Security-Policy (DASHBOARD_CSP) that allows only
 * this page's own script and style block, by their SHA-256 hashes, and
 * WebSocket/fetch connections to its own origin: no other script, style,
 * image, frame or form target.
 *
 * Frames are increments per second (a late event can add a second frame for
 * a second already drawn), so the page adds counts per second and keeps the
 * latest percentiles.
 */
import { createHash } from 'node:crypto';

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Switchyard · live analytics</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  :root { color-scheme: light; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
  body { margin: 0; background: #f4f6f8; color: #1d2733; }
  header { display: flex; gap: 1rem; align-items: center; padding: .6rem 1rem; background: #1d2733; color: #fff; }
  header h1 { font-size: 1.05rem; margin: 0; font-weight: 600; }
  #status { font-size: .85rem; padding: .15rem .5rem; border-radius: .8rem; background: #6b7785; }
  #status.live { background: #1f9d55; } #status.down { background: #c0392b; }
  form { margin-left: auto; display: flex; gap: .4rem; } input { width: 16rem; }
  section { padding: .4rem 1rem 1rem; } h2 { font-size: .95rem; margin: .6rem 0 .3rem; }
  .row { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: .8rem; }
  figure { margin: 0; background: #fff; border-radius: .4rem; box-shadow: 0 1px 2px #0002; padding: .4rem .6rem; }
  figcaption { font-size: .8rem; color: #4a5563; display: flex; justify-content: space-between; }
  canvas { width: 100%; height: 180px; display: block; }
  .legend { font-size: .75rem; display: flex; flex-wrap: wrap; gap: .2rem .8rem; min-height: 1rem; }
  .legend span::before { content: ""; display: inline-block; width: .7rem; height: .7rem; margin-right: .25rem; border-radius: 2px; background: var(--c); vertical-align: -1px; }
</style></head>
<body data-frames="0" data-renders="0">
<header><h1>Switchyard · live analytics</h1><span id="status">connecting</span><span id="scope"></span>
<form id="keyform"><input id="key" type="password" placeholder="API key (tenant or admin)" autocomplete="off"><button>Connect</button></form></header>
<section id="smsc"><h2>By SMSC</h2><div class="row">
  <figure><figcaption><b>Throughput</b><span>msg/s submitted (solid), delivered (dashed)</span></figcaption><canvas data-chart="smsc-throughput"></canvas><div class="legend" data-legend="smsc"></div></figure>
  <figure><figcaption><b>Delivery rate</b><span>delivered / outcomes</span></figcaption><canvas data-chart="smsc-rate"></canvas></figure>
  <figure><figcaption><b>Delivery latency</b><span>ms p50 (solid), p90 (dashed)</span></figcaption><canvas data-chart="smsc-latency"></canvas></figure>
</div></section>
<section id="country"><h2>By country</h2><div class="row">
  <figure><figcaption><b>Throughput</b><span>msg/s submitted (solid), delivered (dashed)</span></figcaption><canvas data-chart="country-throughput"></canvas><div class="legend" data-legend="country"></div></figure>
  <figure><figcaption><b>Delivery rate</b><span>delivered / outcomes</span></figcaption><canvas data-chart="country-rate"></canvas></figure>
  <figure><figcaption><b>Delivery latency</b><span>ms p50 (solid), p90 (dashed)</span></figcaption><canvas data-chart="country-latency"></canvas></figure>
</div></section>
<script>
"use strict";
const WINDOW_S = 120;
const COLORS = ["#2f6fdb", "#e67e22", "#27ae60", "#8e44ad", "#c0392b", "#16a085", "#d35400", "#2c3e50", "#f1c40f", "#7f8c8d"];
// dim ("smsc" | "country") -> key -> second -> cell {submitted, delivered, undelivered, p50, p90}
const data = { smsc: new Map(), country: new Map() };
const colorOf = new Map();
let now = Date.now(), frames = 0, renders = 0, ws;
function color(k) { if (!colorOf.has(k)) colorOf.set(k, COLORS[colorOf.size % COLORS.length]); return colorOf.get(k); }
function add(dim, key, t, c) {
  let m = data[dim].get(key); if (!m) data[dim].set(key, m = new Map());
  const o = m.get(t) || { submitted: 0, delivered: 0, undelivered: 0, p50: null, p90: null };
  o.submitted += c.submitted; o.delivered += c.delivered; o.undelivered += c.undelivered;
  if (c.latencyMs && c.latencyMs.p50 !== null) { o.p50 = c.latencyMs.p50; o.p90 = c.latencyMs.p90; }
  m.set(t, o);
}
function prune() {
  const oldest = now - WINDOW_S * 1000;
  for (const dim of ["smsc", "country"]) for (const m of data[dim].values()) for (const t of m.keys()) if (t < oldest) m.delete(t);
}
function draw(canvas, series, opts) {
  const dpr = window.devicePixelRatio || 1, w = canvas.clientWidth, h = canvas.clientHeight;
  canvas.width = w * dpr; canvas.height = h * dpr;
  const g = canvas.getContext("2d"); g.scale(dpr, dpr); g.clearRect(0, 0, w, h);
  const L = 44, R = 6, T = 6, B = 18, x0 = now - WINDOW_S * 1000;
  let max = opts.max || 0;
  for (const s of series) for (const [, v] of s.points) if (v !== null && v > max) max = v;
  if (!opts.max) max = max <= 0 ? 1 : max * 1.15;
  const X = (t) => L + ((t - x0) / (WINDOW_S * 1000)) * (w - L - R), Y = (v) => T + (1 - v / max) * (h - T - B);
  g.strokeStyle = "#e3e7ec"; g.fillStyle = "#6b7785"; g.font = "10px system-ui, sans-serif"; g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) { const v = (max * i) / 4, y = Y(v); g.beginPath(); g.moveTo(L, y); g.lineTo(w - R, y); g.stroke(); g.fillText(opts.fmt(v), 2, y + 3); }
  for (let s = 0; s <= WINDOW_S; s += 30) g.fillText("-" + (WINDOW_S - s) + "s", X(x0 + s * 1000) - 10, h - 4);
  for (const s of series) {
    g.strokeStyle = s.color; g.lineWidth = 1.6; g.setLineDash(s.dash ? [4, 3] : []); g.beginPath();
    let pen = false;
    for (const [t, v] of s.points) { if (v === null) { pen = false; continue; } const x = X(t), y = Y(v); pen ? g.lineTo(x, y) : g.moveTo(x, y); pen = true; }
    g.stroke();
  }
  g.setLineDash([]);
}
function seriesOf(dim, pick, dash) {
  const out = [];
  for (const [key, m] of data[dim]) {
    const pts = [...m.entries()].sort((a, b) => a[0] - b[0]).map(([t, c]) => [t + 500, pick(c)]);
    out.push({ key, color: color(dim + ":" + key), points: pts, dash });
  }
  return out;
}
function render() {
  prune();
  document.body.dataset.renders = String(++renders);
  for (const dim of ["smsc", "country"]) {
    draw(document.querySelector('[data-chart="' + dim + '-throughput"]'), [...seriesOf(dim, (c) => c.submitted), ...seriesOf(dim, (c) => c.delivered, true)], { fmt: (v) => v.toFixed(v < 10 ? 1 : 0) });
    draw(document.querySelector('[data-chart="' + dim + '-rate"]'), seriesOf(dim, (c) => (c.delivered + c.undelivered > 0 ? c.delivered / (c.delivered + c.undelivered) : null)), { max: 1, fmt: (v) => (v * 100).toFixed(0) + "%" });
    draw(document.querySelector('[data-chart="' + dim + '-latency"]'), [...seriesOf(dim, (c) => c.p50), ...seriesOf(dim, (c) => c.p90, true)], { fmt: (v) => v.toFixed(0) });
    const legend = document.querySelector('[data-legend="' + dim + '"]');
    legend.innerHTML = "";
    for (const key of [...data[dim].keys()].sort()) { const s = document.createElement("span"); s.style.setProperty("--c", color(dim + ":" + key)); s.textContent = key; legend.appendChild(s); }
  }
}
function setStatus(text, cls) { const el = document.getElementById("status"); el.textContent = text; el.className = cls || ""; }
let refusals = 0;
function connect(key) {
  if (ws) ws.close();
  const base = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/v1/analytics/ws";
  // The key goes as a subprotocol, not in the URL (URLs end up in logs); a key that is not a valid token falls back to ?key=.
  // The server answers "switchyard.v1" (offered here too) and never echoes the key.
  try { ws = new WebSocket(base, ["switchyard.v1", "switchyard.key." + key]); } catch { ws = new WebSocket(base + "?key=" + encodeURIComponent(key)); }
  let opened = false;
  ws.onopen = () => { opened = true; refusals = 0; setStatus("live", "live"); };
  ws.onclose = () => {
    // Closed before it ever opened, three times running: the key is refused; do not knock forever.
    if (!opened && ++refusals >= 3) { setStatus("refused: check the key", "down"); sessionStorage.removeItem("sy-key"); return; }
    setStatus("disconnected", "down");
    setTimeout(() => { if (ws && ws.readyState === WebSocket.CLOSED) connect(key); }, 2000);
  };
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    if (m.op === "hello") { document.getElementById("scope").textContent = m.scope === "*" ? "all tenants" : "tenant " + m.scope; return; }
    if (m.op === "tick") { now = Math.max(now, m.t); return; }
    if (m.op !== "rollup") return;
    for (const [k, c] of Object.entries(m.smsc)) add("smsc", k, m.t, c);
    for (const [k, c] of Object.entries(m.country)) add("country", k, m.t, c);
    now = Math.max(now, m.t + 1000);
    document.body.dataset.frames = String(++frames);
  };
}
document.getElementById("keyform").addEventListener("submit", (e) => {
  e.preventDefault(); const k = document.getElementById("key").value.trim(); if (!k) return;
  sessionStorage.setItem("sy-key", k); connect(k);
});
const fromHash = new URLSearchParams(location.hash.slice(1)).get("key");
if (fromHash) { sessionStorage.setItem("sy-key", fromHash); history.replaceState(null, "", location.pathname); }
const saved = sessionStorage.getItem("sy-key");
if (saved) connect(saved); else setStatus("enter a key", "");
setInterval(() => { now = Math.max(now, Date.now() - 1500); render(); }, 1000);
render();
</script></body></html>
`;

/** CSP source of an inline block: 'sha256-…' of its exact text. */
function hashOf(tag: 'script' | 'style'): string {
  const m = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(DASHBOARD_HTML);
  if (m === null) throw new Error(`dashboard page has no <${tag}> block`);
  return `'sha256-${createHash('sha256').update(m[1] as string, 'utf8').digest('base64')}'`;
}

/**
 * The page's Content-Security-Policy. `connect-src 'self'` covers the
 * WebSocket to /v1/analytics/ws (CSP 3: 'self' matches ws:/wss: of the same
 * host). Style set from script through the CSSOM (the legend colours) is not
 * inline style and needs no allowance.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  `script-src ${hashOf('script')}`,
  `style-src ${hashOf('style')}`,
  "connect-src 'self'",
  "img-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');
