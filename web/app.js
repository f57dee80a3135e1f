// wherelog's web map: each device's last position, kept live through Server-Sent Events, and
// a device's track over a range of days (history.js). Plain ES modules on top of Debian's
// Leaflet, no build step, no inline script: the page works under a strict CSP
// (default-src 'self'; img-src 'self' data: <tile host>).
//
// Test hook (tests/browser/map.test.mjs): each device marker's element carries
// data-device="user/device", data-lat, data-lon, data-tst and data-stale; #track-summary
// carries data-in-range and data-drawn; #day-view carries data-state, data-date, data-zone,
// data-segments, data-selected and data-drawn; window.wherelogMap is { map, history, day,
// summary } (the Leaflet map and the controllers of history.js, dayview.js and summary.js), read
// by the tests and by nothing else.

import {
  $, el, fitBounds, ApiError, apiUrl, getJSON, deviceKey, labelOf, initialsOf, faceUrl, hueOf, detailRows,
  relativeTime, absoluteTime, isoTime, formatDuration, nowSeconds,
} from './util.js';
import { createHistory } from './history.js';
import { createSharing } from './sharing.js';
import { createPlaces } from './places.js';
import { createDayView } from './dayview.js';
import { createSummary } from './summary.js';

const L = window.L;

/** A device silent for longer than this is shown as stale: dimmed, and its popup says so. */
const STALE_AFTER_S = 60 * 60;
/** How often relative times ("3 min ago") and staleness are brought up to date. */
const TICK_MS = 30 * 1000;
/** How long to wait before opening the event stream again when the browser gave up on it. */
const STREAM_RETRY_MS = 5 * 1000;
/** How long to wait before trying the first load again when the server cannot be reached. */
const START_RETRY_MS = 5 * 1000;
/** Never zoom closer than this to show devices (a single device would fill the screen). */
const FIT_MAX_ZOOM = 16;
/** Phones: the panel starts collapsed and collapses after a device is picked. */
const phone = window.matchMedia('(max-width: 640px)');

// ------------------------------------------------------------------ status line

/** The status line shows one message per topic (API, stream, tiles); none hides it. */
const status = (() => {
  const messages = new Map();
  const node = $('#status');
  return {
    set(topic, text, level = 'warn') {
      if (text) messages.set(topic, { text, level });
      else messages.delete(topic);
      node.replaceChildren(...[...messages.values()].map((m) => el('span', { class: m.level }, m.text)));
      node.hidden = messages.size === 0;
    },
  };
})();

function setLive(state, text) {
  const node = $('#live');
  node.dataset.state = state;
  node.textContent = text;
}

// ------------------------------------------------------------------ panel

const panel = {
  toggle: $('#panel-toggle'),
  body: $('#panel-body'),
  setOpen(open) {
    this.toggle.setAttribute('aria-expanded', String(open));
    this.toggle.textContent = open ? 'Hide' : 'Show';
    this.body.hidden = !open;
    document.body.classList.toggle('panel-closed', !open);
  },
  isOpen() {
    return this.toggle.getAttribute('aria-expanded') === 'true';
  },
  /** fitBounds padding: room for the markers' labels, and for the panel where it covers the map. */
  padding() {
    const p = $('#panel').getBoundingClientRect();
    const m = $('#map').getBoundingClientRect();
    const side = Math.min(70, m.width / 10); // half a name's width, less on a phone
    const pad = { paddingTopLeft: [side, 40], paddingBottomRight: [side, 50] };
    if (p.width === 0 || p.height === 0) return pad;
    if (p.bottom >= m.bottom - 2 && p.top > m.top + 40 && p.width > m.width * 0.8) {
      pad.paddingBottomRight[1] += Math.max(0, m.bottom - p.top); // a bottom sheet
    } else if (p.left <= m.left + 40 && p.right < m.right - 100) {
      pad.paddingTopLeft[0] += Math.max(0, p.right - m.left); // a side panel
    }
    return pad;
  },
};

// ------------------------------------------------------------------ the devices now

/**
 * user/device → { dev, marker, circle, pin, button, item, meta, look, updated, cardTicket }:
 * dev is the newest /api/0/last object, pin the marker's contents, item the list entry (an <li>
 * around button), meta its line of details, look what the badges and names were built from,
 * updated when dev was last taken in (performance.now()), cardTicket the number of the latest
 * card request (onCard).
 */
const devices = new Map();
let map;
let historyView; // history.js's controller
let dayView; // dayview.js's controller
// The view follows the devices (fits them all as they load and as new ones appear) until the
// person takes over: drags, zooms, opens a popup or shows a track. "Show all" fits once more.
let autoFit = true;
let loaded = false; // the first /api/0/last answered: only then can the store be called empty

const isStale = (dev) => nowSeconds() - dev.tst > STALE_AFTER_S;

/** The badge: the card's face when it is a valid image, else initials on the device colour. */
function badge(dev) {
  const face = faceUrl(dev.face);
  const b = el('span', { class: 'badge', 'aria-hidden': 'true' });
  b.style.setProperty('--hue', hueOf(deviceKey(dev)));
  if (face) b.append(el('img', { src: face, alt: '' }));
  else b.append(initialsOf(dev));
  return b;
}

/**
 * Brings a device's marker, list entry and test-hook attributes up to date, in place (so that
 * keyboard focus stays put); the badges and names are rebuilt only when they change.
 */
function renderDevice(entry) {
  const { dev, pin, marker, circle, button } = entry;
  const stale = isStale(dev);
  const label = labelOf(dev);
  const look = `${label}\n${initialsOf(dev)}\n${dev.face || ''}`;
  if (entry.look !== look) {
    entry.look = look;
    pin.replaceChildren(badge(dev), el('span', { class: 'label' }, label));
    entry.meta = el('span', { class: 'device-meta' });
    button.replaceChildren(badge(dev),
      el('span', { class: 'device-text' }, el('span', { class: 'device-name' }, label), entry.meta));
  }
  entry.meta.replaceChildren(`${dev.username}/${dev.device} · ${relativeTime(dev.tst)}`,
    stale ? el('span', { class: 'stale-tag' }, 'stale') : '');
  button.classList.toggle('stale', stale);
  pin.classList.toggle('stale', stale);
  Object.assign(pin.dataset, {
    device: deviceKey(dev), lat: dev.lat, lon: dev.lon, tst: dev.tst, stale: String(stale),
  });
  const icon = marker.getElement();
  if (icon) {
    icon.setAttribute('aria-label', `${label}, ${relativeTime(dev.tst)}${stale ? ', stale' : ''}`);
    icon.title = label;
  }
  circle.setStyle({ opacity: stale ? 0.25 : 0.6, fillOpacity: stale ? 0.04 : 0.1 });
  if (marker.isPopupOpen()) marker.setPopupContent(popupFor(dev));
}

function popupFor(dev) {
  const stale = isStale(dev);
  return el('div', { class: 'popup' },
    el('h3', {}, labelOf(dev)),
    el('p', { class: 'who' }, `${dev.username} / ${dev.device}`),
    stale ? el('p', { class: 'stale-note' },
      `Stale: no news for ${formatDuration(nowSeconds() - dev.tst)}; the device may have moved.`) : null,
    el('dl', {},
      el('dt', {}, 'Time'),
      el('dd', {},
        el('span', { class: 'relative' }, relativeTime(dev.tst)), el('br'),
        el('time', { datetime: isoTime(dev.tst) }, absoluteTime(dev.tst, dev.tzname))),
      detailRows(dev).flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])),
    el('button', {
      type: 'button', class: 'link',
      onclick: () => {
        panel.setOpen(true); // where the counts and downloads show
        dayView.clear();
        historyView.show(deviceKey(dev), 'today');
      },
    }, 'Show today’s track'),
    el('br'),
    el('button', {
      type: 'button', class: 'link',
      onclick: () => {
        panel.setOpen(true); // where the day's list shows
        dayView.show(deviceKey(dev), dayView.today(deviceKey(dev)));
      },
    }, 'Open today’s timeline'));
}

function addDevice(dev) {
  const key = deviceKey(dev);
  const latlng = [dev.lat, dev.lon];
  const pin = el('div', { class: 'pin' });
  const hue = hueOf(key);
  const button = el('button', { type: 'button', class: 'device' });
  const entry = {
    dev,
    pin,
    button,
    item: el('li', {}, button),
    circle: L.circle(latlng, {
      radius: dev.acc > 0 ? dev.acc : 0, interactive: false, weight: 1,
      color: `hsl(${hue} 60% 40%)`, fillColor: `hsl(${hue} 60% 50%)`,
    }),
    marker: L.marker(latlng, {
      icon: L.divIcon({
        className: 'device-marker', html: pin, iconSize: [36, 36], iconAnchor: [18, 18],
        popupAnchor: [0, -20],
      }),
      keyboard: true, riseOnHover: true,
    }),
  };
  button.addEventListener('click', () => focusDevice(entry));
  entry.marker.bindPopup(() => popupFor(entry.dev), { maxWidth: 280, minWidth: 200 });
  // Leaflet makes the marker focusable (Enter opens its popup); say what it is.
  entry.marker.on('add', () => {
    entry.marker.getElement().setAttribute('role', 'button');
    renderDevice(entry);
  });
  entry.circle.addTo(map);
  entry.marker.addTo(map);
  devices.set(key, entry);
  renderDevice(entry);
  renderList();
  return entry;
}

/** The list in the panel, by label; also the history form's choice of devices. */
function renderList() {
  const sorted = [...devices.values()].sort((a, b) =>
    labelOf(a.dev).localeCompare(labelOf(b.dev)) || deviceKey(a.dev).localeCompare(deviceKey(b.dev)));
  $('#devices').replaceChildren(...sorted.map((e) => e.item));
  const choices = sorted.map((e) => ({ key: deviceKey(e.dev), label: labelOf(e.dev) }));
  historyView.setDevices(choices);
  dayView.setDevices(choices);
  if (loaded) setEmpty(devices.size === 0);
}

/**
 * Takes in a /api/0/last object (from the API or the stream). A point older than the one shown
 * never moves the marker back, and stream objects carry no card, so the name and face known are
 * kept; unless authoritative (a full reload, after which the server's word is final: points
 * and cards may have been deleted).
 */
function upsert(dev, authoritative = false) {
  if (typeof dev.lat !== 'number' || typeof dev.lon !== 'number' || !dev.username) return null;
  const key = deviceKey(dev);
  const entry = devices.get(key) || addDevice(dev);
  const old = entry.dev;
  const newer = authoritative || dev.tst >= old.tst;
  const merged = newer ? { ...dev } : { ...old };
  if (!authoritative) for (const k of ['name', 'face']) merged[k] = dev[k] ?? old[k];
  const labelChanged = labelOf(merged) !== labelOf(old);
  entry.dev = merged;
  entry.updated = performance.now();
  if (newer) {
    entry.marker.setLatLng([merged.lat, merged.lon]);
    entry.circle.setLatLng([merged.lat, merged.lon]);
    entry.circle.setRadius(merged.acc > 0 ? merged.acc : 0);
  }
  renderDevice(entry);
  if (labelChanged) renderList();
  scheduleDeclutter();
  return entry;
}

function removeDevice(entry) {
  entry.marker.remove();
  entry.circle.remove();
  devices.delete(deviceKey(entry.dev));
  scheduleDeclutter();
}

function focusDevice(entry) {
  if (phone.matches) panel.setOpen(false);
  map.setView(entry.marker.getLatLng(), Math.max(map.getZoom(), 15));
  entry.marker.openPopup();
}

/**
 * Hides the name of a device where it would cover another device's badge or name: the most
 * recent devices keep theirs. (A family at home would otherwise be a pile of labels.) The
 * name shows again on hover and focus, and is always in the list and the popup.
 */
function declutter() {
  const entries = [...devices.values()].sort((a, b) => b.dev.tst - a.dev.tst);
  const at = entries.map((e) => map.latLngToLayerPoint(e.marker.getLatLng()));
  const placed = [];
  entries.forEach((e, i) => {
    const label = e.pin.lastChild;
    const half = label.offsetWidth / 2;
    const box = { left: at[i].x - half, right: at[i].x + half, top: at[i].y + 20, bottom: at[i].y + 40 };
    const overlaps = (o) => o.left < box.right && o.right > box.left && o.top < box.bottom && o.bottom > box.top;
    const crowded = at.some((p, j) => j !== i && overlaps({ left: p.x - 18, right: p.x + 18, top: p.y - 18, bottom: p.y + 18 }))
      || placed.some(overlaps);
    label.classList.toggle('crowded', crowded);
    if (!crowded) placed.push(box);
  });
}

let declutterFrame = 0;
function scheduleDeclutter() {
  if (!declutterFrame) declutterFrame = requestAnimationFrame(() => { declutterFrame = 0; declutter(); });
}

/** Zooms to show every device. */
function fitDevices() {
  const all = [...devices.values()].map((e) => e.marker.getLatLng());
  if (all.length === 0) return;
  fitBounds(map, L.latLngBounds(all), { ...panel.padding(), maxZoom: FIT_MAX_ZOOM });
}

/** No device yet: the first-run panel instead of an empty map. */
function setEmpty(empty) {
  const was = document.body.classList.contains('empty');
  document.body.classList.toggle('empty', empty);
  $('#welcome').hidden = !empty;
  if (was && !empty) {
    map.invalidateSize();
    fitDevices();
  }
}

function fillWelcome(config) {
  const origin = window.location.origin;
  $('#w-http-url').textContent = origin + (config.http?.pub || '/pub');
  const mqtt = config.mqtt;
  $('#w-mqtt').hidden = !mqtt;
  $('#w-mqtt-off').hidden = Boolean(mqtt);
  if (mqtt) {
    $('#w-mqtt-host').textContent = mqtt.host;
    $('#w-mqtt-port').textContent = String(mqtt.port);
    const loopback = /^(localhost|127\.|::1$|\[::1\]$|0\.0\.0\.0$)/i.test(mqtt.host);
    $('#w-mqtt-lan').hidden = !loopback;
  }
}

// ------------------------------------------------------------------ loading and live updates

/**
 * Loads every device's last position: at start, after the stream was interrupted, and on
 * "reset". Devices no longer listed (deleted) go away.
 */
async function refreshLast() {
  const started = performance.now();
  try {
    const list = await getJSON('/api/0/last');
    const listed = new Set();
    for (const dev of list) {
      const entry = devices.get(deviceKey(dev));
      // A stream event that came in meanwhile is newer than this answer.
      if (upsert(dev, !entry || entry.updated < started)) listed.add(deviceKey(dev));
    }
    for (const [key, entry] of devices) {
      if (!listed.has(key) && entry.updated < started) removeDevice(entry); // deleted
    }
    loaded = true;
    renderList();
    status.set('api', null);
    if (autoFit) fitDevices();
  } catch (e) {
    status.set('api', `Cannot load positions: ${e.message}`, 'error');
    if (!loaded) setTimeout(refreshLast, START_RETRY_MS);
  }
}

/** The server's data changed beyond new points (a deletion) or we fell behind: reload it all. */
function onReset() {
  refreshLast();
  historyView.reload();
  dayView.reload();
}

/** A device first seen on the stream: its card (name, face) comes only with /api/0/last. */
async function fetchCard(dev) {
  try {
    const [full] = await getJSON(apiUrl('/api/0/last', { user: dev.username, device: dev.device }));
    if (full) upsert(full);
  } catch (e) {
    status.set('api', `Cannot load ${dev.username}/${dev.device}: ${e.message}`, 'error');
  }
}

/**
 * A card just stored: the device's name and face change in place. The event has no face (it
 * can be large), so the device's /api/0/last brings both; a device not on the map yet gets its
 * card with its first location.
 */
async function onCard(event) {
  let card;
  try {
    card = JSON.parse(event.data);
  } catch {
    return;
  }
  const asked = devices.get(deviceKey(card));
  if (!asked) return;
  // Two cards in a row may be answered out of order: only the newest request's answer counts.
  const ticket = (asked.cardTicket || 0) + 1;
  asked.cardTicket = ticket;
  try {
    const [full] = await getJSON(apiUrl('/api/0/last', { user: card.username, device: card.device }));
    const entry = devices.get(deviceKey(card));
    if (!full || !entry || entry.cardTicket !== ticket) return;
    entry.dev = { ...entry.dev, name: full.name, face: full.face };
    renderDevice(entry);
    renderList();
  } catch (e) {
    status.set('api', `Cannot load ${card.username}/${card.device}: ${e.message}`, 'error');
  }
}

function onLocation(event) {
  let dev;
  try {
    dev = JSON.parse(event.data);
  } catch {
    return; // not ours to show; the next event or reload repairs the view
  }
  const known = devices.has(deviceKey(dev));
  const entry = upsert(dev);
  if (!entry) return;
  if (!known) {
    fetchCard(dev);
    if (autoFit) fitDevices();
  }
  historyView.onLive(dev);
  dayView.onLive(dev);
}

/** A stay or trip opened or closed: the day view and calendar showing that device follow. */
function onTimeline(event) {
  let change;
  try {
    change = JSON.parse(event.data);
  } catch {
    return; // not ours to show; the next event or reload repairs the view
  }
  dayView.onTimeline(change);
}

/** A derived event (a place entered, a low battery...): the day view showing that day lists it. */
function onDerivedEvent(event) {
  let ev;
  try {
    ev = JSON.parse(event.data);
  } catch {
    return; // not ours to show
  }
  dayView.onEvent(ev);
}

/**
 * The live stream. EventSource reconnects by itself after a dropped connection; when the
 * server answered with an error it gives up (CLOSED), and we open a new one after a pause.
 * After any interruption the positions are reloaded, since events may have been missed.
 */
function connectStream() {
  let interrupted = false;
  const open = () => {
    const es = new EventSource('/api/0/stream');
    es.addEventListener('open', () => {
      setLive('live', 'Live');
      status.set('stream', null);
      if (interrupted) {
        interrupted = false;
        onReset(); // events may have been missed meanwhile
      }
    });
    es.addEventListener('location', onLocation);
    es.addEventListener('card', onCard);
    es.addEventListener('timeline', onTimeline);
    es.addEventListener('event', onDerivedEvent);
    es.addEventListener('reset', onReset);
    es.addEventListener('error', () => {
      interrupted = true;
      setLive('down', 'Reconnecting…');
      status.set('stream', 'Live updates interrupted; reconnecting…');
      if (es.readyState === EventSource.CLOSED) setTimeout(open, STREAM_RETRY_MS);
    });
  };
  open();
}

function createMap(config) {
  const tiles = config.tiles || {};
  // The server always sends it (tile-max-zoom; its default lives in config.h alone).
  const { maxZoom } = tiles;
  const m = L.map('map', { maxZoom, worldCopyJump: true }).setView([30, 0], 2);
  m.zoomControl.setPosition('topright'); // the panel is on the left
  L.control.scale({ position: 'bottomright', imperial: false }).addTo(m);
  if (tiles.url) {
    // The attribution is the server's setting (HTML, e.g. a link to the licence), never phone data.
    const layer = L.tileLayer(tiles.url, { attribution: tiles.attribution || '', maxZoom });
    let failed = 0;
    layer.on('loading', () => { failed = 0; });
    layer.on('tileerror', () => {
      failed += 1;
      status.set('tiles', 'Map tiles cannot be loaded; positions and tracks still work.');
    });
    layer.on('load', () => { if (failed === 0) status.set('tiles', null); });
    layer.addTo(m);
  }
  return m;
}

async function start() {
  let config;
  try {
    config = await getJSON('/api/0/config');
  } catch (e) {
    status.set('api', `${e instanceof ApiError ? e.message : e}; trying again…`, 'error');
    setTimeout(start, START_RETRY_MS);
    return;
  }
  status.set('api', null);
  fillWelcome(config);
  map = createMap(config);
  historyView = createHistory({ map, status, padding: () => panel.padding() });
  const sharing = createSharing({ history: historyView, status });
  const takeOver = () => { autoFit = false; };
  // One track at a time: a day clears the History track, and a History track the day.
  const places = createPlaces({ map, status, user: config.user });
  dayView = createDayView({
    map, status, phone, padding: () => panel.padding(), nameStay: places.nameStay,
    beforeShow: () => {
      takeOver();
      historyView.clear();
    },
  });
  $('#history-form').addEventListener('submit', () => dayView.clear());
  const summaryView = createSummary({ map, status });
  window.wherelogMap = { map, history: historyView, day: dayView, sharing, summary: summaryView };
  map.on('dragstart popupopen', takeOver);
  map.on('zoomend', scheduleDeclutter);
  map.getContainer().addEventListener('wheel', takeOver, { passive: true });
  map.getContainer().addEventListener('keydown', takeOver);
  map.zoomControl.getContainer().addEventListener('click', takeOver);
  $('#history-form').addEventListener('submit', takeOver);

  // The panel floats over the map: opening or closing it leaves the map's size alone.
  panel.toggle.addEventListener('click', () => panel.setOpen(!panel.isOpen()));
  $('#show-all').addEventListener('click', () => {
    if (phone.matches) panel.setOpen(false);
    fitDevices();
  });
  connectStream();
  await refreshLast();
  setInterval(() => devices.forEach(renderDevice), TICK_MS);
}

panel.setOpen(!phone.matches);
start();
