// Browser tests of wherelog's web map (web/), in Debian's headless Chromium driven by
// playwright-core: a real mosquitto and a real `wherelog serve` on free loopback ports and a
// temporary store, all stopped at exit, failure or not (harness.mjs).
//
// Environment (tests/browser/meson.build sets it): what harness.mjs says, and PYTHON and
// GPX_CHECK (default: Debian's python3 and tests/tools/gpx_check.py, which reads GPX back),
// WHERELOG_GPX_XSD (the GPX 1.1 schema, when there is one: GPX is then validated against it
// too).
//
// The page's test hook (see web/app.js): marker elements carry data-device, data-lat,
// data-lon, data-tst and data-stale; #track-summary carries data-in-range and data-drawn;
// window.wherelogMap is { map, history, summary }; #year carries data-loaded and the heat
// layer's canvas data-cells and data-points (web/summary.js).
//
// The checks assert what a person would see (markers, labels, popups, counts) and never how
// long anything takes: timing belongs to tests/bench/bench_map.mjs.

import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { Run, loc, waitIn, until, fail, assertEqual, describe, REPO, WAIT_MS, WL_FILL } from './harness.mjs';

// The GPX schema is not in the repository: with ../shared beside it, meson passes it on.
const GPX_XSD = process.env.WHERELOG_GPX_XSD || '';
const PYTHON = process.env.PYTHON || '/usr/bin/python3';
const GPX_CHECK = process.env.GPX_CHECK || path.join(REPO, 'tests', 'tools', 'gpx_check.py');

// ------------------------------------------------------------------ data

const card = (user, device, fields) => ({
  topic: `owntracks/${user}/${device}/info`, payload: { _type: 'card', ...fields },
});

/** A small real PNG (a diagonal gradient), as a card's face. */
function pngBase64(size = 48) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, sum]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const rows = [];
  for (let y = 0; y < size; y++) {
    rows.push(0);
    for (let x = 0; x < size; x++) rows.push(240 - x * 2, 120 + y, 60 + (x + y));
  }
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(Buffer.from(rows))), chunk('IEND', Buffer.alloc(0))]).toString('base64');
}

// The browser's time zone is chosen so that it is about noon there now: "today" then holds
// the last hour, whatever the time of the run. Etc/GMT-N is UTC+N.
const OFFSET_H = 12 - new Date().getUTCHours(); // -11..12 hours
const TIMEZONE = OFFSET_H === 0 ? 'Etc/UTC' : `Etc/GMT${OFFSET_H > 0 ? '-' : '+'}${Math.abs(OFFSET_H)}`;
/** Epoch seconds of a local wall-clock time in that zone. */
const local = (y, mo, d, h = 0, mi = 0, s = 0) => Date.UTC(y, mo - 1, d, h, mi, s) / 1000 - OFFSET_H * 3600;
const hhmm = (tst) => new Date((tst + OFFSET_H * 3600) * 1000).toISOString().slice(11, 16);

const NOW = Math.floor(Date.now() / 1000);
const XSS_NAME = '<img src=x onerror="window.__xss=1">';
const XSS_TID = '<b>';
const ALICE = { lat: 48.8566, lon: 2.3522, tst: NOW - 180, tid: 'AM', acc: 12, vel: 18, alt: 35, batt: 80, conn: 'w' };
const BOB = { lat: 48.8600, lon: 2.3000, tst: NOW - 60, tid: 'BT', acc: 30, vel: 4, alt: 41, batt: 55, conn: 'm' };
const CAROL = { lat: 48.8420, lon: 2.3300, tst: NOW - 120, acc: 8, batt: 33, conn: 'o' };
const DAVE = { lat: 48.8700, lon: 2.3600, tst: NOW - 2 * 3600, tid: 'DC', acc: 20 };
const MALLORY = { lat: 48.8500, lon: 2.2950, tst: NOW - 240, tid: 'MX' };
const TRUDY = { lat: 48.8650, lon: 2.3300, tst: NOW - 300, tid: XSS_TID + XSS_NAME };

// alice's history on one local day: 12 points inside, one just before and one just after.
const DAY = [2024, 6, 10];
const DAY_VALUE = '2024-06-10';
const dayPoints = [];
for (let i = 0; i < 12; i++) {
  const tst = i === 11 ? local(...DAY, 23, 59, 59) : local(...DAY) + i * 7000;
  dayPoints.push({ lat: 48.80 + 0.004 * i, lon: 2.25 + 0.01 * Math.sin(i / 2), tst, tid: 'AM',
    vel: i, alt: 30 + i, batt: 90 - i, conn: 'm' });
}
const outside = [local(...DAY) - 1, local(...DAY) + 86400];

// The year: 50,000 points, 630 s apart, all inside local 2025.
const YEAR_POINTS = 50000;
const YEAR_START = local(2025, 1, 1, 0, 0, 30);
const YEAR_STEP = 630;

// ------------------------------------------------------------------ page helpers

const markerInfo = (page) => page.$$eval('.pin[data-device]', (pins) => pins.map((p) => ({
  device: p.dataset.device, lat: Number(p.dataset.lat), lon: Number(p.dataset.lon),
  stale: p.dataset.stale === 'true', label: p.querySelector('.label')?.textContent,
  img: p.querySelector('.badge img')?.getAttribute('src') || null,
  badge: p.querySelector('.badge')?.textContent,
})));

/**
 * Clicks selector and waits until the map has settled after the move it causes: clicks (and
 * positions) during a zoom animation would miss.
 */
async function clickAndSettle(page, selector) {
  await page.evaluate(() => {
    window.__settled = new Promise((resolve) => {
      window.wherelogMap.map.once('moveend', resolve);
      setTimeout(resolve, 3000); // in case nothing moves
    });
  });
  await page.click(selector);
  await page.evaluate(() => window.__settled.then(() => true));
}

const showAll = (page) => clickAndSettle(page, '#show-all');

/** Opens a device's popup by clicking its marker, after fitting all devices into view. */
async function clickMarker(page, device) {
  await page.evaluate(() => window.wherelogMap.map.closePopup());
  await showAll(page);
  await page.click(`.pin[data-device="${device}"]`);
  await waitIn(page, `the popup of ${device}`, (d) =>
    document.querySelector('.leaflet-popup-content .who')?.textContent.replace(/ /g, '') === d, device);
}

async function popupText(page) {
  await page.waitForSelector('.leaflet-popup-content', { timeout: WAIT_MS });
  return page.textContent('.leaflet-popup-content');
}

async function showTrack(page, device, range, from, to) {
  await page.selectOption('#h-device', device);
  await page.selectOption('#h-range', range);
  if (range === 'custom') {
    await page.fill('#h-from', from);
    await page.fill('#h-to', to);
  }
  await clickAndSettle(page, '#history-form button[type=submit]');
  await waitIn(page, `the track of ${device} to be drawn and counted`,
    () => document.querySelector('#track-summary').dataset.inRange);
  await waitIn(page, `the map to fit the track of ${device}`, () => {
    const { map } = window.wherelogMap;
    let all = true;
    map.eachLayer((l) => {
      if (l.options?.pointIndex !== undefined && !map.getBounds().contains(l.getLatLng())) all = false;
    });
    return all;
  });
  return page.evaluate(() => {
    const s = document.querySelector('#track-summary');
    return { inRange: Number(s.dataset.inRange), drawn: Number(s.dataset.drawn),
      dots: window.wherelogMap.history.track.dots, text: document.querySelector('#track-count').textContent };
  });
}

/**
 * In the page: a drawn track point on the screen, outside the panel and as far as can be from
 * every device marker (which would take the click).
 */
function clearestPoint() {
  const { map } = window.wherelogMap;
  const size = map.getSize();
  const panel = document.querySelector('#panel').getBoundingClientRect();
  const markers = [...document.querySelectorAll('.pin')].map((p) => p.getBoundingClientRect())
    .map((r) => ({ x: r.left + r.width / 2, y: r.top + r.height / 2 }));
  let best = null;
  map.eachLayer((l) => {
    if (l.options?.pointIndex === undefined) return;
    const c = map.latLngToContainerPoint(l.getLatLng());
    if (c.x < 20 || c.y < 20 || c.x > size.x - 20 || c.y > size.y - 20) return;
    if (c.x <= panel.right + 10 && c.y <= panel.bottom + 10) return;
    const d = Math.min(...markers.map((m) => Math.hypot(m.x - c.x, m.y - c.y)));
    if (!best || d > best.d) best = { d, lat: l.getLatLng().lat, lon: l.getLatLng().lng };
  });
  return best;
}

/** Clicks the track point at {lat, lon} where it is drawn on the map. */
async function clickTrackPoint(page, point) {
  const xy = await page.evaluate(([lat, lon]) => {
    const { map } = window.wherelogMap;
    const p = map.latLngToContainerPoint([lat, lon]);
    const r = map.getContainer().getBoundingClientRect();
    return { x: r.left + p.x, y: r.top + p.y };
  }, [point.lat, point.lon]);
  await page.mouse.click(xy.x, xy.y);
}

// ------------------------------------------------------------------ the run

const run = new Run('map', 110 * 1000);
await run.startBroker();
await run.startServer();
const { base } = run;
await run.launch(TIMEZONE);
console.log(`# wherelog ${base}, broker ${run.brokerPort}, browser time zone ${TIMEZONE}, work ${run.work}`);
const page = await run.newPage();

await run.check('1 empty store shows the first-run panel with the MQTT broker and the HTTP URL', async () => {
  await page.goto(base + '/');
  await page.waitForSelector('#welcome', { state: 'visible', timeout: WAIT_MS });
  const text = await page.textContent('#welcome');
  assertEqual(await page.textContent('#w-mqtt-host'), '127.0.0.1', 'MQTT host');
  assertEqual(await page.textContent('#w-mqtt-port'), String(run.brokerPort), 'MQTT port');
  assertEqual(await page.textContent('#w-http-url'), `${base}/pub`, 'HTTP-mode URL');
  if (!(await page.isVisible('#w-mqtt-lan'))) fail('the note about the LAN address is not shown for 127.0.0.1');
  if (!/LAN address/.test(text)) fail(`the LAN note says: ${text}`);
  if (await page.isVisible('#panel-body')) fail('the device and history panel shows on an empty store');
  await run.shot(page, '01-empty');
});

await run.check('2 markers: one per device, labelled by card name, tid or device; popup details', async () => {
  await page.evaluate(() => { window.__sameDocument = true; });
  await run.publish([
    card('alice', 'phone', { name: 'Alice Martin', face: pngBase64() }),
    card('dave', 'car', { name: 'Dave', face: 'PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciLz4=' }), // an SVG: refused
    card('mallory', 'evil', { name: XSS_NAME }),
    loc('alice', 'phone', ALICE), loc('bob', 'tablet', BOB), loc('carol', 'watch', CAROL),
    loc('dave', 'car', DAVE), loc('mallory', 'evil', MALLORY), loc('trudy', 'tid', TRUDY),
  ]);
  // Live, without a reload: the first-run panel goes away and the markers come.
  await waitIn(page, 'six markers with their final labels', () => {
    const labels = [...document.querySelectorAll('.pin .label')].map((l) => l.textContent);
    return labels.length === 6 && labels.includes('Alice Martin') && labels.includes('Dave')
      && labels.includes('<img src=x onerror="window.__xss=1">');
  });
  if (!(await page.evaluate(() => window.__sameDocument))) fail('the page reloaded');
  if (await page.isVisible('#welcome')) fail('the first-run panel is still shown');
  const byDevice = Object.fromEntries((await markerInfo(page)).map((m) => [m.device, m]));
  assertEqual(Object.keys(byDevice).sort().join(' '),
    'alice/phone bob/tablet carol/watch dave/car mallory/evil trudy/tid', 'devices on the map');
  assertEqual(byDevice['alice/phone'].label, 'Alice Martin', 'label with a card');
  if (!byDevice['alice/phone'].img?.startsWith('data:image/png;base64,iVBORw0KGgo')) {
    fail(`alice's face is not shown as a PNG data URL: ${byDevice['alice/phone'].img}`);
  }
  assertEqual(byDevice['bob/tablet'].label, 'BT', 'label from the tid');
  assertEqual(byDevice['carol/watch'].label, 'watch', 'label from the device name');
  assertEqual(byDevice['dave/car'].img, null, 'an SVG face must not be shown');
  assertEqual(byDevice['dave/car'].badge, 'DC', "dave's badge");
  assertEqual(byDevice['dave/car'].stale, true, 'dave, silent for 2 h, is stale');
  assertEqual(byDevice['alice/phone'].stale, false, 'alice (3 min ago) stale');
  assertEqual(byDevice['alice/phone'].lat, ALICE.lat, "alice's marker latitude");
  assertEqual(await page.$$eval('.pin .label.crowded', (ls) => ls.length), 0,
    'names hidden as crowded on a wide screen, where none overlap');
  const daveOpacity = await page.$eval('.pin[data-device="dave/car"]', (p) => getComputedStyle(p).opacity);
  if (!(Number(daveOpacity) < 1)) fail(`a stale marker is not dimmed (opacity ${daveOpacity})`);
  await run.shot(page, '02-markers');

  await clickMarker(page, 'alice/phone');
  const text = await popupText(page);
  // The time is local to where the point was recorded (its tzname, Paris, from the offline
  // place names), not to this browser's zone.
  const paris = new Intl.DateTimeFormat('en-GB', {
    timeZone: 'Europe/Paris', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).format(new Date(ALICE.tst * 1000));
  for (const want of ['Alice Martin', 'alice / phone', '3 min ago', paris, '18 km/h', '35 m',
    '80 %', 'Wi-Fi']) {
    if (!text.includes(want)) fail(`alice's popup lacks "${want}": ${text}`);
  }
  if (!/CES?T|GMT\+[12]/.test(text)) fail(`alice's popup does not name the Paris zone: ${text}`);
  const when = await page.$eval('.leaflet-popup-content time', (t) => t.textContent);
  if (!when.includes(String(new Date(ALICE.tst * 1000).getUTCFullYear()))) fail(`absolute time without a year: ${when}`);
  await run.shot(page, '03-popup');

  // The stale one says so; the keyboard opens a popup too (Enter on a focused marker).
  await showAll(page);
  await page.focus('.leaflet-marker-icon:has(.pin[data-device="dave/car"])');
  await page.keyboard.press('Enter');
  await waitIn(page, "dave's popup", () => document.querySelector('.leaflet-popup-content')?.textContent.includes('Dave'));
  const daveText = await popupText(page);
  if (!/stale/i.test(daveText) || !daveText.includes('2 h')) fail(`dave's popup does not say it is stale: ${daveText}`);
  await page.keyboard.press('Escape');
  await clickMarker(page, 'carol/watch');
  const carolText = await popupText(page);
  if (!carolText.includes('Offline') || !carolText.includes('33 %')) fail(`carol's popup: ${carolText}`);
});

await run.check('3 a point published over MQTT moves its marker without a reload; a late one does not', async () => {
  const before = await page.$eval('.pin[data-device="bob/tablet"]', (p) => p.getBoundingClientRect().toJSON());
  const moved = { ...BOB, lat: 48.8750, lon: 2.3150, tst: NOW - 10 };
  // The new point, then a late one (older: it must not move the marker back), then one of
  // another device, which tells when the late one has been seen (the stream keeps the order).
  const sentinel = { ...MALLORY, tst: MALLORY.tst + 1 };
  await run.publish([loc('bob', 'tablet', moved), loc('bob', 'tablet', { ...BOB, lat: 10, lon: 10, tst: NOW - 3600 }),
    loc('mallory', 'evil', sentinel)]);
  await waitIn(page, "mallory's marker to take the point after bob's", (tst) =>
    Number(document.querySelector('.pin[data-device="mallory/evil"]').dataset.tst) === tst, sentinel.tst);
  assertEqual(await page.$eval('.pin[data-device="bob/tablet"]', (p) => Number(p.dataset.lat)), moved.lat,
    "bob's latitude after a new and a late point");
  const after = await page.$eval('.pin[data-device="bob/tablet"]', (p) => ({
    box: p.getBoundingClientRect().toJSON(), lon: Number(p.dataset.lon) }));
  assertEqual(after.lon, moved.lon, "bob's longitude");
  if (before.x === after.box.x && before.y === after.box.y) fail('the marker moved in data but not on the screen');
  if (!(await page.evaluate(() => window.__sameDocument))) fail('the page reloaded');
  const latLng = await page.evaluate(() => {
    let found = null;
    window.wherelogMap.map.eachLayer((l) => {
      if (l.getElement?.()?.querySelector?.('.pin[data-device="bob/tablet"]')) found = l.getLatLng();
    });
    return found;
  });
  assertEqual(latLng?.lat, moved.lat, "the Leaflet marker's latitude");
});

await run.check('3 a card published over MQTT renames a device and gives it a face, without a reload', async () => {
  await run.publish([card('carol', 'watch', { name: 'Carol Jones', face: pngBase64() })]);
  await waitIn(page, "carol's new name on her marker and in the list", () =>
    document.querySelector('.pin[data-device="carol/watch"] .label')?.textContent === 'Carol Jones'
      && [...document.querySelectorAll('.device-name')].some((n) => n.textContent === 'Carol Jones'));
  const carol = (await markerInfo(page)).find((m) => m.device === 'carol/watch');
  if (!carol.img?.startsWith('data:image/png;base64,iVBORw0KGgo')) fail(`carol's new face is not shown: ${carol.img}`);
  if (!(await page.evaluate(() => window.__sameDocument))) fail('the page reloaded');
});

await run.check('9 names and tids holding HTML are shown as text', async () => {
  const labels = await page.$$eval('.pin .label, .device-name', (ls) => ls.map((l) => l.textContent));
  if (!labels.includes(XSS_NAME)) fail(`the card name is not shown literally: ${labels.join(' | ')}`);
  if (!labels.includes(XSS_TID + XSS_NAME)) fail(`the tid is not shown literally: ${labels.join(' | ')}`);
  const injected = await page.evaluate(() => ({
    images: document.querySelectorAll('img[src="x"]').length,
    bold: document.querySelectorAll('.pin b, .device b').length,
    ran: window.__xss || 0,
  }));
  assertEqual(injected.images, 0, 'images made from phone data');
  assertEqual(injected.bold, 0, 'elements made from phone data');
  assertEqual(injected.ran, 0, 'scripts run from phone data');
  await clickMarker(page, 'mallory/evil');
  assertEqual(await page.$eval('.leaflet-popup-content h3', (h) => h.textContent), XSS_NAME, "mallory's popup title");
  assertEqual(await page.evaluate(() => document.querySelectorAll('img[src="x"]').length), 0, 'injected images');
});

let dayTrackHrefs;
await run.check('4 a device and a range draw its track with every point in it', async () => {
  await run.publish([...outside.map((tst) => loc('alice', 'phone', { lat: 48.7, lon: 2.2, tst })),
    ...dayPoints.map((p) => loc('alice', 'phone', p))]);
  await until('the day of alice to be stored', async () => {
    const r = await fetch(`${base}/api/0/locations?user=alice&device=phone&from=${outside[0]}&to=${outside[1]}&fields=tst`);
    return (await r.json()).count === dayPoints.length + 2;
  });
  const t = await showTrack(page, 'alice/phone', 'custom', DAY_VALUE, DAY_VALUE);
  assertEqual(t.drawn, dayPoints.length, 'points drawn for one local day');
  assertEqual(t.inRange, dayPoints.length, 'points counted in the range');
  assertEqual(t.dots, dayPoints.length, 'point markers on the map');
  if (!t.text.includes('12 points')) fail(`the summary says: ${t.text}`);
  dayTrackHrefs = await page.evaluate(() => ({
    gpx: document.querySelector('#dl-gpx').getAttribute('href'),
    geojson: document.querySelector('#dl-geojson').getAttribute('href'),
  }));

  await clickTrackPoint(page, dayPoints[5]);
  await waitIn(page, 'the popup of point 6', () =>
    document.querySelector('.leaflet-popup-content')?.textContent.includes('Point 6 of 12'));
  const text = await popupText(page);
  for (const want of [hhmm(dayPoints[5].tst), '5 km/h', '35 m', '85 %', 'Mobile data']) {
    if (!text.includes(want)) fail(`the point's popup lacks "${want}": ${text}`);
  }
  await run.shot(page, '04-track');

  // A preset range: today holds bob's three points (the late one included).
  const today = await showTrack(page, 'bob/tablet', 'today');
  assertEqual(today.drawn, 3, "bob's points today");
  // A new point of the shown device extends its track, live.
  await run.publish([loc('bob', 'tablet', { ...BOB, lat: 48.8760, lon: 2.3200, tst: NOW - 5 })]);
  await waitIn(page, "bob's track to grow by the new point", () =>
    document.querySelector('#track-summary').dataset.drawn === '4'
    && document.querySelector('#track-summary').dataset.inRange === '4'
    && window.wherelogMap.history.track.dots === 4);
});

await run.check('6 the GPX download validates and GeoJSON holds every point of the range', async () => {
  if (!dayTrackHrefs) fail('no track was shown (check 4 failed)');
  const gpx = await fetch(base + dayTrackHrefs.gpx);
  assertEqual(gpx.status, 200, 'GPX status');
  if (!/attachment/.test(gpx.headers.get('content-disposition') || '')) fail('the GPX is not sent as a download');
  const gpxText = await gpx.text();
  const file = path.join(run.work, 'track.gpx');
  fs.writeFileSync(file, gpxText);
  // read back with gpxpy and gpsbabel (and validated against the schema when there is one)
  const readBack = JSON.parse(await run.run(PYTHON, [GPX_CHECK, file, ...(GPX_XSD ? ['--xsd', GPX_XSD] : [])]));
  assertEqual(readBack.segments.flat().length, dayPoints.length, 'GPX track points read back');
  assertEqual((gpxText.match(/<trkpt /g) || []).length, dayPoints.length, 'GPX track points');
  if (/max_points/.test(dayTrackHrefs.gpx + dayTrackHrefs.geojson)) fail('a download is thinned');

  const geo = await fetch(base + dayTrackHrefs.geojson);
  assertEqual(geo.status, 200, 'GeoJSON status');
  if (!/attachment/.test(geo.headers.get('content-disposition') || '')) fail('the GeoJSON is not sent as a download');
  const doc = await geo.json();
  assertEqual(doc.type, 'FeatureCollection', 'GeoJSON type');
  assertEqual(doc.features.length, dayPoints.length, 'GeoJSON features');
});

await run.check('5 a year of 50,000 points is drawn thinned and the page stays responsive', async () => {
  await run.run(WL_FILL, [run.store, 'year', 'phone', String(YEAR_POINTS), String(YEAR_START), String(YEAR_STEP)]);
  const asked = [];
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.pathname === '/api/0/locations' && u.searchParams.get('user') === 'year') asked.push(u.searchParams);
  });
  await page.reload();
  await waitIn(page, 'the year device to be listed', () =>
    [...document.querySelectorAll('#h-device option')].some((o) => o.value === 'year/phone'));
  const t = await showTrack(page, 'year/phone', 'custom', '2025-01-01', '2025-12-31');
  const thinned = asked.find((q) => q.has('max_points'));
  if (!thinned) fail('the track was asked for without max_points');
  const max = Number(thinned.get('max_points'));
  if (!(max >= 16 && max <= 5000)) fail(`max_points=${max}: not a few thousand`);
  assertEqual(t.inRange, YEAR_POINTS, 'points counted in the year');
  if (!(t.drawn > 0 && t.drawn <= max)) fail(`${t.drawn} points drawn, more than max_points=${max}`);
  assertEqual(t.dots, t.drawn, 'point markers on the map');
  if (!t.text.includes('50,000') || !t.text.includes(`${t.drawn.toLocaleString('en')} drawn`)) {
    fail(`the summary does not say how many of how many are drawn: ${t.text}`);
  }
  await run.shot(page, '05-year');
  // The page answers at once: zoom in with the button, then open a point's popup.
  const zoom = await page.evaluate(() => window.wherelogMap.map.getZoom());
  await clickAndSettle(page, '.leaflet-control-zoom-in');
  assertEqual(await page.evaluate(() => window.wherelogMap.map.getZoom()), zoom + 1, 'zoom after a click on +');
  await clickTrackPoint(page, await page.evaluate(clearestPoint));
  await waitIn(page, 'a point of the year to open its popup', () =>
    /Point [\d,]+ of [\d,]+/.test(document.querySelector('.leaflet-popup-content')?.textContent || ''));
});

await run.check('11 the Year view shows the year of 50,000 points and the heat layer draws them', async () => {
  await waitIn(page, 'the year user to be listed', () =>
    [...document.querySelectorAll('#y-user option')].some((o) => o.value === 'year'));
  await page.selectOption('#y-user', 'year');
  await page.fill('#y-year', '2025');
  await page.click('#year-form button[type=submit]');
  await waitIn(page, 'the year to be shown', () => document.querySelector('#year')?.dataset.loaded === 'year/2025');
  const api = await (await fetch(`${base}/api/0/summary?user=year&year=2025`)).json();
  assertEqual(await page.textContent('#year-result [data-figure=days]'), String(api.days), 'days with data shown');
  if (api.days < 300) fail(`only ${api.days} days with data in the generated year`);
  assertEqual(await page.$$eval('.month-chart rect', (r) => r.length), 12, 'month bars');
  const titled = await page.$$eval('.month-chart rect title', (t) => t.map((x) => x.textContent));
  if (!titled[0].startsWith('2025-01:')) fail(`the first bar is not January: ${titled[0]}`);
  await run.shot(page, '11-year');
  // The heat layer, from the layer control, over the whole world: every point of the year.
  await page.evaluate(() => { window.wherelogMap.map.setView([20, 0], 2, { animate: false }); });
  await page.hover('.leaflet-control-layers');
  await page.click('.leaflet-control-layers-overlays label:has-text("Heat") input');
  await waitIn(page, 'the heat layer to draw', () => document.querySelector('.heat-layer')?.dataset.points);
  const drawn = await page.$eval('.heat-layer', (c) => ({ points: Number(c.dataset.points), cells: Number(c.dataset.cells) }));
  // the server's year (its zone) may differ from the browser's by a few hours of points
  if (!(api.points > YEAR_POINTS - 100 && api.points <= YEAR_POINTS)) fail(`${api.points} points in the summary`);
  assertEqual(drawn.points, api.points, 'points in the heat cells: the summary\'s');
  if (!(drawn.cells > 0 && drawn.cells < 5000)) fail(`${drawn.cells} heat cells at zoom 2: not a few`);
  await run.shot(page, '12-heat');
  await page.click('.leaflet-control-layers-overlays label:has-text("Heat") input');
  await waitIn(page, 'the heat layer to go', () => !document.querySelector('.heat-layer'));
});

await run.check('phone viewport (390x844): the panel collapses and the map stays usable', async () => {
  const phone = await run.newPage({ viewport: { width: 390, height: 844 } });
  await phone.goto(base + '/');
  await waitIn(phone, 'the markers', () => document.querySelectorAll('.pin[data-device]').length === 7);
  assertEqual(await phone.getAttribute('#panel-toggle', 'aria-expanded'), 'false', 'panel toggle on a phone');
  if (await phone.isVisible('#panel-body')) fail('the panel is open on a phone at start');
  const visible = await phone.$$eval('.pin[data-device]', (pins) => pins.filter((p) => {
    const r = p.getBoundingClientRect();
    return r.left >= 0 && r.right <= innerWidth && r.top >= 0 && r.bottom <= innerHeight;
  }).length);
  if (visible === 0) fail('no marker is on the screen');
  await run.shot(phone, '07-phone');
  await phone.click('#panel-toggle');
  await phone.waitForSelector('#panel-body', { state: 'visible', timeout: WAIT_MS });
  const panel = await phone.$eval('#panel', (p) => p.getBoundingClientRect().toJSON());
  if (panel.right > 390 || panel.left < 0) fail(`the panel does not fit the screen: ${JSON.stringify(panel)}`);
  await run.shot(phone, '08-phone-panel');
  await phone.click('.device:has-text("Alice Martin")');
  await phone.waitForSelector('.leaflet-popup-content', { timeout: WAIT_MS });
  if (await phone.isVisible('#panel-body')) fail('the panel stays open over the chosen device');
  await run.shot(phone, '09-phone-popup');
  await phone.click('#panel-toggle');
  const t = await showTrack(phone, 'alice/phone', 'custom', DAY_VALUE, DAY_VALUE);
  assertEqual(t.drawn, dayPoints.length, 'points drawn on a phone');
  if (!(await phone.isVisible('#downloads'))) fail('the track summary and downloads are not shown on a phone');
  await run.shot(phone, '10-phone-track');
  if (phone.errors.length) fail(`console errors:\n${describe(phone.errors)}`);
  await phone.close();
});

await run.check('places: a place added where the map is clicked is listed and drawn (web/places.js)', async () => {
  await waitIn(page, 'the places panel with the users', () =>
    [...document.querySelectorAll('#p-user option')].some((o) => o.value === 'alice'));
  await page.selectOption('#p-user', 'alice');
  await waitIn(page, "alice's places to load", () => document.querySelector('#places li') !== null);
  await page.fill('#p-name', 'Café <b>Rouge</b>');
  await page.fill('#p-radius', '150');
  await page.click('#p-pick');
  const at = { x: 900, y: 420 };
  const expected = await page.evaluate((pt) => {
    const ll = window.wherelogMap.map.containerPointToLatLng([pt.x, pt.y]);
    return { lat: ll.lat, lng: ll.lng };
  }, at);
  await page.click('#map', { position: at });
  await waitIn(page, 'the new place in the list', () =>
    [...document.querySelectorAll('#places li[data-place-id]')].some((li) => li.textContent.includes('Café <b>Rouge</b>')));
  await page.hover('#map', { position: at }); // the circle's tooltip
  await waitIn(page, "the place's tooltip", () => document.querySelector('.leaflet-tooltip') !== null);
  if (await page.$('#places b, .leaflet-tooltip b')) fail('a place name was parsed as HTML');
  const r = await page.evaluate(async () => (await fetch('/api/0/places?user=alice')).json());
  const got = r.places.find((p) => p.name === 'Café <b>Rouge</b>');
  if (!got) fail(`the API does not have the place: ${JSON.stringify(r)}`);
  if (Math.abs(got.lat - expected.lat) > 1e-5 || Math.abs(got.lon - expected.lng) > 1e-5) {
    fail(`the place is not where the map was clicked: ${JSON.stringify(got)} vs ${JSON.stringify(expected)}`);
  }
  assertEqual(got.radius_m, 150, 'the radius typed');
  const circles = await page.$$eval('.leaflet-interactive', (paths) => paths.length);
  if (circles < 1) fail('no circle drawn for the place');
  await run.shot(page, '11-place-added');
  // rename in the list (typed in place of the button), then delete (a second click confirms)
  const item = `#places li[data-place-id="${got.id}"]`;
  await page.click(`${item} button:has-text("Rename")`);
  await page.fill(`${item} .rename-input`, 'Bistro');
  await page.press(`${item} .rename-input`, 'Enter');
  await waitIn(page, 'the renamed place', (sel) =>
    document.querySelector(sel)?.textContent.includes('Bistro'), item);
  await page.click(`${item} button:has-text("Delete")`);
  if (!(await page.$(item))) fail('one click deleted the place without asking');
  await page.click(`${item} button:has-text("sure")`);
  await waitIn(page, 'the place to leave the list', (sel) => !document.querySelector(sel), item);
  const left = await page.evaluate(async () => (await fetch('/api/0/places?user=alice')).json());
  if (left.places.some((p) => p.id === got.id)) fail('the place is still in the API after deleting');
});

await run.check('8 no console errors (no tiles configured)', async () => {
  if (page.errors.length) fail(describe(page.errors));
});

// A restart with tiles that cannot load: the open page reconnects, a new page works.
const TILES = 'http://127.0.0.1:1';
await run.check('the open page notices the server is gone, and wherelog starts again (failing tiles)', async () => {
  await run.stop(run.server);
  await waitIn(page, 'the live indicator to say it reconnects', () =>
    document.querySelector('#live').dataset.state === 'down');
  await run.startServer({ tileUrl: `${TILES}/{z}/{x}/{y}.png` });
});

await run.check('the open page reconnects after the restart and moves markers again', async () => {
  await waitIn(page, 'the live indicator to be live again', () =>
    document.querySelector('#live').dataset.state === 'live');
  const moved = { ...CAROL, lat: 48.8300, tst: Math.floor(Date.now() / 1000) };
  await run.publish([loc('carol', 'watch', moved)]);
  await waitIn(page, "carol's marker to move", (lat) =>
    Number(document.querySelector('.pin[data-device="carol/watch"]').dataset.lat) === lat, moved.lat);
  await waitIn(page, 'the status line to clear', () => document.querySelector('#status').hidden);
});

await run.check('7 with tiles that cannot load, markers, tracks and panels work', async () => {
  const p = await run.newPage({ tileOrigin: TILES });
  await p.goto(base + '/');
  await waitIn(p, 'the markers', () => document.querySelectorAll('.pin[data-device]').length === 7);
  await waitIn(p, 'the status line to say tiles cannot load', () =>
    /tiles cannot be loaded/.test(document.querySelector('#status').textContent));
  await p.click('.device:has-text("Alice Martin")');
  const text = await popupText(p);
  if (!text.includes('alice / phone')) fail(`the device list does not open alice's popup: ${text}`);
  const t = await showTrack(p, 'alice/phone', 'custom', DAY_VALUE, DAY_VALUE);
  assertEqual(t.drawn, dayPoints.length, 'points drawn without tiles');
  await p.click('#panel-toggle');
  if (await p.isVisible('#panel-body')) fail('the panel does not collapse');
  await p.click('#panel-toggle');
  await run.shot(p, '06-no-tiles');
  const tileErrors = p.errors.filter((e) => e.url.startsWith(TILES) || e.text.includes(TILES));
  const others = p.errors.filter((e) => !tileErrors.includes(e));
  if (tileErrors.length === 0) fail('no tile failed to load: was the tile layer added?');
  if (others.length) fail(`console errors besides tiles:\n${describe(others)}`);
  await p.close();
});

await run.finish();
