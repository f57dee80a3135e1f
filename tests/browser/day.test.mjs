// Browser tests of the map's day view and calendar (web/dayview.js, web/calendar.js), in
// Debian's headless Chromium driven by playwright-core, against a real mosquitto and a real
// `wherelog serve` (harness.mjs): a known stretch of days (dayfixture.mjs) is published over
// MQTT, the server computes its timeline, and the page must show it in the user's zone.
//
// Three zones differ: the user's own (Europe/Paris, set with `wherelog settings`), the
// server's default (Asia/Tokyo) and the browser's (America/New_York), so times shown in the
// wrong zone cannot pass. The page's test hook:
// #day-view carries data-state ("loading", "ready", "error"), data-date, data-zone,
// data-segments, data-selected, data-drawn and data-draw-ms; window.wherelogMap.day is
// dayview.js's controller (state, highlighted(), anchor(i), inView(i)).
//
// The checks assert what a person would see and never how long anything takes; the draw time
// of 50,000 points is printed, not judged.

import { Run, loc, waitIn, fail, assertEqual, until, describe, WHERELOG, WL_FILL } from './harness.mjs';
import { knownDays } from './dayfixture.mjs';

const USER_ZONE = 'Europe/Paris'; // the user's own setting
const USER_OFFSET_H = 2; // CEST, all of May 2024
const SERVER_ZONE = 'Asia/Tokyo'; // the server's default for users without their own: UTC+9
const BROWSER_ZONE = 'America/New_York'; // UTC-4 then
const kd = knownDays(USER_OFFSET_H);
const USER = 'kim';
const DEVICE = 'phone';
const KEY = `${USER}/${DEVICE}`;

// 50,000 points one second apart on 12 March 2025 (CET, UTC+1), from 01:00 local.
const BIG_DAY = '2025-03-12';
const BIG_POINTS = 50000;
const BIG_START = Date.UTC(2025, 2, 12, 0) / 1000; // 01:00 in Paris

/** "HH:MM" of an instant in the user's zone over the fixture's dates (a fixed offset). */
const hhmm = (tst) => new Date((tst + USER_OFFSET_H * 3600) * 1000).toISOString().slice(11, 16);
/** The local date of an instant in the user's zone. */
const dateOf = (tst) => new Date((tst + USER_OFFSET_H * 3600) * 1000).toISOString().slice(0, 10);
/** The local day's bounds [start, end) in the user's zone. */
const bounds = (date) => {
  const start = Date.parse(`${date}T00:00:00Z`) / 1000 - USER_OFFSET_H * 3600;
  return [start, start + 86400];
};
/** Today in the user's zone, as the test's own Intl says. */
// Today's date in the user's zone as YYYY-MM-DD, from the parts of a format rather than a
// locale's layout: Debian's Node formats 'en-CA' dates like 'en-US' ones.
const todayThere = () => {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone: USER_ZONE, year: 'numeric', month: '2-digit',
    day: '2-digit' }).formatToParts(new Date());
  const part = (type) => parts.find((p) => p.type === type).value;
  return `${part('year')}-${part('month')}-${part('day')}`;
};

const run = new Run('day', 200 * 1000);
await run.startBroker();
await run.run(WHERELOG, ['settings', '--storage', run.store, '--user', USER, '--zone', USER_ZONE]);
await run.startServer({ env: { WHERELOG_TIMEZONE: SERVER_ZONE } });
const { base } = run;

async function api(path) {
  const r = await fetch(base + path);
  if (!r.ok) fail(`${path}: ${r.status} ${await r.text()}`);
  return r.json();
}

/** The API's timeline of a local day of the known device. */
async function timelineOf(date, device = DEVICE) {
  const [start, end] = bounds(date);
  return api(`/api/0/timeline?user=${USER}&device=${device}&from=${start}&to=${end - 1}`);
}

/** Opens device key's day date through the form, and waits until it is drawn. */
async function openDay(page, key, date) {
  await page.selectOption('#day-device', key);
  await page.fill('#day-date', date);
  await page.click('#day-form button[type=submit]');
  await dayShown(page, date);
}

async function dayShown(page, date) {
  await waitIn(page, `the day ${date} to be drawn`, (d) => {
    const v = document.querySelector('#day-view');
    return v.dataset.state === 'ready' && v.dataset.date === d;
  }, date);
}

/** The list's items as the page shows them. */
const listItems = (page) => page.$$eval('#day-list > li', (items) => items.map((li) => ({
  type: li.dataset.type, mode: li.dataset.mode || null, start: Number(li.dataset.start),
  time: li.querySelector('.seg-time').textContent, what: li.querySelector('.seg-what').textContent,
  selected: li.getAttribute('aria-selected'), role: li.getAttribute('role'), tabindex: li.getAttribute('tabindex'),
  height: li.getBoundingClientRect().height,
})));

/**
 * Runs fn, a click that moves the map (a fit or a zoom), and waits until that move has ended:
 * Leaflet ends every fit with a moveend, even one that leaves the view as it was. A click on
 * the map while it moves would miss what it aims at.
 */
async function settled(page, fn) {
  await page.evaluate(() => {
    window.__moved = false;
    window.wherelogMap.map.once('moveend', () => { window.__moved = true; });
  });
  await fn();
  await waitIn(page, 'the map to end its move', () => window.__moved && !window.wherelogMap.map._animatingZoom);
}

/**
 * Waits until the map stands still: no zoom or pan animation, and the same view over three
 * polls in a row (a fit that an earlier pick started may still be under way on a slow
 * machine, and a click then lands elsewhere or a zoom is taken from the wrong level).
 */
async function quiet(page) {
  await page.evaluate(() => { window.__still = { key: '', n: 0 }; });
  await waitIn(page, 'the map to stand still', () => {
    const m = window.wherelogMap.map;
    const s = window.__still;
    const c = m.getCenter();
    const key = `${m.getZoom()} ${c.lat} ${c.lng}`;
    const moving = m._animatingZoom || (m._panAnim && m._panAnim._inProgress);
    s.n = !moving && key === s.key ? s.n + 1 : 0;
    s.key = key;
    return s.n >= 3;
  });
}

// ------------------------------------------------------------------ data

await run.publish(kd.points.map((p) => loc(USER, DEVICE, p)));
const first = kd.points[0].tst;
const last = kd.points[kd.points.length - 1].tst;
await until('the known days to be stored', async () =>
  (await api(`/api/0/locations?user=${USER}&device=${DEVICE}&from=${first}&to=${last}&fields=tst`)).count
    === kd.points.length);

// What 3 May must show: the true segments that overlap it.
const [dayStart, dayEnd] = bounds(kd.day);
const truthOfDay = kd.truth.filter((s) => s.start < dayEnd && s.end > dayStart);
let apiDay; // the API's answer for 3 May

await run.launch(BROWSER_ZONE);
const page = await run.newPage();
console.log(`# wherelog ${base}, broker ${run.brokerPort}, zones: ${USER}'s ${USER_ZONE}, the server's ${SERVER_ZONE}, `
  + `the browser's ${BROWSER_ZONE}; work ${run.work}`);

await run.check('the server\'s timeline of the known day is the true one (within minutes)', async () => {
  apiDay = await timelineOf(kd.day);
  assertEqual(apiDay.zone, USER_ZONE, 'the zone the API names');
  const segs = apiDay.segments.filter((s) => s.type !== 'gap');
  assertEqual(segs.map((s) => s.type).join(' '), truthOfDay.map((s) => s.type).join(' '), 'segments of the day');
  segs.forEach((s, i) => {
    const t = truthOfDay[i];
    // The first stay began the evening before, the last ends the morning after.
    if (Math.abs(s.start - t.start) > 300) fail(`segment ${i} starts at ${hhmm(s.start)}, truly ${hhmm(t.start)}`);
    if (Math.abs(s.end - t.end) > 300) fail(`segment ${i} ends at ${hhmm(s.end)}, truly ${hhmm(t.end)}`);
    if (t.type === 'trip') assertEqual(s.mode, t.mode, `mode of trip ${i} (${t.from} to ${t.to})`);
  });
});

await run.check('the day list shows the stays and trips of the known day at the right local times', async () => {
  if (!apiDay) fail('no timeline from the API');
  await page.goto(`${base}/`);
  await waitIn(page, 'the device to be listed', (k) =>
    [...document.querySelectorAll('#day-device option')].some((o) => o.value === k), KEY);
  const asked = [];
  const onRequest = (r) => {
    const u = new URL(r.url());
    if (u.pathname === '/api/0/timeline' || u.pathname === '/api/0/locations') asked.push(u);
  };
  page.on('request', onRequest);
  await openDay(page, KEY, kd.day);
  page.off('request', onRequest);
  // The page asks for the local day in the user's zone, not the browser's.
  for (const u of asked) {
    assertEqual(`${u.searchParams.get('from')}..${u.searchParams.get('to')}`, `${dayStart}..${dayEnd - 1}`,
      `the range asked of ${u.pathname}`);
  }
  if (asked.length < 2) fail(`the page asked for ${asked.map((u) => u.pathname).join(', ') || 'nothing'}`);
  const named = await page.textContent('#day-head');
  if (!/^Friday,? 3 May 2024$/.test(named)) fail(`the day is named "${named}"`);
  const zoneLine = await page.textContent('#day-zone');
  if (!zoneLine.includes(USER_ZONE)) fail(`the zone is not named: ${zoneLine}`);
  const items = await listItems(page);
  const segs = apiDay.segments;
  assertEqual(items.length, segs.length, 'items in the list');
  items.forEach((item, i) => {
    const s = segs[i];
    assertEqual(item.type, s.type, `item ${i}'s kind`);
    assertEqual(item.role, 'option', `item ${i}'s role`);
    if (item.tabindex === null) fail(`item ${i} cannot take focus`);
    // Times in Paris: "07:50 – 08:27"; one on another day says which ("Thu 2 May, 21:00").
    for (const [what, t] of [['start', s.start], ['end', s.end]]) {
      if (!item.time.includes(hhmm(t))) fail(`item ${i} (${item.time}) lacks its ${what} ${hhmm(t)} in ${USER_ZONE}`);
      if (dateOf(t) !== kd.day && !/[A-Z][a-z]{2} \d+ May/.test(item.time)) {
        fail(`item ${i} (${item.time}) does not say its ${what} is on another day`);
      }
    }
    if (s.type === 'trip') {
      const word = { walking: 'Walking', cycling: 'Cycling' }[s.mode] || '';
      if (!item.what.includes(word) || !/\d km|\d+ m\b/.test(item.what)) fail(`trip item ${i} says: ${item.what}`);
    }
    if (s.type === 'stay' && !item.what.includes(s.lat.toFixed(5))) fail(`stay item ${i} lacks its position: ${item.what}`);
  });
  // The six hours between the zones: the walk to work left at 07:50 in Paris, 01:50 in New York.
  const walk = items.find((it) => it.mode === 'walking');
  if (!walk.time.startsWith(hhmm(kd.truth[1].start).slice(0, 2))) fail(`the walk to work is shown at ${walk.time}`);
  const drawn = await page.evaluate(() => ({ ...window.wherelogMap.day.state, overlay: document.querySelectorAll('.leaflet-overlay-pane canvas').length }));
  assertEqual(drawn.zone, USER_ZONE, 'the zone the page uses');
  if (drawn.overlay < 1) fail('the day is not drawn on a canvas');
  await run.shot(page, '01-day');
});

await run.check("a device's popup opens today's timeline; a day without data says so", async () => {
  await settled(page, () => page.click('#show-all')); // the device's marker in view
  await page.click(`.pin[data-device="${KEY}"]`);
  await page.click('.leaflet-popup-content button:has-text("Open today’s timeline")');
  await waitIn(page, "today's timeline", (dates) => {
    const v = document.querySelector('#day-view');
    return v.dataset.state === 'ready' && dates.includes(v.dataset.date);
  }, [todayThere(), todayThere()]);
  assertEqual(await page.textContent('#day-summary'), 'No data this day.', "today's summary");
  assertEqual(await page.$$eval('#day-list > li', (l) => l.length), 0, "today's items");
  await openDay(page, KEY, kd.day);
});

await run.check('local days in a zone: 23 and 25 hours when clocks change, and a skipped midnight', async () => {
  const got = await page.evaluate(async () => {
    const zone = await import('/zone.js');
    return [['Europe/Paris', '2024-03-31'], ['Europe/Paris', '2024-10-27'], ['America/Santiago', '2024-09-08'],
      ['Asia/Tokyo', '2024-05-03']].map(([z, d]) => zone.dayBounds(z, d));
  });
  const want = [['2024-03-30T23:00Z', '2024-03-31T22:00Z'], ['2024-10-26T22:00Z', '2024-10-27T23:00Z'],
    ['2024-09-08T04:00Z', '2024-09-09T03:00Z'], ['2024-05-02T15:00Z', '2024-05-03T15:00Z']]
    .map((pair) => pair.map((t) => Date.parse(t) / 1000));
  assertEqual(JSON.stringify(got), JSON.stringify(want), 'day bounds');
});

await run.check('previous and next, and the keyboard shortcuts, change the day', async () => {
  await page.click('#day-next');
  await dayShown(page, kd.after);
  const after = await listItems(page);
  const open = after.at(-1);
  if (after[0].type !== 'stay' || !/Fri 3 May/.test(after[0].time)) fail(`4 May does not begin with the night's stay: ${after[0].time}`);
  if (!/not over yet/.test(open.what)) fail(`the last stay, still open, does not say so: ${open.what}`);
  await page.click('#day-prev');
  await dayShown(page, kd.day);
  // Keys, with the focus outside any field: ← → [ ] and t.
  await page.click('#day-head');
  await page.keyboard.press('ArrowLeft');
  await dayShown(page, kd.before);
  await page.keyboard.press(']');
  await dayShown(page, kd.day);
  await page.keyboard.press('ArrowRight');
  await dayShown(page, kd.after);
  await page.keyboard.press('[');
  await dayShown(page, kd.day);
  const today = todayThere();
  await page.keyboard.press('t');
  await waitIn(page, "today's date in the user's zone", (dates) => {
    const v = document.querySelector('#day-view');
    return v.dataset.state === 'ready' && dates.includes(v.dataset.date);
  }, [today, todayThere()]);
  // Typing in a field is not a shortcut: 't' in the date field leaves the day, and then ']'
  // outside it steps from the day typed.
  await page.fill('#day-date', kd.day);
  await dayShown(page, kd.day);
  await page.focus('#day-date');
  await page.keyboard.press('t');
  await page.click('#day-head');
  await page.keyboard.press(']');
  await dayShown(page, kd.after);
  await page.keyboard.press('[');
  await dayShown(page, kd.day);
});

await run.check('picking an item highlights it on the map, and clicking the map picks the item', async () => {
  const items = await listItems(page);
  const walk = items.findIndex((it) => it.mode === 'walking');
  const cycle = items.findIndex((it) => it.mode === 'cycling');
  const shop = cycle + 1; // the stay the ride ended at
  assertEqual(items[shop]?.type, 'stay', 'the item after the ride');
  await settled(page, () => page.click(`#seg-${walk}`));
  assertEqual(await page.getAttribute(`#seg-${walk}`, 'aria-selected'), 'true', 'the walk item, selected');
  assertEqual(await page.$$eval('#day-list [aria-selected="true"]', (l) => l.length), 1, 'items selected');
  assertEqual(JSON.stringify(await page.evaluate(() => window.wherelogMap.day.highlighted())), `[${walk}]`,
    'segments highlighted on the map');
  if (!(await page.evaluate((i) => window.wherelogMap.day.inView(i), walk))) fail('the map does not show the walk');
  // The arrow keys move in the list, and the map follows.
  await page.keyboard.press('ArrowDown');
  await waitIn(page, 'the next item to be selected', (i) =>
    document.querySelector(`#seg-${i}`).getAttribute('aria-selected') === 'true'
      && document.activeElement?.id === `seg-${i}`, walk + 1);
  assertEqual(JSON.stringify(await page.evaluate(() => window.wherelogMap.day.highlighted())), `[${walk + 1}]`,
    'highlighted after ArrowDown');
  await run.shot(page, '02-selected');

  // Back to the whole day, then the ride's line and the shop's stay, clicked on the map.
  await settled(page, () => page.click('#day-form button[type=submit]'));
  await dayShown(page, kd.day);
  for (const i of [cycle, shop]) {
    await quiet(page);
    const xy = await page.evaluate((k) => {
      const { map, day } = window.wherelogMap;
      const p = map.latLngToContainerPoint(day.anchor(k));
      const r = map.getContainer().getBoundingClientRect();
      return { x: r.left + p.x, y: r.top + p.y };
    }, i);
    await page.mouse.click(xy.x, xy.y);
    await waitIn(page, `item ${i} to be selected by a click on the map`, (k) =>
      document.querySelector(`#seg-${k}`)?.getAttribute('aria-selected') === 'true', i);
    assertEqual(JSON.stringify(await page.evaluate(() => window.wherelogMap.day.highlighted())), `[${i}]`,
      `highlighted after a click on segment ${i}`);
  }
  await run.shot(page, '03-map-click');
});

await run.check('the calendar marks the days with data and opens a day', async () => {
  await page.click('#day-cal');
  assertEqual(await page.getAttribute('#day-cal', 'aria-expanded'), 'true', 'the calendar button, expanded');
  await waitIn(page, 'May 2024 in the calendar', () => {
    const c = document.querySelector('#calendar');
    return c.dataset.state === 'ready' && c.dataset.month === '2024-05';
  });
  const cells = Object.fromEntries(await page.$$eval('.cal-day', (bs) => bs.map((b) =>
    [b.dataset.date, { shade: Number(b.dataset.shade), distance: Number(b.dataset.distance),
      current: b.getAttribute('aria-current'), label: b.getAttribute('aria-label'), figure: b.querySelector('.cal-km').textContent }])));
  assertEqual(Object.keys(cells).length, 31, 'days in May');
  for (const d of [kd.before, kd.day, kd.after]) if (!(cells[d].shade > 0)) fail(`${d} is not marked as having data`);
  for (const d of ['2024-05-01', '2024-05-05', '2024-05-20']) assertEqual(cells[d].shade, 0, `shade of ${d}, without data`);
  const moved = cells[kd.day];
  if (!(moved.distance > 3000)) fail(`3 May's distance is ${moved.distance} m`);
  if (!/\d/.test(moved.figure) || !/km/.test(moved.label)) fail(`3 May's figure: "${moved.figure}", label: ${moved.label}`);
  assertEqual(moved.current, 'date', 'the day shown, marked current');
  if (!(moved.shade >= cells[kd.before].shade)) fail('the day that moved most is shaded lighter than the evening before it');
  const unnamed = await page.$$eval('#day button', (bs) => bs.filter((b) =>
    !(b.getAttribute('aria-label') || b.textContent.trim())).map((b) => b.outerHTML));
  if (unnamed.length) fail(`buttons without a name:\n${unnamed.join('\n')}`);
  if (!(await page.$eval(`.cal-day[data-date="${kd.day}"]`, (b) => /May 2024/.test(b.getAttribute('aria-label'))))) {
    fail('a day of the calendar does not say which it is');
  }
  await run.shot(page, '04-calendar');
  await page.click(`.cal-day[data-date="${kd.after}"]`);
  await dayShown(page, kd.after);
  await waitIn(page, 'the calendar to mark the day opened', (d) =>
    document.querySelector(`.cal-day[data-date="${d}"]`)?.getAttribute('aria-current') === 'date', kd.after);
  // Another month: no data in April.
  await page.click('#calendar button[aria-label="Previous month"]');
  await waitIn(page, 'April 2024', () => {
    const c = document.querySelector('#calendar');
    return c.dataset.state === 'ready' && c.dataset.month === '2024-04';
  });
  assertEqual(await page.$$eval('.cal-day:not([data-shade="0"])', (l) => l.length), 0, 'April days with data');
  // The year: May alone has data; picking it shows its days.
  await page.click('#calendar .cal-zoom');
  await waitIn(page, 'the year 2024', () => {
    const c = document.querySelector('#calendar');
    return c.dataset.state === 'ready' && c.dataset.mode === 'year' && c.dataset.month === '2024';
  });
  const months = await page.$$eval('.cal-day', (bs) => bs.map((b) => [b.dataset.month, Number(b.dataset.shade)]));
  assertEqual(months.length, 12, 'months in the year');
  await run.shot(page, '05-year');
  assertEqual(months.filter(([, shade]) => shade > 0).map(([m]) => m).join(' '), '2024-05', 'months with data');
  await page.click('.cal-day[data-month="2024-05"]');
  await waitIn(page, 'May 2024 again', () => {
    const c = document.querySelector('#calendar');
    return c.dataset.state === 'ready' && c.dataset.mode === 'month' && c.dataset.month === '2024-05';
  });
  await page.click('#day-cal');
  if (await page.isVisible('#calendar')) fail('the calendar does not close');
});

await run.check('a stay or trip that opens or closes updates the day shown, live', async () => {
  await page.evaluate(() => { window.__sameDocument = true; });
  const before = await listItems(page);
  const park = before.at(-1);
  if (!/not over yet/.test(park.what)) fail(`the park stay is not open before the walk home: ${park.what}`);
  await run.publish(kd.later.map((p) => loc(USER, DEVICE, p)));
  await waitIn(page, 'the walk home to be listed', (n) => {
    const v = document.querySelector('#day-view');
    const items = document.querySelectorAll('#day-list > li');
    return v.dataset.state === 'ready' && items.length >= n + 2 && items[n]?.dataset.type === 'trip';
  }, before.length);
  const after = await listItems(page);
  if (/not over yet/.test(after[before.length - 1].what)) fail('the park stay is still open after the walk home');
  assertEqual(after[before.length].mode, 'walking', 'the mode of the walk home');
  assertEqual(after.at(-1).type, 'stay', 'the last item, at home');
  if (!(await page.evaluate(() => window.__sameDocument))) fail('the page reloaded');
});

await run.check('a phone screen (390x844) shows the day list usable', async () => {
  const phone = await run.newPage({ viewport: { width: 390, height: 844 } });
  await phone.goto(`${base}/`);
  await waitIn(phone, 'the device to be listed', (k) =>
    [...document.querySelectorAll('#day-device option')].some((o) => o.value === k), KEY);
  await phone.click('#panel-toggle');
  await openDay(phone, KEY, kd.day);
  await phone.locator('#seg-2').scrollIntoViewIfNeeded();
  const items = await listItems(phone);
  for (const [i, it] of items.entries()) if (it.height < 44) fail(`item ${i} is ${it.height} px tall: too small for a finger`);
  for (const id of ['#day-prev', '#day-next', '#day-cal']) {
    const box = await phone.locator(id).boundingBox();
    if (box.height < 44 || box.width < 44) fail(`${id} is ${box.width}x${box.height}: too small for a finger`);
  }
  const fit = await phone.evaluate(() => {
    const p = document.querySelector('#panel');
    const r = p.getBoundingClientRect();
    const body = document.querySelector('#panel-body');
    return { left: r.left, right: r.right, overflow: body.scrollWidth - body.clientWidth };
  });
  if (fit.left < 0 || fit.right > 390 || fit.overflow > 0) fail(`the panel does not fit the screen: ${JSON.stringify(fit)}`);
  if (!(await phone.isVisible('#seg-2'))) fail('the list cannot be brought into view');
  await settled(phone, () => phone.click('#seg-2'));
  assertEqual(await phone.getAttribute('#seg-2', 'aria-selected'), 'true', 'the item tapped, selected');
  // The map above the sheet shows what was picked.
  if (!(await phone.evaluate(() => window.wherelogMap.day.inView(2)))) fail('the map does not show the item picked');
  await run.shot(phone, '07-phone');
  if (phone.errors.length) fail(`console errors:\n${describe(phone.errors)}`);
  await phone.close();
});

await run.check('a day of 50,000 points is drawn and the page stays responsive', async () => {
  await run.run(WL_FILL, [run.store, USER, 'big', String(BIG_POINTS), String(BIG_START), '1']);
  const [s, e] = [BIG_START, BIG_START + BIG_POINTS];
  await until('the 50,000 points to be readable', async () =>
    (await api(`/api/0/locations?user=${USER}&device=big&from=${s}&to=${e}&fields=tst&limit=1`)).count >= 1);
  await page.reload();
  await waitIn(page, 'the big device to be listed', () =>
    [...document.querySelectorAll('#day-device option')].some((o) => o.value === 'kim/big'));
  await page.selectOption('#day-device', 'kim/big');
  await page.fill('#day-date', BIG_DAY);
  const started = Date.now();
  await page.click('#day-form button[type=submit]');
  await dayShown(page, BIG_DAY);
  const wall = Date.now() - started;
  const drawn = await page.evaluate(() => {
    const v = document.querySelector('#day-view').dataset;
    return { points: Number(v.drawn), segments: Number(v.segments), drawMs: Number(v.drawMs),
      elements: document.querySelectorAll('.leaflet-overlay-pane *, .leaflet-marker-pane *').length };
  });
  console.log(`# 50,000 points: drawn ${drawn.points} points in ${drawn.segments} segments; `
    + `layers to painted ${drawn.drawMs.toFixed(0)} ms, click to drawn ${wall} ms`);
  assertEqual(drawn.points, BIG_POINTS, 'points drawn');
  if (!(drawn.segments > 0)) fail('no segment in the day');
  // One canvas, not an element per point (the device markers are a few elements each).
  if (drawn.elements > 50) fail(`${drawn.elements} elements on the map for the day`);
  // The page answers: a zoom, then a pick in the list.
  await quiet(page);
  const zoom = await page.evaluate(() => window.wherelogMap.map.getZoom());
  await settled(page, () => page.click('.leaflet-control-zoom-in'));
  assertEqual(await page.evaluate(() => window.wherelogMap.map.getZoom()), zoom + 1, 'zoom after a click on +');
  await page.click('#seg-0');
  await waitIn(page, 'the first item to be selected', () =>
    document.querySelector('#seg-0').getAttribute('aria-selected') === 'true');
  await run.shot(page, '08-big');
});

await run.check('a stay named from the day list becomes a place, and the list names it (places.js)', async () => {
  await openDay(page, KEY, kd.day);
  const id = await page.evaluate(() => document.querySelector('#day-list .name-stay')?.closest('li')?.id);
  if (!id) fail('no stay offers to be named');
  const start = Number(await page.getAttribute(`#${id}`, 'data-start'));
  const button = page.locator(`#${id} .name-stay`);
  const name = 'Home <i>sweet</i>';
  await button.click();
  await page.fill(`#${id} .name-input`, name);
  await page.press(`#${id} .name-input`, 'Enter');
  await waitIn(page, 'the stay to be named after the day reloads', ([sel, n]) => {
    const strong = document.querySelector(`${sel} .seg-what strong`);
    return strong && strong.textContent === n;
  }, [`#${id}`, name]);
  if (await page.$('#day-list i')) fail('a place name was parsed as HTML');
  const places = await page.evaluate(async (u) => (await fetch(`/api/0/places?user=${u}`)).json(), USER);
  const made = places.places.find((p) => p.name === name);
  if (!made) fail(`no such place in the API: ${JSON.stringify(places)}`);
  const visits = await page.evaluate(async ([u, pid]) =>
    (await fetch(`/api/0/visits?user=${u}&place=${pid}`)).json(), [USER, made.id]);
  if (!visits.visits.some((v) => v.start === start)) fail(`the stay is not a visit of the place: ${JSON.stringify(visits)}`);
  await run.shot(page, '09-named-stay');
  const status = await page.evaluate(async (pid) => (await fetch(`/api/0/places/${pid}`, { method: 'DELETE' })).status, made.id);
  assertEqual(status, 200, 'deleting the place');
});

await run.check('the day lists its events at their times, a place name as text, and a live one arrives', async () => {
  // Another device of the user, on another day: a morning at home, then the café, whose name
  // holds characters that HTML would take for markup.
  const key = `${USER}/tablet`;
  const date = '2024-05-10';
  const cafe = 'Café "<b>Nord</b>"';
  const at = (h, mi) => Date.UTC(2024, 4, 10, h, mi) / 1000 - USER_OFFSET_H * 3600;
  const CAFE = { lat: 48.87, lon: 2.34 };
  await run.run(WHERELOG, ['place', 'add', '--storage', run.store, '--user', USER, '--name', cafe,
    '--lat', String(CAFE.lat), '--lon', String(CAFE.lon), '--radius', '80']);
  const fixes = [];
  for (let m = 0; m <= 20; m += 4) fixes.push({ lat: 48.85, lon: 2.34, tst: at(8, m), acc: 10, batt: 80, tid: 'TB' });
  for (let m = 40; m <= 100; m += 4) {
    fixes.push({ ...CAFE, tst: at(8 + Math.floor(m / 60), m % 60), acc: 10, batt: 80, tid: 'TB' });
  }
  await run.publish(fixes.map((p) => loc(USER, 'tablet', p)));
  await until('the café to be entered', async () => {
    const [start, end] = bounds(date);
    const tl = await api(`/api/0/timeline?user=${USER}&device=tablet&from=${start}&to=${end - 1}`);
    return tl.events.some((e) => e.kind === 'place_entered');
  });
  await page.goto(`${base}/`);
  await waitIn(page, 'the tablet to be listed', (k) =>
    [...document.querySelectorAll('#day-device option')].some((o) => o.value === k), key);
  await openDay(page, key, date);
  const events = () => page.$$eval('#day-list .day-event', (items) => items.map((li) => ({
    kind: li.dataset.kind, time: li.querySelector('time').textContent, text: li.textContent,
    item: li.closest('#day-list > li')?.dataset.type ?? null,
  })));
  const entered = (await events()).find((e) => e.kind === 'place_entered');
  if (!entered) fail(`no place entered in the list: ${JSON.stringify(await events())}`);
  assertEqual(entered.time, '08:40', 'the time the café was entered, in the user\'s zone');
  assertEqual(entered.text, `08:40 Entered ${cafe}`, 'the event\'s line');
  assertEqual(entered.item, 'stay', 'the segment the entry is listed in');
  if (await page.$('#day-list b')) fail('a place name was parsed as HTML');
  if ((await events()).some((e) => e.kind === 'battery_low')) fail('a low battery before there was one');
  await run.shot(page, '10-events');

  // A fix in the café with a low battery: the stay goes on (no segment opens or closes), the
  // live "event" alone makes the day list it.
  await run.publish([loc(USER, 'tablet', { ...CAFE, tst: at(9, 44), acc: 10, batt: 15, tid: 'TB' })]);
  await waitIn(page, 'the live low battery to be listed', () =>
    [...document.querySelectorAll('#day-list .day-event-battery_low')]
      .some((li) => li.textContent === '09:44 Battery low (15 %)'));
});

await run.check('no console errors', async () => {
  if (page.errors.length) fail(describe(page.errors));
});

await run.finish();
