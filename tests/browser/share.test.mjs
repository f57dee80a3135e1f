// Browser test of a share link's page (web/share.html, share.js) and the map's Share section
// (web/sharing.js), in Debian's headless Chromium driven by playwright-core, against a real
// mosquitto and a real `wherelog serve` on free loopback ports and a temporary store.
//
// Environment: as map.test.mjs (tests/browser/meson.build sets it).
//
// The page's test hook (see web/share.js): #share-state carries data-state, #map data-lines
// and data-points; the live marker's element data-lat and data-lon. The checks wait for what
// a person would see and never time anything.

import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');

let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch {
  console.error('playwright-core is missing: run npm ci --prefix tests/browser');
  process.exit(1);
}

function need(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`${name} is not set (meson test sets it; see tests/browser/meson.build)`);
    process.exit(1);
  }
  return v;
}
const WHERELOG = need('WHERELOG_BIN');
const WL_PUB = need('WL_PUB');
const WEB = process.env.WHERELOG_WEB || path.join(repo, 'web');
const SHOTS = path.resolve(process.env.WHERELOG_SCREENSHOTS || 'screenshots');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const MOSQUITTO = process.env.MOSQUITTO || 'mosquitto';
if (!fs.existsSync(CHROMIUM)) {
  console.error(`${CHROMIUM} not found: install Debian's chromium (apt-get install chromium) or set CHROMIUM`);
  process.exit(1);
}
const DEADLINE_MS = 110 * 1000; // the whole run; meson's timeout is a last resort
const WAIT_MS = 15 * 1000; // any one wait for the page

// ------------------------------------------------------------------ processes

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'wherelog-browser-'));
const store = path.join(work, 'store');
const children = new Set();
let context = null;
let failedAny = false;

function cleanup() {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (!failedAny) fs.rmSync(work, { recursive: true, force: true });
}
process.on('exit', cleanup);
// Whatever fails outside a check (the broker or wherelog not starting) ends the run.
process.on('uncaughtException', (e) => {
  failedAny = true;
  console.error(`FAIL  ${e.message}\n# logs kept in ${work}`);
  process.exit(1);
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    console.error(`stopped by ${sig}`);
    process.exit(1);
  });
}
const watchdog = setTimeout(() => {
  console.error(`FAIL the run took more than ${DEADLINE_MS / 1000} s; logs in ${work}`);
  failedAny = true;
  process.exit(1);
}, DEADLINE_MS);
watchdog.unref();

function start(cmd, args, logName) {
  const log = fs.openSync(path.join(work, logName), 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  children.add(child);
  child.on('exit', () => children.delete(child));
  child.on('error', (e) => console.error(`cannot run ${cmd}: ${e.message}`));
  return child;
}

function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', resolve);
    child.kill('SIGTERM');
  });
}

function run(cmd, args, input) {
  return new Promise((resolve, reject) => {
    const p = execFile(cmd, args, { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(cmd)} ${args.join(' ')} failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
    if (input != null) p.stdin.end(input);
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, fn, timeout = WAIT_MS) {
  const end = Date.now() + timeout;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch { /* not yet */ }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function canConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

async function startBroker() {
  const port = await freePort();
  const conf = path.join(work, 'mosquitto.conf');
  fs.writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  start(MOSQUITTO, ['-c', conf], 'mosquitto.log');
  await until('mosquitto to listen', () => canConnect(port));
  return port;
}

/** wherelog on the store, answering HTTP and subscribed to the broker (it logs "subscribed to"). */
async function startServer(httpPort, tileUrl) {
  const log = () => fs.readFileSync(path.join(work, 'wherelog.log'), 'utf8');
  const subscriptions = () => (fs.existsSync(path.join(work, 'wherelog.log')) ? log().split('subscribed to').length : 1);
  const before = subscriptions();
  const proc = start(WHERELOG, ['serve', '--storage', store, '--mqtt-host', '127.0.0.1',
    '--mqtt-port', String(brokerPort), '--http-port', String(httpPort), '--docroot', WEB,
    '--tile-url', tileUrl, '--log-level', 'info'], 'wherelog.log');
  await until('wherelog to answer /api/0/version', async () =>
    proc.exitCode !== null || (await fetch(`http://127.0.0.1:${httpPort}/api/0/version`)).ok)
    .catch((e) => fail(`${e.message}:\n${log().slice(-2000)}`));
  if (proc.exitCode !== null) fail(`wherelog exited (${proc.exitCode}):\n${log().slice(-2000)}`);
  await until('wherelog to subscribe', () => subscriptions() > before);
  return proc;
}

// ------------------------------------------------------------------ data

/** Publishes OwnTracks messages ({topic, payload object}) through the broker, in order. */
async function publish(messages) {
  const lines = messages.map((m) => JSON.stringify({ topic: m.topic, payload: JSON.stringify(m.payload) }));
  const out = JSON.parse(await run(WL_PUB, ['--port', String(brokerPort), '--qos', '1'], lines.join('\n') + '\n'));
  if (out.published !== messages.length) throw new Error(`wl-pub published ${out.published} of ${messages.length}`);
}

const loc = (user, device, fields) => ({
  topic: `owntracks/${user}/${device}`, payload: { _type: 'location', ...fields },
});
// ------------------------------------------------------------------ checks

const results = [];
function fail(msg) {
  throw new Error(msg);
}
function assertEqual(actual, expected, what) {
  if (actual !== expected) fail(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}
/** Runs one named check; a failure is reported (with a screenshot of the page) and the run goes on. */
async function check(name, fn) {
  try {
    await fn();
    results.push(true);
    console.log(`ok    ${name}`);
  } catch (e) {
    results.push(false);
    failedAny = true;
    console.log(`FAIL  ${name}\n      ${String(e.message).split('\n').join('\n      ')}`);
    for (const [i, p] of context.pages().entries()) {
      await p.screenshot({ path: path.join(SHOTS, `FAILED-${results.length}-${i}.png`) }).catch(() => {});
    }
  }
}

/** Waits in the page; on time-out the message says what was awaited. */
async function waitIn(page, what, fn, arg) {
  try {
    await page.waitForFunction(fn, arg, { timeout: WAIT_MS, polling: 50 });
  } catch (e) {
    fail(`timed out waiting for ${what}${e.message.includes('Timeout') ? '' : `: ${e.message}`}`);
  }
}

/** A screenshot once the map is still: no zoom animation (Leaflet's flag), popups faded in. */
async function shot(page, name) {
  await page.waitForFunction(() => !window.wherelogMap?.map._animatingZoom
    && [...document.querySelectorAll('.leaflet-popup')].every((p) => getComputedStyle(p).opacity === '1'),
  null, { timeout: WAIT_MS, polling: 50 }).catch(() => {});
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
}

/** Console errors, shortened and counted: "text (url) ×N" per distinct error. */
function describe(errors) {
  const counts = new Map();
  for (const e of errors) {
    const line = `${e.text.length > 200 ? `${e.text.slice(0, 200)}…` : e.text}${e.url ? ` (${e.url})` : ''}`;
    counts.set(line, (counts.get(line) || 0) + 1);
  }
  return [...counts].map(([line, n]) => (n > 1 ? `${line} ×${n}` : line)).join('\n');
}

/** Console errors and page errors of a page, with the URL they concern. */
function watchConsole(page) {
  const errors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push({ text: m.text(), url: m.location()?.url || '' });
  });
  page.on('pageerror', (e) => errors.push({ text: `uncaught: ${e.message}`, url: '' }));
  page.on('dialog', (d) => {
    errors.push({ text: `a dialog opened: ${d.message()}`, url: '' });
    d.dismiss().catch(() => {});
  });
  return errors;
}

/**
 * A page whose documents come with the Content-Security-Policy the server may send one day, so
 * that anything inline (script, handler, style) would show up as a console error.
 */
async function newPage(tileOrigin, viewport = { width: 1280, height: 800 }) {
  const p = await context.newPage();
  await p.setViewportSize(viewport);
  const csp = `default-src 'self'; img-src 'self' data:${tileOrigin ? ` ${tileOrigin}` : ''}`;
  await p.route((url) => url.pathname === '/' || url.pathname.endsWith('.html'), async (route) => {
    const response = await route.fetch();
    await route.fulfill({ response, headers: { ...response.headers(), 'content-security-policy': csp } });
  });
  return p;
}


// ------------------------------------------------------------------ the run

const DAY = 1700000000; // a fixed day: a range share shows exactly its fixes
const walk = Array.from({ length: 20 }, (_, i) => ({ tst: DAY + 60 * i, lat: 48.8 + 0.001 * i, lon: 2.3 }));

/** `wherelog share ...` on the store; returns stdout. */
const share = (...args) => run(WHERELOG, ['share', ...args, '--storage', store]);
const secretOf = (link) => link.trim().split('/s/')[1];

fs.mkdirSync(SHOTS, { recursive: true });
const brokerPort = await startBroker();
const httpPort = await freePort();
await startServer(httpPort, '');
const base = `http://127.0.0.1:${httpPort}`;
const now = Math.floor(Date.now() / 1000);
await publish([
  ...walk.map((p) => loc('alice', 'phone', p)),
  loc('alice', 'phone', { tst: DAY - 3600, lat: 10, lon: 10 }), // before the range
  loc('alice', 'tablet', { tst: DAY + 30, lat: 20, lon: 20 }),
  loc('bob', 'phone', { tst: DAY + 90, lat: 30, lon: 30 }),
  loc('carol', 'phone', { tst: now - 60, lat: 51.5, lon: -0.1 }),
]);
await until('the points to be stored', async () =>
  (await (await fetch(`${base}/api/0/last?user=carol`)).json()).length === 1);

context = await chromium.launchPersistentContext(path.join(work, 'chromium-profile'), {
  executablePath: CHROMIUM,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  locale: 'en-GB',
  viewport: { width: 1280, height: 800 },
});
for (const blank of context.pages()) await blank.close();
context.setDefaultTimeout(WAIT_MS);
console.log(`# wherelog ${base}, broker ${brokerPort}, work ${work}`);

await check("a range link shows that device's track over that range and nothing else", async () => {
  const secret = secretOf(await share('create', '--user', 'alice', '--device', 'phone', '--from',
    new Date(DAY * 1000).toISOString(), '--to', new Date((DAY + 19 * 60) * 1000).toISOString(),
    '--expires', '1h', '--label', 'Walk'));
  const p = await newPage('');
  const errors = watchConsole(p);
  const asked = [];
  p.on('request', (r) => asked.push(new URL(r.url()).pathname));
  await p.goto(`${base}/s/${secret}`);
  await waitIn(p, 'the track', () => document.querySelector('#map').dataset.points !== undefined);
  assertEqual(await p.$eval('#map', (m) => m.dataset.points), String(walk.length), 'fixes drawn');
  assertEqual(await p.$eval('#map', (m) => m.dataset.lines), '1', 'lines drawn');
  assertEqual(await p.textContent('#share-title'), 'Walk', 'the title is the label');
  assertEqual(await p.$$eval('#devices, #history-form, .pin, #shares', (n) => n.length), 0,
    'no device list, history, markers or share list');
  const body = await p.textContent('body');
  for (const other of ['alice', 'bob', 'tablet']) {
    if (body.includes(other)) fail(`the page names ${other}`);
  }
  const api = asked.filter((u) => u.startsWith('/api/'));
  if (!api.length || api.some((u) => !u.startsWith(`/api/0/shared/${secret}`))) {
    fail(`the page asked the API for more than its share: ${api.join(', ')}`);
  }
  const bounds = await p.evaluate(() => window.wherelogShare.map.getBounds().toBBoxString());
  const [w, s, e, n] = bounds.split(',').map(Number);
  if (!(s <= 48.8 && n >= 48.819 && w <= 2.3 && e >= 2.3)) fail(`not fitted to the walk: ${bounds}`);
  if (s < 40 || n > 50) fail(`the view takes in other points: ${bounds}`);
  await p.screenshot({ path: path.join(SHOTS, 'share-range.png') });
  if (errors.length) fail(`console errors:\n${describe(errors)}`);
  await p.close();
});

await check('a live link moves with new fixes and says so when it is revoked', async () => {
  const secret = secretOf(await share('create', '--user', 'carol', '--device', 'phone', '--live',
    '--expires', '2h'));
  const p = await newPage('');
  await p.goto(`${base}/s/${secret}`);
  await waitIn(p, 'the live marker', () => document.querySelector('path.leaflet-interactive[data-lat]'));
  assertEqual(await p.$eval('path[data-lat]', (m) => m.dataset.lat), '51.5', 'the live position');
  // The stream is open once the page has its EventSource; a new fix then moves the marker.
  await until('the stream to be registered', async () => /wherelog_live_clients [1-9]/.test(
    await (await fetch(`${base}/metrics`)).text()));
  await publish([loc('carol', 'phone', { tst: Math.floor(Date.now() / 1000), lat: 51.6, lon: -0.1 })]);
  await waitIn(p, 'the marker to move', () => document.querySelector('path[data-lat]')?.dataset.lat === '51.6');
  const id = (await share('list', '--user', 'carol')).split('\n')[1].split('\t')[1];
  await share('revoke', '--user', 'carol', '--id', id);
  // The stream notices at its next wake-up: a new fix of any device.
  await publish([loc('bob', 'phone', { tst: Math.floor(Date.now() / 1000), lat: 30, lon: 30 })]);
  await waitIn(p, 'the page to say the link was revoked', () =>
    document.querySelector('#share-state').dataset.state === 'gone');
  const text = await p.textContent('#share-state');
  if (!/revoked/.test(text)) fail(`the page says: ${text}`);
  assertEqual(await p.$$eval('path[data-lat]', (n) => n.length), 0, 'no marker left');
  await p.close();
});

await check("a revoked link's page says so (410)", async () => {
  const secret = secretOf(await share('create', '--user', 'alice', '--device', 'tablet', '--live',
    '--expires', '1h'));
  const id = (await share('list', '--user', 'alice')).split('\n').slice(1)
    .map((l) => l.split('\t')).find((f) => f[3] === 'alice/tablet')[1];
  await share('revoke', '--user', 'alice', '--id', id);
  const p = await newPage('');
  const r = await p.goto(`${base}/s/${secret}`);
  assertEqual(r.status(), 410, 'status');
  const text = await p.textContent('body');
  if (!/this share link was revoked/.test(text)) fail(`the page says: ${text}`);
  if (await p.$('#map')) fail('a map on a revoked link');
  await p.close();
});

await check("the map's Share section makes a link for the chosen device, lists and revokes it", async () => {
  const p = await newPage('');
  const errors = watchConsole(p);
  await p.goto(`${base}/`);
  await waitIn(p, 'the devices', () => document.querySelectorAll('#h-device option').length >= 4);
  await p.selectOption('#h-device', 'carol/phone');
  await p.selectOption('#s-kind', 'live');
  await p.fill('#s-label', 'from the map');
  const before = await p.$$eval('#shares li', (n) => n.length);
  await p.click('#share-form button[type=submit]');
  await waitIn(p, 'the link', () => !document.querySelector('#s-made').hidden);
  const link = await p.inputValue('#s-link');
  if (!new RegExp(`^${base}/s/wls_[A-Za-z0-9_-]{43}$`).test(link)) fail(`not a link: ${link}`);
  await waitIn(p, 'the list', (n) => document.querySelectorAll('#shares li').length === n + 1, before);
  const r = await fetch(`${base}/api/0/shared/${secretOf(link)}/last`);
  assertEqual(r.status, 200, 'the new link works');
  const li = await p.$('#shares li:has-text("from the map")');
  const id = await li.getAttribute('data-id');
  await li.$eval('button', (b) => b.click());
  await waitIn(p, 'the share to show as revoked', (i) =>
    document.querySelector(`#shares li[data-id="${i}"]`)?.dataset.revoked === 'true', id);
  assertEqual((await fetch(`${base}/api/0/shared/${secretOf(link)}/last`)).status, 410, 'revoked at once');
  if (errors.length) fail(`console errors:\n${describe(errors)}`);
  await p.close();
});

await context.close();
await Promise.all([...children].map(stop));
const passed = results.filter(Boolean).length;
const failed = results.length - passed;
if (failed) console.log(`# screenshots in ${SHOTS}; logs kept in ${work}`);
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed ? 1 : 0;
