// The web map with a year of one device (50,000 points), in headless Chromium: time from
// navigation to the track drawn, the bytes transferred, the main thread's longest task and a
// zoom's redraw, with server-side thinning (max_points, as the page asks) and without it (the
// page's track request rewritten to drop max_points). A benchmark, not a test: it prints
// figures, and fails only when something does not work.
//
//   node tests/bench/bench_map.mjs [RUNS]
//
// Environment: WHERELOG_BIN and WL_FILL (default: the release build in build-release, as
// tests/bench/run uses), WHERELOG_WEB (default: web/), CHROMIUM (default: /usr/bin/chromium).
// Needs playwright-core: npm ci --prefix tests/browser.

import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const WHERELOG = process.env.WHERELOG_BIN || path.join(repo, 'build-release', 'wherelog');
const WL_FILL = process.env.WL_FILL || path.join(repo, 'build-release', 'tests', 'wl-fill');
const WEB = process.env.WHERELOG_WEB || path.join(repo, 'web');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const RUNS = Number(process.argv[2]) || 5;
const POINTS = 50000;
const START = 1704067200; // 2024-01-01T00:00:00Z
const STEP = 631; // 50,000 points over 365 days

const { chromium } = await import(pathToFileURL(
  path.join(repo, 'tests', 'browser', 'node_modules', 'playwright-core', 'index.mjs')).href)
  .catch(() => {
    console.error('playwright-core is missing: run npm ci --prefix tests/browser');
    process.exit(1);
  });

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'wherelog-bench-map-'));
let server;
process.on('exit', () => {
  if (server && server.exitCode === null) server.kill('SIGKILL');
  fs.rmSync(work, { recursive: true, force: true });
});

const port = await new Promise((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
const base = `http://127.0.0.1:${port}`;

// A store with the year, then the server in HTTP-only mode (no broker needed) and no tiles:
// what is measured is wherelog and the page, not a tile server.
const store = path.join(work, 'store');
execFileSync(WL_FILL, [store, 'bench', 'phone', String(POINTS), String(START), String(STEP)], { stdio: 'ignore' });
const log = fs.openSync(path.join(work, 'wherelog.log'), 'w');
server = spawn(WHERELOG, ['serve', '--storage', store, '--mqtt=false', '--http-port', String(port),
  '--docroot', WEB, '--tile-url', '', '--log-level', 'warn'], { stdio: ['ignore', log, log] });
for (let i = 0; ; i++) {
  try {
    if ((await fetch(`${base}/api/0/version`)).ok) break;
  } catch { /* not yet */ }
  if (i > 200) throw new Error(`wherelog did not start:\n${fs.readFileSync(path.join(work, 'wherelog.log'), 'utf8')}`);
  await new Promise((r) => setTimeout(r, 50));
}

const context = await chromium.launchPersistentContext(path.join(work, 'profile'), {
  executablePath: CHROMIUM,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  timezoneId: 'UTC',
  viewport: { width: 1280, height: 800 },
});

// In every page, before its scripts: the main thread's long tasks, and the moment the track
// is drawn (the summary gets data-drawn) after two frames, i.e. once painted.
await context.addInitScript(() => {
  window.__bench = { longest: 0, blocked: 0 };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      window.__bench.longest = Math.max(window.__bench.longest, e.duration);
      window.__bench.blocked += Math.max(0, e.duration - 50);
    }
  }).observe({ type: 'longtask', buffered: true });
  document.addEventListener('submit', () => { window.__bench.submit = performance.now(); }, true);
  document.addEventListener('DOMContentLoaded', () => {
    const summary = document.querySelector('#track-summary');
    new MutationObserver(() => {
      if (summary.dataset.drawn && !window.__bench.drawn) {
        requestAnimationFrame(() => requestAnimationFrame(() => {
          window.__bench.drawn = performance.now();
        }));
      }
      if (summary.dataset.inRange && !window.__bench.counted) window.__bench.counted = performance.now();
    }).observe(summary, { attributes: true });
  });
});

async function once(thinned) {
  const page = await context.newPage();
  let bytes = 0;
  let trackBytes = 0;
  page.on('requestfinished', async (req) => {
    const s = await req.sizes().catch(() => null);
    if (!s) return;
    const n = s.responseBodySize + s.responseHeadersSize;
    bytes += n;
    if (new URL(req.url()).pathname === '/api/0/locations') trackBytes += n;
  });
  // Both modes go through a route (which turns off the HTTP cache, so every run loads the
  // page and Leaflet alike); without thinning, the route drops max_points.
  await page.route('**/api/0/locations?*', (route) => {
    const u = new URL(route.request().url());
    if (!thinned) u.searchParams.delete('max_points');
    route.continue({ url: u.href });
  });
  await page.goto(`${base}/`);
  await page.waitForSelector('#h-device option[value="bench/phone"]', { state: 'attached' });
  await page.selectOption('#h-range', 'custom');
  await page.fill('#h-from', '2024-01-01');
  await page.fill('#h-to', '2024-12-31');
  await page.click('#history-form button[type=submit]');
  await page.waitForFunction(() => window.__bench.drawn && window.__bench.counted, null, { timeout: 120000 });
  // A zoom's redraw with the whole track on the map, as a person's next interaction: out by
  // one from the fitted view, so that every point is projected and drawn again.
  const zoom = await page.evaluate(() => new Promise((resolve) => {
    const { map } = window.wherelogMap;
    const t = performance.now();
    map.setZoom(map.getZoom() - 1, { animate: false });
    requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now() - t)));
  }));
  const b = await page.evaluate(() => window.__bench);
  const drawn = await page.evaluate(() => window.wherelogMap.history.track.drawn);
  await page.close();
  return { toDrawn: b.drawn, submitToDrawn: b.drawn - b.submit, counted: b.counted - b.submit,
    longest: b.longest, blocked: b.blocked, zoom, bytes, trackBytes, drawn };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x) => `${x.toFixed(0)} ms`.padStart(9);
const kb = (x) => `${(x / 1024).toFixed(0)} KiB`.padStart(10);

console.log(`web map, ${POINTS.toLocaleString('en')} points in one year, median of ${RUNS} runs`
  + ` (after one to warm up; no HTTP cache), wherelog ${WHERELOG}`);
console.log('mode        drawn  nav->drawn submit->drawn  longest task  blocked>50ms  zoom redraw   track bytes   all bytes');
for (const thinned of [true, false]) {
  await once(thinned); // warms up the server and the browser
  const runs = [];
  for (let i = 0; i < RUNS; i++) runs.push(await once(thinned));
  const m = (k) => median(runs.map((r) => r[k]));
  console.log(`${(thinned ? 'thinned' : 'full').padEnd(8)} ${String(m('drawn')).padStart(8)} ${ms(m('toDrawn'))}  ${ms(m('submitToDrawn'))}`
    + `     ${ms(m('longest'))}     ${ms(m('blocked'))}   ${ms(m('zoom'))}  ${kb(m('trackBytes'))}  ${kb(m('bytes'))}`);
}
await context.close();
server.kill('SIGTERM');
