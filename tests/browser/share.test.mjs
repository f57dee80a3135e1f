// Browser test of a share link's page (web/share.html, share.js) and the map's Share section
// (web/sharing.js), in Debian's headless Chromium driven by playwright-core, against a real
// mosquitto and a real `wherelog serve` on free loopback ports and a temporary store.
//
// Environment: as harness.mjs says (tests/browser/meson.build sets it).
//
// The page's test hook (see web/share.js): #share-state carries data-state, #map data-lines
// and data-points; the live marker's element data-lat and data-lon. The checks wait for what
// a person would see and never time anything.

import { Run, loc, waitIn, until, fail, assertEqual, describe, WHERELOG } from './harness.mjs';

// ------------------------------------------------------------------ the run

const DAY = 1700000000; // a fixed day: a range share shows exactly its fixes
const walk = Array.from({ length: 20 }, (_, i) => ({ tst: DAY + 60 * i, lat: 48.8 + 0.001 * i, lon: 2.3 }));

const run = new Run('share', 110 * 1000);

/** `wherelog share ...` on the store; returns stdout. */
const share = (...args) => run.run(WHERELOG, ['share', ...args, '--storage', run.store]);
const secretOf = (link) => link.trim().split('/s/')[1];

await run.startBroker();
await run.startServer();
const { base } = run;
const now = Math.floor(Date.now() / 1000);
await run.publish([
  ...walk.map((p) => loc('alice', 'phone', p)),
  loc('alice', 'phone', { tst: DAY - 3600, lat: 10, lon: 10 }), // before the range
  loc('alice', 'tablet', { tst: DAY + 30, lat: 20, lon: 20 }),
  loc('bob', 'phone', { tst: DAY + 90, lat: 30, lon: 30 }),
  loc('carol', 'phone', { tst: now - 60, lat: 51.5, lon: -0.1 }),
]);
await until('the points to be stored', async () =>
  (await (await fetch(`${base}/api/0/last?user=carol`)).json()).length === 1);

await run.launch();
console.log(`# wherelog ${base}, broker ${run.brokerPort}, work ${run.work}`);

await run.check("a range link shows that device's track over that range and nothing else", async () => {
  const secret = secretOf(await share('create', '--user', 'alice', '--device', 'phone', '--from',
    new Date(DAY * 1000).toISOString(), '--to', new Date((DAY + 19 * 60) * 1000).toISOString(),
    '--expires', '1h', '--label', 'Walk'));
  const p = await run.newPage();
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
  await run.shot(p, 'range');
  if (p.errors.length) fail(`console errors:\n${describe(p.errors)}`);
  await p.close();
});

await run.check('a live link moves with new fixes and says so when it is revoked', async () => {
  const secret = secretOf(await share('create', '--user', 'carol', '--device', 'phone', '--live',
    '--expires', '2h'));
  const p = await run.newPage();
  await p.goto(`${base}/s/${secret}`);
  await waitIn(p, 'the live marker', () => document.querySelector('path.leaflet-interactive[data-lat]'));
  assertEqual(await p.$eval('path[data-lat]', (m) => m.dataset.lat), '51.5', 'the live position');
  // The stream is open once the page has its EventSource; a new fix then moves the marker.
  await until('the stream to be registered', async () => /wherelog_live_clients [1-9]/.test(
    await (await fetch(`${base}/metrics`)).text()));
  await run.publish([loc('carol', 'phone', { tst: Math.floor(Date.now() / 1000), lat: 51.6, lon: -0.1 })]);
  await waitIn(p, 'the marker to move', () => document.querySelector('path[data-lat]')?.dataset.lat === '51.6');
  const id = (await share('list', '--user', 'carol')).split('\n')[1].split('\t')[1];
  await share('revoke', '--user', 'carol', '--id', id);
  // The stream notices at its next wake-up: a new fix of any device.
  await run.publish([loc('bob', 'phone', { tst: Math.floor(Date.now() / 1000), lat: 30, lon: 30 })]);
  await waitIn(p, 'the page to say the link was revoked', () =>
    document.querySelector('#share-state').dataset.state === 'gone');
  const text = await p.textContent('#share-state');
  if (!/revoked/.test(text)) fail(`the page says: ${text}`);
  assertEqual(await p.$$eval('path[data-lat]', (n) => n.length), 0, 'no marker left');
  await p.close();
});

await run.check("a revoked link's page says so (410)", async () => {
  const secret = secretOf(await share('create', '--user', 'alice', '--device', 'tablet', '--live',
    '--expires', '1h'));
  const id = (await share('list', '--user', 'alice')).split('\n').slice(1)
    .map((l) => l.split('\t')).find((f) => f[3] === 'alice/tablet')[1];
  await share('revoke', '--user', 'alice', '--id', id);
  const p = await run.newPage();
  const r = await p.goto(`${base}/s/${secret}`);
  assertEqual(r.status(), 410, 'status');
  const text = await p.textContent('body');
  if (!/this share link was revoked/.test(text)) fail(`the page says: ${text}`);
  if (await p.$('#map')) fail('a map on a revoked link');
  await p.close();
});

await run.check("the map's Share section makes a link for the chosen device, lists and revokes it", async () => {
  const p = await run.newPage();
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
  if (p.errors.length) fail(`console errors:\n${describe(p.errors)}`);
  await p.close();
});

await run.finish();
