// What a browser test of the web pages needs around its checks, so that a test file holds only
// its own checks and fixtures:
//
// - the environment: WHERELOG, WL_PUB, WL_FILL and REPO exported, Chromium and playwright-core
//   found, or the run ends at once saying what is missing;
// - class Run, one run: a temporary work directory with the store (kept when anything failed,
//   with every process's log), a real mosquitto and a real `wherelog serve` on free loopback
//   ports (stopped and started again on the same port if a test likes), child processes
//   stopped at exit whatever happens, a deadline for the whole run, publishing over MQTT
//   (wl-pub), Debian's headless Chromium driven by playwright-core with a fresh profile,
//   pages that carry a strict Content-Security-Policy and collect their console errors, named
//   checks that go on after a failure (with a screenshot of every page), screenshots, and a
//   tally that sets the exit status;
// - the waits (until: in node; waitIn: in a page), each saying on time-out what it awaited,
//   fail and assertEqual for checks, describe for a list of console errors, and loc for an
//   OwnTracks location message.
//
// Environment (tests/browser/meson.build sets it): WHERELOG_BIN, WL_PUB, WL_FILL (required);
// WHERELOG_WEB (default: the repository's web/), WHERELOG_SCREENSHOTS (default:
// ./screenshots), CHROMIUM (default: /usr/bin/chromium), MOSQUITTO (default: mosquitto).

import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root. */
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

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

export const WHERELOG = need('WHERELOG_BIN');
export const WL_PUB = need('WL_PUB');
export const WL_FILL = need('WL_FILL');
const WEB = process.env.WHERELOG_WEB || path.join(REPO, 'web');
const SHOTS = path.resolve(process.env.WHERELOG_SCREENSHOTS || 'screenshots');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const MOSQUITTO = process.env.MOSQUITTO || 'mosquitto';
if (!fs.existsSync(CHROMIUM)) {
  console.error(`${CHROMIUM} not found: install Debian's chromium (apt-get install chromium) or set CHROMIUM`);
  process.exit(1);
}
/** Any one wait for the page or a process. */
export const WAIT_MS = 15 * 1000;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function fail(msg) {
  throw new Error(msg);
}

export function assertEqual(actual, expected, what) {
  if (actual !== expected) fail(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

/** Polls fn until it returns something truthy; on time-out the message says what was awaited. */
export async function until(what, fn, timeout = WAIT_MS) {
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

function canConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

/**
 * One run: its work directory, processes, browser and checks. deadlineMs bounds the whole run
 * (meson's timeout is a last resort); name prefixes the screenshots.
 */
export class Run {
  constructor(name, deadlineMs) {
    this.name = name;
    this.work = fs.mkdtempSync(path.join(os.tmpdir(), `wherelog-${name}-`));
    this.store = path.join(this.work, 'store');
    this.children = new Set();
    this.results = [];
    this.failedAny = false;
    this.context = null;
    fs.mkdirSync(SHOTS, { recursive: true });
    process.on('exit', () => {
      for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      if (!this.failedAny) fs.rmSync(this.work, { recursive: true, force: true });
    });
    // Whatever fails outside a check (the broker or wherelog not starting) ends the run.
    process.on('uncaughtException', (e) => {
      this.failedAny = true;
      console.error(`FAIL  ${e.message}\n# logs kept in ${this.work}`);
      process.exit(1);
    });
    for (const sig of ['SIGINT', 'SIGTERM']) {
      process.on(sig, () => {
        console.error(`stopped by ${sig}`);
        process.exit(1);
      });
    }
    setTimeout(() => {
      console.error(`FAIL the run took more than ${deadlineMs / 1000} s; logs in ${this.work}`);
      this.failedAny = true;
      process.exit(1);
    }, deadlineMs).unref();
  }

  /** Starts cmd in the background, its output appended to logName in the work directory. */
  start(cmd, args, logName, env = process.env) {
    const log = fs.openSync(path.join(this.work, logName), 'a');
    const child = spawn(cmd, args, { stdio: ['ignore', log, log], env });
    fs.closeSync(log);
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    child.on('error', (e) => console.error(`cannot run ${cmd}: ${e.message}`));
    return child;
  }

  /** Stops a child started by start (SIGTERM); resolves once it has exited. */
  stop(child) {
    return new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', resolve);
      child.kill('SIGTERM');
    });
  }

  /** Runs cmd to its end; resolves with its stdout. */
  run(cmd, args, input) {
    return new Promise((resolve, reject) => {
      const p = execFile(cmd, args, { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`${path.basename(cmd)} ${args.join(' ')} failed: ${stderr || err.message}`));
        else resolve(stdout);
      });
      if (input != null) p.stdin.end(input);
    });
  }

  /** mosquitto on a free loopback port, once it listens; sets this.brokerPort. */
  async startBroker() {
    const port = await freePort();
    const conf = path.join(this.work, 'mosquitto.conf');
    fs.writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
    this.start(MOSQUITTO, ['-c', conf], 'mosquitto.log');
    await until('mosquitto to listen', () => canConnect(port));
    this.brokerPort = port;
    return port;
  }

  /**
   * wherelog on the store, answering HTTP and subscribed to the broker (it logs "subscribed
   * to"); env adds to the process's environment (WHERELOG_TIMEZONE: the server's zone),
   * tileUrl is its --tile-url (none: no tile layer). A server started again after stop takes
   * the same HTTP port, so that open pages can reconnect. Sets this.server and this.base.
   */
  async startServer({ env = {}, tileUrl = '' } = {}) {
    const logFile = path.join(this.work, 'wherelog.log');
    const log = () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '');
    const subscriptions = () => log().split('subscribed to').length;
    const before = subscriptions();
    const httpPort = this.httpPort || (this.httpPort = await freePort());
    const proc = this.start(WHERELOG, ['serve', '--storage', this.store, '--mqtt-host', '127.0.0.1',
      '--mqtt-port', String(this.brokerPort), '--http-port', String(httpPort), '--docroot', WEB,
      '--tile-url', tileUrl, '--log-level', 'info'], 'wherelog.log', { ...process.env, ...env });
    this.base = `http://127.0.0.1:${httpPort}`;
    await until('wherelog to answer /api/0/version', async () =>
      proc.exitCode !== null || (await fetch(`${this.base}/api/0/version`)).ok)
      .catch((e) => fail(`${e.message}:\n${log().slice(-2000)}`));
    if (proc.exitCode !== null) fail(`wherelog exited (${proc.exitCode}):\n${log().slice(-2000)}`);
    await until('wherelog to subscribe', () => subscriptions() > before);
    this.server = proc;
    return proc;
  }

  /** Publishes OwnTracks messages ({topic, payload object}) through the broker, in order. */
  async publish(messages) {
    const lines = messages.map((m) => JSON.stringify({ topic: m.topic, payload: JSON.stringify(m.payload) }));
    const out = JSON.parse(await this.run(WL_PUB, ['--port', String(this.brokerPort), '--qos', '1'],
      `${lines.join('\n')}\n`));
    if (out.published !== messages.length) fail(`wl-pub published ${out.published} of ${messages.length}`);
  }

  /** Chromium with a fresh profile of its own, in time zone timezoneId (none: the machine's). */
  async launch(timezoneId) {
    // A persistent context is the way to give Chromium a fresh --user-data-dir of our own.
    this.context = await chromium.launchPersistentContext(path.join(this.work, 'chromium-profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      timezoneId,
      locale: 'en-GB',
      viewport: { width: 1280, height: 800 },
    });
    for (const blank of this.context.pages()) await blank.close(); // the one it opens
    this.context.setDefaultTimeout(WAIT_MS);
    return this.context;
  }

  /**
   * A page whose documents come with the Content-Security-Policy the server may send one day,
   * so that anything inline (script, handler, style attribute) shows up as a console error;
   * tileOrigin is let in for images (the tile server's). page.errors collects console errors,
   * uncaught exceptions and dialogs (dismissed) as { text, url }: describe(page.errors) says
   * them.
   */
  async newPage({ viewport = { width: 1280, height: 800 }, tileOrigin = '' } = {}) {
    const p = await this.context.newPage();
    await p.setViewportSize(viewport);
    const csp = `default-src 'self'; img-src 'self' data:${tileOrigin ? ` ${tileOrigin}` : ''}`;
    await p.route((url) => url.pathname === '/' || url.pathname.endsWith('.html'), async (route) => {
      const response = await route.fetch();
      await route.fulfill({ response, headers: { ...response.headers(), 'content-security-policy': csp } });
    });
    p.errors = [];
    p.on('console', (m) => {
      if (m.type() === 'error') p.errors.push({ text: m.text(), url: m.location()?.url || '' });
    });
    p.on('pageerror', (e) => p.errors.push({ text: `uncaught: ${e.message}`, url: '' }));
    p.on('dialog', (d) => {
      p.errors.push({ text: `a dialog opened: ${d.message()}`, url: '' });
      d.dismiss().catch(() => {});
    });
    return p;
  }

  /** Runs one named check; a failure is reported (with screenshots) and the run goes on. */
  async check(name, fn) {
    try {
      await fn();
      this.results.push(true);
      console.log(`ok    ${name}`);
    } catch (e) {
      this.results.push(false);
      this.failedAny = true;
      console.log(`FAIL  ${name}\n      ${String(e.message).split('\n').join('\n      ')}`);
      for (const [i, p] of (this.context?.pages() || []).entries()) {
        await p.screenshot({ path: path.join(SHOTS, `${this.name}-FAILED-${this.results.length}-${i}.png`) })
          .catch(() => {});
      }
    }
  }

  /**
   * A screenshot, name prefixed with the run's, once the map is still: no zoom animation
   * (Leaflet's flag), popups faded in. A page that never gets still is taken as it is.
   */
  async shot(page, name) {
    await page.waitForFunction(() => !window.wherelogMap?.map._animatingZoom
      && [...document.querySelectorAll('.leaflet-popup')].every((p) => getComputedStyle(p).opacity === '1'),
    null, { timeout: WAIT_MS, polling: 50 }).catch(() => {});
    await page.screenshot({ path: path.join(SHOTS, `${this.name}-${name}.png`) });
  }

  /** Closes the browser, stops the processes, prints the tally and sets the exit status. */
  async finish() {
    await this.context?.close();
    await Promise.all([...this.children].map((child) => this.stop(child)));
    const passed = this.results.filter(Boolean).length;
    const failed = this.results.length - passed;
    if (failed) console.log(`# screenshots in ${SHOTS}; logs kept in ${this.work}`);
    console.log(`${passed} passed, ${failed} failed`);
    process.exitCode = failed ? 1 : 0;
  }
}

/** Waits in the page; on time-out the message says what was awaited. */
export async function waitIn(page, what, fn, arg) {
  try {
    await page.waitForFunction(fn, arg, { timeout: WAIT_MS, polling: 50 });
  } catch (e) {
    fail(`timed out waiting for ${what}${e.message.includes('Timeout') ? '' : `: ${e.message}`}`);
  }
}

/** Console errors (page.errors), shortened and counted: "text (url) ×N" per distinct error. */
export function describe(errors) {
  const counts = new Map();
  for (const e of errors) {
    const line = `${e.text.length > 200 ? `${e.text.slice(0, 200)}…` : e.text}${e.url ? ` (${e.url})` : ''}`;
    counts.set(line, (counts.get(line) || 0) + 1);
  }
  return [...counts].map(([line, n]) => (n > 1 ? `${line} ×${n}` : line)).join('\n');
}

/** An OwnTracks location message of user's device, for Run.publish. */
export const loc = (user, device, fields) => ({
  topic: `owntracks/${user}/${device}`, payload: { _type: 'location', ...fields },
});
