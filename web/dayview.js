// The day view: one device's local day, in the user's time zone, as its timeline (stays, trips
// and gaps from /api/0/timeline) listed in the panel and drawn on the map: one canvas polyline
// per trip, coloured by its mode, a circle of its radius per stay, a dashed line across a gap.
// Picking an item in the list highlights it on the map and fits the map to it; clicking a line
// or a stay on the map picks the item. A date with previous/next (and ←/→, [/], t), and the
// calendar of the device's days (calendar.js).
//
// The day's derived events (places entered and left, a low battery, a silence, the phone's own
// transitions; /api/0/timeline "events") are listed inside the items of the segments they fall
// in, at their times; a live "event" of the shown device reloads the day.
//
// A day with 50,000 points stays smooth: the points are drawn as a few polylines on one
// canvas (no element per point), and Leaflet simplifies each line for the zoom it is drawn at.

import { $, el, fitBounds, apiUrl, getJSON, formatNumber, nowSeconds, isoTime } from './util.js';
import {
  knownZone, browserZone, parseDateValue, localDate, addDays, dayBounds, formatTime,
  zoneAbbreviation, longDate,
} from './zone.js';
import { createCalendar, formatDistance } from './calendar.js';

const L = window.L;

/** What a trip's mode is called in the list, and the colour of its line (and of its mark). */
const MODES = {
  walking: { word: 'Walking', colour: '#15803d' },
  cycling: { word: 'Cycling', colour: '#0e7490' },
  driving: { word: 'Driving', colour: '#1d4ed8' },
  fast: { word: 'Train or plane', colour: '#9333ea' },
  still: { word: 'Barely moving', colour: '#78716c' },
  unknown: { word: 'Moving', colour: '#78716c' },
};
const STAY_COLOUR = '#c2410c';
const GAP_COLOUR = '#6b7280';
/** Above this many points in a day the server thins them (keeping the shape): a phone that
 * sends a fix every second makes 86,400 a day, so only a flood of imports reaches it. */
const MAX_DAY_POINTS = 100000;
/** A stay's circle is at least this wide, so that a stay of a few fixes still shows. */
const STAY_MIN_RADIUS_M = 15;
/** Never zoom closer than this to fit a stay or a short trip. */
const FIT_MAX_ZOOM = 17;
/** Live segment events come in bursts (a trip closes as a stay opens): reload once after them. */
const RELOAD_DELAY_MS = 800;
/** UTC spans -12..+14 hours: a window this much wider than a UTC day holds the local one anywhere. */
const ZONE_SLACK_S = 14 * 3600;

const splitKey = (key) => {
  const slash = key.indexOf('/');
  return [key.slice(0, slash), key.slice(slash + 1)];
};
const finite = (v) => typeof v === 'number' && Number.isFinite(v);
const position = (p) => (p && finite(p.lat) && finite(p.lon) ? [p.lat, p.lon] : null);

/** "40 s", "12 min", "2 h 5 min", "3 days 4 h". */
export function formatSpan(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} days ${h % 24} h` : `${d} days`;
}

const kmh = (ms) => `${formatNumber(Math.round(ms * 3.6))} km/h`;

/** The first index of sorted points whose tst is at or after t. */
function firstAtOrAfter(points, t) {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (points[mid].tst < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The events the list shows: the stays and trips started and ended are the segments. */
const SHOWN_EVENTS = new Set(['place_entered', 'place_left', 'battery_low', 'silent', 'transition']);

/** The derived events of an API answer that the list shows, in time order. */
function usableEvents(body) {
  const list = Array.isArray(body?.events) ? body.events : [];
  return list.filter((e) => e && SHOWN_EVENTS.has(e.kind) && finite(e.tst))
    .sort((a, b) => a.tst - b.tst || a.id - b.id);
}

/** What an event's line says after its time. Names are user text: the caller adds it as text. */
function eventText(ev, zone, date) {
  const name = typeof ev.name === 'string' && ev.name ? ev.name : 'a place';
  switch (ev.kind) {
    case 'place_entered': return `Entered ${name}`;
    case 'place_left': return `Left ${name}${ev.deleted ? ' (deleted since)' : ''}`;
    case 'battery_low': return finite(ev.batt) ? `Battery low (${ev.batt} %)` : 'Battery low';
    case 'silent': return finite(ev.last_seen)
      ? `Silent since ${formatTime(zone, ev.last_seen, date)}` : 'Silent';
    default: { // a transition: what the phone said of one of its regions
      const region = typeof ev.desc === 'string' && ev.desc ? ev.desc : 'a region';
      return `${ev.event === 'leave' ? 'Left' : 'Entered'} ${region} (the phone's region)`;
    }
  }
}

/** The segments of an API answer that can be shown, in time order. */
function usableSegments(body) {
  const list = Array.isArray(body?.segments) ? body.segments : [];
  return list.filter((s) => s && ['stay', 'trip', 'gap'].includes(s.type)
    && finite(s.start) && finite(s.end) && s.end >= s.start)
    .sort((a, b) => a.start - b.start);
}

/**
 * Wires the Day section. map: the Leaflet map; status: the status line; padding(): fitBounds
 * padding beside the panel; phone: the media query of phone screens; beforeShow(): called
 * before a day is shown at the person's request (the page clears the History track).
 */
// nameStay(user, device, segment), if given, names a stay that no place holds (places.js): the
// list offers it beside such stays, and the day is reloaded after it.
export function createDayView({ map, status, padding, phone, beforeShow, nameStay }) {
  const form = $('#day-form');
  const deviceSelect = $('#day-device');
  const dateInput = $('#day-date');
  const view = $('#day-view');
  const head = $('#day-head');
  const zoneText = $('#day-zone');
  const summary = $('#day-summary');
  const list = $('#day-list');
  const closeButton = $('#day-close');
  const calButton = $('#day-cal');
  const calNode = $('#calendar');
  // The day's own canvas, with a wide click tolerance so that a finger finds a line.
  const renderer = L.canvas({ padding: 0.3, tolerance: 8 });
  const zones = new Map(); // device key → the zone the API named for its user
  const unknownZones = new Map(); // device key → the zone named that this browser does not know
  // { key, user, device, date, zone, start, end, segments, points, inRange, group, parts,
  //   items, selected, drawMs }: parts[i] is segment i's layers, each { layer, base, strong, dim }
  let day = null;
  let loading = null; // AbortController of the day being loaded
  let calLoading = null; // AbortController of the month being loaded
  let reloadTimer = 0;
  let calReloadTimer = 0;
  let calShown = null; // { key, mode, month, days }: the view drawn last, kept while the next loads

  const calendar = createCalendar(calNode, {
    onPick: (date) => {
      if (phone.matches) setCalendarOpen(false); // the list takes the room again
      show(deviceSelect.value, date);
    },
    onShow: (mode, month) => loadCalendar(mode, month),
  });

  const todayOf = (key) => localDate(zones.get(key) || browserZone(), nowSeconds());

  dateInput.value = localDate(browserZone(), nowSeconds());
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    show(deviceSelect.value, dateInput.value);
  });
  dateInput.addEventListener('change', () => {
    if (day && parseDateValue(dateInput.value)) show(deviceSelect.value, dateInput.value);
  });
  deviceSelect.addEventListener('change', () => {
    if (day) show(deviceSelect.value, dateInput.value);
    if (!calNode.hidden) loadCalendar(calendar.mode, calendar.month);
  });
  $('#day-prev').addEventListener('click', () => step(-1));
  $('#day-next').addEventListener('click', () => step(1));
  $('#day-today').addEventListener('click', () => show(deviceSelect.value, todayOf(deviceSelect.value)));
  closeButton.addEventListener('click', () => clear());
  calButton.addEventListener('click', () => setCalendarOpen(calNode.hidden));
  list.addEventListener('keydown', onListKey);
  document.addEventListener('keydown', onShortcut);

  function setDevices(devices) {
    const chosen = deviceSelect.value;
    deviceSelect.replaceChildren(...devices.map((d) =>
      el('option', { value: d.key }, d.key === d.label ? d.key : `${d.label} (${d.key})`)));
    if (devices.some((d) => d.key === chosen)) deviceSelect.value = chosen;
  }

  /** The day before or after the one shown (or in the date field). */
  function step(days) {
    const from = day?.date || dateInput.value;
    if (!parseDateValue(from)) return;
    show(day?.key || deviceSelect.value, addDays(from, days));
  }

  // ---------------------------------------------------------------- loading

  /** The zone of a device's user, from a small /api/0/days answer around date. */
  async function fetchZone(user, device, date, signal) {
    const [y, m, d] = parseDateValue(date);
    const utc = Date.UTC(y, m - 1, d) / 1000;
    const body = await getJSON(apiUrl('/api/0/days',
      { user, device, from: utc - ZONE_SLACK_S, to: utc + 86400 + ZONE_SLACK_S }), signal);
    return body?.zone;
  }

  /** Takes the zone an answer named; a zone this browser does not know falls back to its own. */
  function adoptZone(key, zone) {
    if (!zone) return zones.get(key) || browserZone();
    if (knownZone(zone)) {
      zones.set(key, zone);
      unknownZones.delete(key);
    } else {
      zones.set(key, browserZone());
      unknownZones.set(key, zone);
    }
    return zones.get(key);
  }

  /**
   * Shows device key's local day date. reload: the same day again after a change (no fit, no
   * beforeShow, the item picked stays picked).
   */
  async function show(key, date, { reload = false } = {}) {
    if (!key || !parseDateValue(date)) {
      status.set('day', 'Choose a device and a date.');
      return;
    }
    if (!reload) beforeShow?.();
    const keep = reload && day && day.selected >= 0 ? day.segments[day.selected] : null;
    deviceSelect.value = key;
    dateInput.value = date;
    const [user, device] = splitKey(key);
    if (loading) loading.abort();
    const ctl = new AbortController();
    loading = ctl;
    clearTimeout(reloadTimer);
    view.hidden = false;
    closeButton.hidden = false;
    view.dataset.state = 'loading';
    view.dataset.date = date;
    if (!reload) {
      head.textContent = longDate(date);
      summary.textContent = 'Loading…';
    }
    try {
      let zone = zones.get(key) || adoptZone(key, await fetchZone(user, device, date, ctl.signal));
      let answers;
      for (let round = 0; ; round++) {
        const [start, end] = dayBounds(zone, date);
        const range = { user, device, from: start, to: end - 1 }; // `to` is inclusive
        answers = await Promise.all([
          getJSON(apiUrl('/api/0/timeline', range), ctl.signal),
          getJSON(apiUrl('/api/0/locations', { ...range, fields: 'lat,lon,tst', max_points: MAX_DAY_POINTS }),
            ctl.signal),
          start,
          end,
        ]);
        const named = answers[0]?.zone;
        // The user's zone changed since it was learnt: the day has other bounds.
        if (!named || named === zone || round > 0 || adoptZone(key, named) === zone) break;
        zone = zones.get(key);
      }
      const [timeline, track, start, end] = answers;
      if (loading !== ctl) return;
      const points = (Array.isArray(track?.data) ? track.data : [])
        .filter((p) => finite(p.lat) && finite(p.lon) && finite(p.tst));
      const inRange = Number.isInteger(track?.in_range) ? track.in_range : points.length;
      remove();
      day = { key, user, device, date, zone, start, end, segments: usableSegments(timeline), points,
        events: usableEvents(timeline), inRange, selected: -1, drawMs: null };
      const drawStart = performance.now();
      draw();
      renderList();
      const unknown = unknownZones.get(key);
      status.set('day', unknown
        ? `This browser does not know the time zone ${unknown}: times are in ${zone}.` : null);
      if (keep) {
        const i = day.segments.findIndex((s) => s.type === keep.type && s.start === keep.start);
        if (i >= 0) select(i, { fit: false, scroll: false });
      }
      if (!reload) fitDay();
      if (!calNode.hidden) loadCalendar(calendar.mode, date);
      // Drawn means painted: two frames after the layers were added.
      await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
      if (loading !== ctl) return;
      day.drawMs = performance.now() - drawStart;
      view.dataset.drawMs = day.drawMs.toFixed(1);
      view.dataset.state = 'ready';
    } catch (e) {
      if (e.name === 'AbortError') return;
      view.dataset.state = 'error';
      summary.textContent = '';
      status.set('day', `Cannot load the day: ${e.message}`, 'error');
    } finally {
      if (loading === ctl) loading = null;
    }
  }

  /** The same day again (the data changed: live segments, a deletion). */
  function reload() {
    if (day) show(day.key, day.date, { reload: true });
  }

  /** Removes the day from the map and the panel. */
  function clear() {
    if (loading) loading.abort();
    loading = null;
    clearTimeout(reloadTimer);
    remove();
    day = null;
    view.hidden = true;
    closeButton.hidden = true;
    list.replaceChildren();
    delete view.dataset.state;
    status.set('day', null);
  }

  function remove() {
    if (day?.group) day.group.remove();
  }

  // ---------------------------------------------------------------- the map

  /** A layer of segment i, with its three looks: as drawn, picked, and while another is picked. */
  function part(layer, i, base, strong, dim) {
    layer.options.segmentIndex = i;
    return { layer, base, strong: { ...base, ...strong }, dim: { ...base, ...dim } };
  }

  function layersOf(seg, i) {
    if (seg.type === 'stay') {
      const at = position(seg);
      if (!at) return [];
      const radius = Math.max(finite(seg.radius) ? seg.radius : 0, STAY_MIN_RADIUS_M);
      const area = { color: STAY_COLOUR, weight: 2, opacity: 0.9, fillColor: STAY_COLOUR, fillOpacity: 0.15 };
      const dot = { color: '#ffffff', weight: 2, opacity: 1, fillColor: STAY_COLOUR, fillOpacity: 1, radius: 6 };
      return [
        part(L.circle(at, { renderer, radius, ...area }), i, area, { weight: 4, fillOpacity: 0.35 },
          { opacity: 0.35, fillOpacity: 0.05 }),
        // The circle is metres wide and vanishes when zoomed out; the dot stays visible.
        part(L.circleMarker(at, { renderer, ...dot }), i, dot, { radius: 9 }, { opacity: 0.5, fillOpacity: 0.45 }),
      ];
    }
    if (seg.type === 'trip') {
      const line = [];
      const from = position(seg.from);
      const to = position(seg.to);
      if (from) line.push(from);
      const { points } = day;
      for (let j = firstAtOrAfter(points, seg.start); j < points.length && points[j].tst <= seg.end; j++) {
        line.push([points[j].lat, points[j].lon]);
      }
      if (to) line.push(to);
      if (line.length < 2) return [];
      const look = { color: (MODES[seg.mode] || MODES.unknown).colour, weight: 4, opacity: 0.9 };
      return [part(L.polyline(line, { renderer, lineJoin: 'round', ...look }), i, look,
        { weight: 8, opacity: 1 }, { opacity: 0.3 })];
    }
    const from = position(seg.from);
    const to = position(seg.to);
    if (!from || !to) return [];
    const look = { color: GAP_COLOUR, weight: 2, opacity: 0.8, dashArray: '2 8' };
    return [part(L.polyline([from, to], { renderer, ...look }), i, look, { weight: 4, opacity: 1 },
      { opacity: 0.3 })];
  }

  function draw() {
    day.parts = day.segments.map((seg, i) => layersOf(seg, i));
    // Stays over lines: a trip begins at its stay's centre, and the stay's dot must take the click.
    const layers = [
      ...day.parts.filter((_, i) => day.segments[i].type !== 'stay'),
      ...day.parts.filter((_, i) => day.segments[i].type === 'stay'),
    ].flat().map((p) => p.layer);
    // Points and no timeline (none computed for this range): the track, as one line.
    if (day.segments.length === 0 && day.points.length > 1) {
      layers.push(L.polyline(day.points.map((p) => [p.lat, p.lon]),
        { renderer, color: MODES.unknown.colour, weight: 3, opacity: 0.8, interactive: false }));
    }
    day.group = L.featureGroup(layers);
    day.group.on('click', (e) => {
      const i = e.layer?.options.segmentIndex;
      if (i === undefined) return;
      L.DomEvent.stopPropagation(e);
      select(i, { fit: false });
    });
    day.group.addTo(map);
    view.dataset.drawn = String(day.points.length);
  }

  function fitDay() {
    if (!day?.group) return;
    const bounds = day.group.getBounds();
    if (bounds.isValid()) fitBounds(map, bounds, { ...padding(), maxZoom: FIT_MAX_ZOOM });
  }

  function restyle() {
    day.parts.forEach((parts, i) => {
      for (const p of parts) {
        const look = day.selected < 0 ? p.base : i === day.selected ? p.strong : p.dim;
        // Not layer.setStyle: Leaflet 1.6's Circle.setStyle sets the radius in metres to the
        // radius in pixels.
        L.Path.prototype.setStyle.call(p.layer, look);
        if (look.radius && !(p.layer instanceof L.Circle)) p.layer.setRadius(look.radius);
      }
    });
    for (const p of day.parts[day.selected] || []) p.layer.bringToFront();
    // The stays' dots stay on top, where a click must find them (see draw).
    day.parts.forEach((parts, i) => {
      if (day.segments[i].type === 'stay') parts.forEach((p) => p.layer.bringToFront());
    });
  }

  // ---------------------------------------------------------------- the list

  /** An event as a line of the list: its time and what happened, as text. */
  function eventItem(ev) {
    const { zone, date } = day;
    return el('li', { class: `day-event day-event-${ev.kind}`, dataset: { kind: ev.kind, tst: String(ev.tst) } },
      el('time', { datetime: isoTime(ev.tst) }, formatTime(zone, ev.tst, date)), ' ',
      eventText(ev, zone, date));
  }

  /** The day's events by segment: each in the last segment that starts at or before it. */
  function eventsBySegment() {
    const { segments, events } = day;
    const by = segments.map(() => []);
    let i = 0;
    for (const ev of events) {
      while (i + 1 < segments.length && segments[i + 1].start <= ev.tst) i += 1;
      by[i]?.push(ev);
    }
    return by;
  }

  function itemFor(seg, i, events) {
    const { zone, date } = day;
    const end = formatTime(zone, seg.end, date); // an open segment's: its latest fix
    const duration = finite(seg.duration) ? seg.duration : seg.end - seg.start;
    let mark;
    let what;
    let details;
    if (seg.type === 'stay') {
      mark = STAY_COLOUR;
      what = seg.place && seg.place.name ? seg.place.name : 'Stay'; // a place's name is text
      const at = position(seg);
      details = [
        at ? `${seg.lat.toFixed(5)}, ${seg.lon.toFixed(5)}` : null,
        finite(seg.radius) && seg.radius > 0 ? `within ${Math.round(seg.radius)} m` : null,
      ];
    } else if (seg.type === 'trip') {
      const mode = MODES[seg.mode] || MODES.unknown;
      mark = mode.colour;
      what = mode.word;
      details = [
        finite(seg.distance) ? formatDistance(seg.distance) : null,
        finite(seg.avg_speed) && seg.avg_speed > 0 ? `avg ${kmh(seg.avg_speed)}` : null,
        finite(seg.top_speed) && seg.top_speed > 0 ? `top ${kmh(seg.top_speed)}` : null,
      ];
    } else {
      mark = GAP_COLOUR;
      what = 'No data';
      details = ['the phone was silent'];
    }
    const dot = el('span', { class: `seg-mark seg-mark-${seg.type}`, 'aria-hidden': 'true' });
    dot.style.setProperty('--mark', mark);
    return el('li', {
      id: `seg-${i}`,
      class: `seg seg-${seg.type}`,
      role: 'option',
      tabindex: i === 0 ? '0' : '-1',
      'aria-selected': 'false',
      dataset: { index: String(i), type: seg.type, mode: seg.mode || null, start: String(seg.start),
        end: String(seg.end), open: seg.open ? 'true' : null },
      onclick: () => select(i, { focus: true }),
    }, dot, el('div', { class: 'seg-body' },
      el('div', { class: 'seg-line' },
        el('span', { class: 'seg-time' },
          el('time', { datetime: isoTime(seg.start) }, formatTime(zone, seg.start, date)), ' – ',
          el('time', { datetime: isoTime(seg.end) }, end)),
        el('span', { class: 'seg-duration' }, formatSpan(duration))),
      el('div', { class: 'seg-what' }, el('strong', {}, what),
        details.filter(Boolean).map((d) => ` · ${d}`), seg.open ? ' · not over yet' : '',
        // naming a stay picks it too (the click goes on to the item)
        seg.type === 'stay' && !seg.place && nameStay ? [' ', el('button', {
          type: 'button', class: 'link name-stay',
          onclick: (e) => e.currentTarget.replaceWith(nameForm(seg)),
        }, 'Name it')] : null),
      events.length ? el('ul', { class: 'day-events', 'aria-label': 'Events' }, events.map(eventItem)) : null));
  }

  /** A name for a stay, typed in its item: the place is made, then the day reloaded. */
  function nameForm(seg) {
    const input = el('input', { type: 'text', class: 'name-input', maxlength: 128, required: true,
      'aria-label': 'Name of this place', placeholder: 'Name' });
    const form = el('form', {
      class: 'name-stay-form',
      onclick: (e) => e.stopPropagation(), // typing is not picking
      onkeydown: (e) => e.stopPropagation(), // nor are the list's shortcuts
      onsubmit: async (e) => {
        e.preventDefault();
        const name = input.value.trim();
        if (name && await nameStay(day.user, day.device, seg, name)) reload();
      },
    }, input, el('button', { type: 'submit', class: 'quiet' }, 'Save'));
    setTimeout(() => input.focus());
    return form;
  }

  function renderList() {
    const { segments, zone, date, start } = day;
    head.textContent = longDate(date);
    zoneText.replaceChildren('Times in ', el('strong', {}, zone),
      ` (${zoneAbbreviation(zone, start + 43200)})`);
    const stays = segments.filter((s) => s.type === 'stay').length;
    const trips = segments.filter((s) => s.type === 'trip');
    const moved = trips.reduce((sum, s) => sum + (finite(s.distance) ? s.distance : 0), 0);
    if (segments.length === 0 && day.points.length === 0) {
      summary.textContent = 'No data this day.';
    } else {
      const parts = [`${stays} ${stays === 1 ? 'stay' : 'stays'}`,
        `${trips.length} ${trips.length === 1 ? 'trip' : 'trips'}`];
      if (trips.length) parts.push(`${formatDistance(moved)} moved`);
      parts.push(`${formatNumber(day.inRange)} ${day.inRange === 1 ? 'point' : 'points'}`);
      summary.textContent = parts.join(' · ');
      if (segments.length === 0) summary.textContent += ' (no timeline computed for them)';
    }
    const events = eventsBySegment();
    day.items = segments.map((seg, i) => itemFor(seg, i, events[i]));
    // Without segments (no timeline computed) the events are the list.
    list.replaceChildren(...(segments.length ? day.items : day.events.map(eventItem)));
    list.setAttribute('aria-label', `Timeline of ${longDate(date)}`);
    list.hidden = segments.length === 0 && day.events.length === 0;
    Object.assign(view.dataset, { date, zone, segments: String(segments.length), selected: '' });
  }

  /**
   * Picks segment i: its item selected (announced through aria-selected), its layers drawn
   * strong and the others faint. fit: the map fits it; focus: keyboard focus on its item;
   * scroll: its item scrolled into view.
   */
  function select(i, { fit = true, focus = false, scroll = true } = {}) {
    if (!day || i < 0 || i >= day.segments.length) return;
    day.selected = i;
    day.items.forEach((item, k) => {
      item.setAttribute('aria-selected', String(k === i));
      item.tabIndex = k === i ? 0 : -1;
    });
    view.dataset.selected = String(i);
    restyle();
    const item = day.items[i];
    if (focus) item.focus({ preventScroll: true });
    if (scroll) item.scrollIntoView({ block: 'nearest' });
    if (fit) {
      const layers = day.parts[i].map((p) => p.layer);
      if (layers.length) {
        const bounds = L.featureGroup(layers).getBounds();
        if (bounds.isValid()) fitBounds(map, bounds, { ...padding(), maxZoom: FIT_MAX_ZOOM });
      }
    }
  }

  /** The list is one tab stop; arrows move within it (the listbox pattern). */
  function onListKey(e) {
    if (!day || !day.items.length) return;
    const at = Math.max(0, day.items.indexOf(document.activeElement));
    let to = null;
    if (e.key === 'ArrowDown') to = Math.min(at + 1, day.items.length - 1);
    else if (e.key === 'ArrowUp') to = Math.max(at - 1, 0);
    else if (e.key === 'Home') to = 0;
    else if (e.key === 'End') to = day.items.length - 1;
    else if (e.key === 'Enter' || e.key === ' ') to = at;
    if (to === null) return;
    e.preventDefault();
    select(to, { focus: true });
  }

  /** ←/[ the day before, →/] the day after, t today: not while typing, nor arrows on the map. */
  function onShortcut(e) {
    if (!day || e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey) return;
    const target = e.target instanceof Element ? e.target : null;
    if (target && (target.closest('input, select, textarea') || target.isContentEditable)) return;
    const arrow = e.key === 'ArrowLeft' || e.key === 'ArrowRight';
    if (arrow && target && map.getContainer().contains(target)) return; // Leaflet pans with them
    const inCalendar = target && calNode.contains(target);
    if (e.key === 'ArrowLeft' || e.key === '[') step(-1);
    else if (e.key === 'ArrowRight' || e.key === ']') step(1);
    else if (e.key === 't' || e.key === 'T') show(day.key, todayOf(day.key));
    else return;
    e.preventDefault();
    if (inCalendar) calNode.dataset.refocus = 'true';
  }

  // ---------------------------------------------------------------- the calendar

  function setCalendarOpen(open) {
    calNode.hidden = !open;
    calButton.setAttribute('aria-expanded', String(open));
    calButton.classList.toggle('active', open);
    if (open) loadCalendar('month', day?.date || dateInput.value || todayOf(deviceSelect.value));
    else if (calLoading) calLoading.abort();
  }

  /**
   * Loads and draws a view of the calendar for the chosen device: mode "month", the month of
   * date, or "year", its year (the months' sums).
   */
  async function loadCalendar(mode, date) {
    const month = `${date.slice(0, 7)}-01`;
    const unit = mode === 'year' ? 4 : 7; // "YYYY" or "YYYY-MM": what the answer's dates begin with
    const key = deviceSelect.value;
    const selected = day && day.key === key ? day.date : null;
    if (calLoading) calLoading.abort();
    if (!key) {
      calendar.render({ mode, month, days: new Map(), selected, today: null, error: 'Choose a device.' });
      return;
    }
    const ctl = new AbortController();
    calLoading = ctl;
    // Drawing the grid replaces its buttons: keyboard focus on one comes back to the same day
    // (or to the day shown, after a shortcut moved it).
    const focused = calNode.contains(document.activeElement) ? document.activeElement.dataset?.date : null;
    const refocus = Boolean(focused) || calNode.dataset.refocus === 'true';
    delete calNode.dataset.refocus;
    const same = calShown?.key === key && calShown.mode === mode && calShown.month.slice(0, unit) === month.slice(0, unit);
    const keepDays = same ? calShown.days : null;
    calendar.render({ mode, month, days: keepDays, selected, today: todayOf(key), loading: !keepDays });
    const [y, m] = parseDateValue(month);
    const [user, device] = splitKey(key);
    // The month or year in any zone lies within this UTC window; the answer's dates say which.
    const [from, to] = mode === 'year' ? [Date.UTC(y, 0, 1), Date.UTC(y + 1, 0, 1)]
      : [Date.UTC(y, m - 1, 1), Date.UTC(y, m, 1)];
    try {
      const body = await getJSON(apiUrl('/api/0/days', {
        user, device, group: mode === 'year' ? 'month' : 'day',
        from: from / 1000 - ZONE_SLACK_S, to: to / 1000 + ZONE_SLACK_S,
      }), ctl.signal);
      if (calLoading !== ctl) return;
      adoptZone(key, body?.zone);
      // A day is named by its date ("2024-05-03"), a month of group=month by its period ("2024-05").
      const nameOf = (d) => (mode === 'year' ? d?.period : d?.date);
      const days = new Map((Array.isArray(body?.days) ? body.days : [])
        .filter((d) => typeof nameOf(d) === 'string' && nameOf(d).startsWith(month.slice(0, unit)))
        .map((d) => [nameOf(d).slice(0, mode === 'year' ? 7 : 10), d]));
      calShown = { key, mode, month, days };
      calendar.render({ mode, month, days, selected: day && day.key === key ? day.date : null, today: todayOf(key) });
      if (refocus && mode === 'month') {
        calendar.focusDay(selected?.startsWith(month.slice(0, 7)) ? selected : focused || month);
      }
    } catch (e) {
      if (e.name === 'AbortError') return;
      calendar.render({ mode, month, days: new Map(), selected, today: todayOf(key),
        error: `Cannot load the ${mode}: ${e.message}` });
    } finally {
      if (calLoading === ctl) calLoading = null;
    }
  }

  // ---------------------------------------------------------------- live

  const matches = (user, device) => day && `${user}/${device}` === day.key;

  /** A segment opened or closed ({_type: "timeline", user, device, event, segment}). */
  function onTimeline(ev) {
    const user = ev?.user ?? ev?.username;
    const seg = ev?.segment || {};
    if (!calNode.hidden && `${user}/${ev?.device}` === deviceSelect.value) {
      clearTimeout(calReloadTimer);
      calReloadTimer = setTimeout(() => {
        if (!calNode.hidden) loadCalendar(calendar.mode, calendar.month);
      }, RELOAD_DELAY_MS);
    }
    if (!matches(user, ev?.device)) return;
    const startsBefore = !finite(seg.start) || seg.start < day.end;
    const endsAfter = !finite(seg.end) || seg.open || seg.end >= day.start;
    if (!startsBefore || !endsAfter) return;
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(reload, RELOAD_DELAY_MS);
  }

  /** A derived event ({_type: "event", user, device, kind, tst, ...}) of the shown device in
   * the shown day: the day is loaded again to list it (after a burst, once). */
  function onEvent(ev) {
    if (!matches(ev?.user, ev?.device) || !finite(ev?.tst)) return;
    if (!SHOWN_EVENTS.has(ev.kind) || ev.tst < day.start || ev.tst >= day.end) return;
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(reload, RELOAD_DELAY_MS);
  }

  /** A live point of the shown device extends the trip under way (the next event redraws). */
  function onLive(dev) {
    if (!matches(dev.username, dev.device) || loading || !finite(dev.tst)) return;
    if (dev.tst < day.start || dev.tst >= day.end) return;
    const i = day.segments.length - 1;
    const last = day.segments[i];
    if (last?.type !== 'trip' || !last.open || dev.tst <= last.end) return;
    const line = day.parts[i]?.[0]?.layer;
    if (line?.addLatLng && position(dev)) line.addLatLng([dev.lat, dev.lon]);
  }

  return {
    show,
    reload,
    clear,
    setDevices,
    onTimeline,
    onEvent,
    onLive,
    select,
    /** Today in the user's zone (the browser's until the API has named it). */
    today: todayOf,
    /** For the tests: what is shown. */
    get state() {
      return day && { key: day.key, date: day.date, zone: day.zone, start: day.start, end: day.end,
        segments: day.segments.length, points: day.points.length, selected: day.selected,
        drawMs: day.drawMs };
    },
    /** For the tests: the segments whose layers are drawn picked (strong), by index. */
    highlighted() {
      if (!day?.parts) return [];
      return day.parts.flatMap((parts, i) => (parts.length && parts.every((p) =>
        p.layer.options.weight === p.strong.weight && p.layer.options.opacity === p.strong.opacity) ? [i] : []));
    },
    /** For the tests: a position on segment i's map layer, where a click finds it alone. */
    anchor(i) {
      const parts = day?.parts?.[i];
      if (!parts?.length) return null;
      const layer = parts[parts.length - 1].layer;
      if (layer.getLatLngs) {
        const line = layer.getLatLngs();
        const p = line[Math.floor(line.length / 2)];
        return [p.lat, p.lng];
      }
      const p = layer.getLatLng();
      return [p.lat, p.lng];
    },
    /** For the tests: whether segment i's layers are in the map's view. */
    inView(i) {
      const parts = day?.parts?.[i];
      if (!parts?.length) return false;
      return map.getBounds().intersects(L.featureGroup(parts.map((p) => p.layer)).getBounds());
    },
  };
}
