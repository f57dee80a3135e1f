// History: one device's track over a range of local days, drawn from a server-thinned query so
// that a year (50,000+ points) stays smooth, with download links for the full range.

import {
  $, el, fitBounds, apiUrl, getJSON, detailRows, relativeTime, absoluteTime, isoTime,
  formatNumber, rangeFor, dateValue,
} from './util.js';

const L = window.L;

/** At most this many points are drawn; the server thins longer ranges (max_points). */
const MAX_DRAWN = 2000;
/** The members a drawn point needs (its popup shows them); the rest is not sent. */
const FIELDS = 'lat,lon,tst,acc,alt,vel,batt,conn';
const TRACK_COLOUR = '#1d4ed8';
/** Above this many points drawn, the points are drawn smaller, so the line stays readable. */
const MANY_POINTS = 300;

/**
 * Wires the History form. map: the Leaflet map; status: the status line; padding(): fitBounds
 * padding for the panel (the track is fitted beside it, or above it on a phone, where the
 * panel stays open so that the counts and downloads show).
 */
export function createHistory({ map, status, padding }) {
  const form = $('#history-form');
  const deviceSelect = $('#h-device');
  const rangeSelect = $('#h-range');
  const custom = $('#h-custom');
  const fromInput = $('#h-from');
  const toInput = $('#h-to');
  const clearButton = $('#h-clear');
  const summary = $('#track-summary');
  const countText = $('#track-count');
  const spanText = $('#track-span');
  const downloads = $('#downloads');
  // One canvas for the track: thousands of dots stay cheap, and clicks still find them.
  const renderer = L.canvas({ padding: 0.3, tolerance: 4 });
  let track = null; // { key, user, device, from, to, points, inRange, layer, line, dots }
  let loading = null; // AbortController of the query in flight

  fromInput.value = toInput.value = dateValue(new Date());
  rangeSelect.addEventListener('change', () => {
    custom.hidden = rangeSelect.value !== 'custom';
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    show(deviceSelect.value, rangeSelect.value);
  });
  clearButton.addEventListener('click', () => clear());

  function setDevices(list) {
    const chosen = deviceSelect.value;
    deviceSelect.replaceChildren(...list.map((d) =>
      el('option', { value: d.key }, d.key === d.label ? d.key : `${d.label} (${d.key})`)));
    if (list.some((d) => d.key === chosen)) deviceSelect.value = chosen;
  }

  function pointPopup(p, index, count) {
    return el('div', { class: 'popup' },
      el('h3', {}, `Point ${formatNumber(index + 1)} of ${formatNumber(count)}`),
      el('dl', {},
        el('dt', {}, 'Time'),
        el('dd', {},
          el('time', { datetime: isoTime(p.tst) }, absoluteTime(p.tst, p.tzname)), el('br'),
          el('span', { class: 'relative' }, relativeTime(p.tst))),
        el('dt', {}, 'Position'),
        el('dd', {}, `${p.lat.toFixed(5)}, ${p.lon.toFixed(5)}`),
        detailRows(p).flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])));
  }

  /** A point's marker: the first green, the last red, the rest small (smaller on long tracks). */
  function dot(p, i, last) {
    const end = i === 0 || i === last;
    const many = track.points.length > MANY_POINTS;
    return L.circleMarker([p.lat, p.lon], {
      renderer,
      pointIndex: i,
      radius: end ? 6 : many ? 2 : 3.5,
      weight: end || !many ? 1.5 : 1,
      color: TRACK_COLOUR,
      fillColor: i === 0 ? '#15803d' : i === last ? '#b91c1c' : '#ffffff',
      fillOpacity: 1,
    });
  }

  function renderSummary() {
    const { inRange, points } = track;
    const drawn = points.length;
    summary.dataset.drawn = String(drawn);
    summary.dataset.inRange = inRange == null ? '' : String(inRange);
    if (drawn === 0) {
      countText.textContent = 'No points in this range.';
    } else if (inRange == null) {
      countText.textContent = `${formatNumber(drawn)} points drawn; counting the range…`;
    } else if (inRange === drawn) {
      countText.textContent = `${formatNumber(drawn)} ${drawn === 1 ? 'point' : 'points'}`;
    } else {
      countText.textContent =
        `${formatNumber(inRange)} points in range, ${formatNumber(drawn)} drawn (thinned)`;
    }
    spanText.textContent = drawn
      ? `${absoluteTime(points[0].tst)} – ${absoluteTime(points[drawn - 1].tst)}` : '';
    downloads.hidden = drawn === 0;
    summary.hidden = false;
  }

  function draw(fit) {
    const { points } = track;
    const last = points.length - 1;
    track.line = L.polyline(points.map((p) => [p.lat, p.lon]), {
      renderer, color: TRACK_COLOUR, weight: 3, opacity: 0.8, interactive: false,
    });
    track.dots = L.featureGroup(points.map((p, i) => dot(p, i, last)));
    // One handler for all dots: each knows its index.
    track.dots.on('click', (e) => {
      const i = e.layer.options.pointIndex;
      L.popup({ maxWidth: 260 }).setLatLng(e.layer.getLatLng())
        .setContent(pointPopup(track.points[i], i, track.points.length)).openOn(map);
    });
    track.layer = L.layerGroup([track.line, track.dots]).addTo(map);
    if (fit && points.length) fitBounds(map, track.line.getBounds(), { ...padding(), maxZoom: 17 });
  }

  /** Shows the track of device key ("user/device") over range kind (see rangeFor). */
  async function show(key, kind) {
    const range = rangeFor(kind, fromInput.value, toInput.value);
    if (!key || !range) {
      status.set('history', 'Choose a device and a valid range (the end date not before the start).');
      return;
    }
    deviceSelect.value = key;
    rangeSelect.value = kind;
    custom.hidden = kind !== 'custom';
    await load(key, range, true);
  }

  /** After the stored data changed (a deletion): the same device and range again, in place. */
  function reload() {
    if (track) load(track.key, [track.from, track.to], false);
  }

  async function load(key, range, fit) {
    clear(fit); // a reload leaves the person's popup open
    const slash = key.indexOf('/');
    const [user, device] = [key.slice(0, slash), key.slice(slash + 1)];
    const [from, to] = range;
    const ctl = new AbortController();
    loading = ctl;
    summary.hidden = false;
    delete summary.dataset.drawn;
    delete summary.dataset.inRange;
    countText.textContent = 'Loading…';
    spanText.textContent = '';
    downloads.hidden = true;
    // The downloads hold the whole range: same user, device, from and to, not thinned.
    const whole = { user, device, from, to };
    $('#dl-gpx').href = apiUrl('/api/0/locations', { ...whole, format: 'gpx' });
    $('#dl-geojson').href = apiUrl('/api/0/locations', { ...whole, format: 'geojson', download: 1 });
    try {
      const body = await getJSON(apiUrl('/api/0/locations',
        { ...whole, max_points: MAX_DRAWN, fields: FIELDS }), ctl.signal);
      const points = body.data.filter((p) => Number.isFinite(p.lat) && Number.isFinite(p.lon));
      // With max_points the server says how many points the range holds before thinning.
      const inRange = Number.isInteger(body.in_range) ? body.in_range : body.count;
      track = { key, user, device, from, to, points, inRange };
      draw(fit);
      renderSummary();
      clearButton.disabled = false;
      status.set('history', null);
      if (fit) summary.scrollIntoView({ block: 'nearest' });
    } catch (e) {
      if (e.name === 'AbortError') return;
      countText.textContent = '';
      status.set('history', `Cannot load the track: ${e.message}`, 'error');
    } finally {
      if (loading === ctl) loading = null;
    }
  }

  function clear(closePopup = true) {
    if (loading) loading.abort();
    loading = null;
    if (track?.layer) track.layer.remove();
    if (closePopup) map.closePopup();
    track = null;
    summary.hidden = true;
    clearButton.disabled = true;
    status.set('history', null);
  }

  /** A live point of the shown device, inside the range and after its end, extends the track. */
  function onLive(dev) {
    if (!track?.layer || loading) return;
    if (`${dev.username}/${dev.device}` !== track.key) return;
    const last = track.points[track.points.length - 1];
    if (dev.tst < track.from || dev.tst > track.to || (last && dev.tst <= last.tst)) return;
    const p = { lat: dev.lat, lon: dev.lon, tst: dev.tst, acc: dev.acc, alt: dev.alt, vel: dev.vel,
      batt: dev.batt, conn: dev.conn };
    track.points.push(p);
    if (track.inRange != null) track.inRange += 1;
    track.line.addLatLng([p.lat, p.lon]);
    const i = track.points.length - 1;
    // The previous end is now an ordinary point.
    if (i > 1) {
      const previous = track.dots.getLayers().at(-1);
      previous.setStyle({ fillColor: '#ffffff', weight: i > MANY_POINTS ? 1 : 1.5 });
      previous.setRadius(i > MANY_POINTS ? 2 : 3.5);
    }
    track.dots.addLayer(dot(p, i, i));
    renderSummary();
  }

  return {
    show,
    reload,
    clear,
    setDevices,
    onLive,
    /** For the tests: the points drawn and the range's count. */
    get track() {
      return track && { key: track.key, drawn: track.points.length, inRange: track.inRange,
        dots: track.dots.getLayers().length };
    },
  };
}
