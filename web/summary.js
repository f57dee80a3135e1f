// The year at a glance (GET /api/0/summary) in the panel, and a heat layer on the map drawn
// from the server's density grid (GET /api/0/heat): a year of points arrives as a few thousand
// cells, never as the points. Plain DOM, SVG and one canvas; no library beyond Leaflet.
//
// Test hook (tests/browser): #year carries data-loaded="user/year" once a summary is shown;
// the heat canvas (.heat-layer) carries data-cells and data-points of the grid it drew.

import { $, el, apiUrl, getJSON, ApiError, formatNumber, formatDuration } from './util.js';

const L = window.L;
const MONTHS = ['J', 'F', 'M', 'A', 'M', 'J', 'J', 'A', 'S', 'O', 'N', 'D'];
/** Cities listed; the rest are counted. */
const CITIES_SHOWN = 20;
/** The heat grid's zoom is the map's, at most this: beyond it cells are smaller than a fix's error. */
const HEAT_ZOOM_MAX = 18;

const km = (m) => `${formatNumber(Math.round((m || 0) / 100) / 10)} km`;

/** A bar chart of the months' distances as SVG, each bar titled with its figures. */
function monthChart(months) {
  const ns = 'http://www.w3.org/2000/svg';
  const w = 240; const h = 90; const bar = w / 12;
  const max = Math.max(1, ...months.map((m) => m.distance || 0));
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${w} ${h + 14}`);
  svg.setAttribute('class', 'month-chart');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', 'Distance per month');
  months.forEach((m, i) => {
    const bh = Math.round(((m.distance || 0) / max) * h);
    const r = document.createElementNS(ns, 'rect');
    r.setAttribute('x', String(i * bar + 2));
    r.setAttribute('y', String(h - bh));
    r.setAttribute('width', String(bar - 4));
    r.setAttribute('height', String(Math.max(bh, m.days ? 1 : 0)));
    const t = document.createElementNS(ns, 'title');
    t.textContent = `${m.month}: ${km(m.distance)}, ${m.days} days with data, ${m.stays} stays`;
    r.append(t);
    const label = document.createElementNS(ns, 'text');
    label.setAttribute('x', String(i * bar + bar / 2));
    label.setAttribute('y', String(h + 12));
    label.setAttribute('text-anchor', 'middle');
    label.textContent = MONTHS[i];
    svg.append(r, label);
  });
  return svg;
}

function renderSummary(node, s) {
  const cities = s.cities.slice(0, CITIES_SHOWN);
  const trip = s.longest_trip;
  const where = (p) => `${p.city || `${p.lat.toFixed(4)}, ${p.lon.toFixed(4)}`}${p.cc ? ` (${p.cc})` : ''}`;
  const place = (p) => (p.place ? [p.place.name, p.city].filter(Boolean).join(', ') + (p.cc ? ` (${p.cc})` : '') : where(p));
  node.replaceChildren(
    el('dl', { class: 'year-figures' },
      el('dt', {}, 'Distance'), el('dd', { dataset: { figure: 'distance' } }, km(s.distance)),
      el('dt', {}, 'Days with data'), el('dd', { dataset: { figure: 'days' } }, String(s.days)),
      el('dt', {}, 'Stays, trips'), el('dd', {}, `${s.stays}, ${s.trips}`),
      el('dt', {}, 'Countries'), el('dd', { dataset: { figure: 'countries' } }, String(s.countries.length)),
      el('dt', {}, 'Cities'), el('dd', { dataset: { figure: 'cities' } }, String(s.cities.length))),
    monthChart(s.months),
    s.places_named ? null : el('p', { class: 'muted' }, 'No offline place names on this server.'),
    s.countries.length ? el('h3', {}, 'Countries') : null,
    el('ul', { class: 'year-list', dataset: { list: 'countries' } },
      s.countries.map((c) => el('li', {}, `${c.cc}: ${c.days} d`))),
    cities.length ? el('h3', {}, 'Cities') : null,
    el('ul', { class: 'year-list', dataset: { list: 'cities' } },
      cities.map((c) => el('li', {}, `${c.name} (${c.cc}): ${c.days} d`)),
      s.cities.length > cities.length ? el('li', { class: 'muted' }, `and ${s.cities.length - cities.length} more`) : null),
    s.places.length ? el('h3', {}, 'Most visited') : null,
    el('ol', { class: 'year-places' },
      s.places.map((p) => el('li', {}, `${place(p)}: ${p.visits} visits, ${formatDuration(p.seconds)}`))),
    trip ? el('p', { class: 'year-trip' },
      `Longest trip: ${km(trip.distance)} on ${trip.isostart.slice(0, 10)}, `
      + `${trip.from.city || '?'} to ${trip.to.city || '?'}`) : null,
  );
}

/** A Leaflet layer drawing heat cells on a canvas the size of the view. */
function createHeatLayer(query) {
  let map; let canvas; let controller; let grid = null;
  const draw = () => {
    if (!map || !canvas) return;
    const size = map.getSize();
    const topLeft = map.containerPointToLayerPoint([0, 0]);
    L.DomUtil.setPosition(canvas, topLeft);
    canvas.width = size.x;
    canvas.height = size.y;
    const ctx = canvas.getContext('2d');
    ctx.clearRect(0, 0, size.x, size.y);
    if (!grid || grid.zoom !== Math.min(Math.round(map.getZoom()), HEAT_ZOOM_MAX)) return;
    // The cell's world pixel at the grid's zoom, scaled to the map's (fractional) zoom.
    const scale = map.getZoomScale(map.getZoom(), grid.zoom);
    const origin = map.getPixelOrigin().add(topLeft);
    const c = grid.cells;
    const px = grid.cell_px * scale;
    const logMax = Math.log1p(grid.max || 1);
    for (let k = 0; k < c.length; k += 3) {
      const x = (grid.x0 + c[k]) * grid.cell_px * scale - origin.x;
      const y = (grid.y0 + c[k + 1]) * grid.cell_px * scale - origin.y;
      const f = Math.log1p(c[k + 2]) / logMax; // 0..1: a log scale keeps quiet places visible
      ctx.fillStyle = `hsla(${Math.round(60 - 60 * f)}, 100%, 50%, ${(0.35 + 0.5 * f).toFixed(2)})`;
      ctx.fillRect(x, y, Math.max(px, 1), Math.max(px, 1));
    }
    canvas.dataset.cells = String(c.length / 3);
    canvas.dataset.points = String(grid.points);
  };
  const load = async () => {
    const q = query();
    if (!map || !q) return;
    if (controller) controller.abort();
    controller = new AbortController();
    const zoom = Math.min(Math.round(map.getZoom()), HEAT_ZOOM_MAX);
    const b = map.getBounds();
    const clamp = (v, lim) => Math.max(-lim, Math.min(lim, v));
    const bbox = [clamp(b.getWest(), 180), clamp(b.getSouth(), 90), clamp(b.getEast(), 180), clamp(b.getNorth(), 90)]
      .map((v) => v.toFixed(6)).join(',');
    try {
      grid = await getJSON(apiUrl('/api/0/heat', { ...q, zoom, bbox }), controller.signal);
      draw();
    } catch (e) {
      if (e.name !== 'AbortError') query.status(e instanceof ApiError ? e.message : String(e));
    }
  };
  const Layer = L.Layer.extend({
    onAdd(m) {
      map = m;
      canvas = L.DomUtil.create('canvas', 'heat-layer leaflet-zoom-hide');
      m.getPanes().overlayPane.appendChild(canvas);
      m.on('moveend', load);
      m.on('zoomend viewreset resize', draw);
      load();
    },
    onRemove(m) {
      m.off('moveend', load);
      m.off('zoomend viewreset resize', draw);
      if (controller) controller.abort();
      canvas.remove();
      canvas = null; map = null; grid = null;
    },
  });
  const layer = new Layer();
  layer.reload = load;
  return layer;
}

/** Adds the "Year" section to the panel and the heat layer to the map's layer control. */
export function createSummary({ map, status }) {
  const form = el('form', { id: 'year-form', class: 'history' },
    el('label', { for: 'y-user' }, 'User'), el('select', { id: 'y-user', required: true }),
    el('label', { for: 'y-year' }, 'Year'),
    el('input', { id: 'y-year', type: 'number', min: '1970', max: '2099', value: String(new Date().getFullYear()), required: true }),
    el('div', { class: 'buttons' }, el('button', { type: 'submit', class: 'primary' }, 'Show year')));
  const result = el('div', { id: 'year-result', 'aria-live': 'polite' });
  const section = el('section', { id: 'year', 'aria-labelledby': 'year-title' },
    el('h2', { id: 'year-title' }, 'Year'), form, result);
  $('#panel-body').append(section);

  const chosen = () => {
    const user = $('#y-user').value;
    const year = $('#y-year').value;
    return user && /^\d{4}$/.test(year) ? { user, year } : null;
  };
  const query = () => {
    const c = chosen();
    return c ? { user: c.user, from: `${c.year}-01-01`, to: `${c.year}-12-31` } : null;
  };
  query.status = (text) => status.set('heat', text);
  const heat = createHeatLayer(query);
  L.control.layers(null, { Heat: heat }, { position: 'topright' }).addTo(map);

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const c = chosen();
    if (!c) return;
    try {
      const s = await getJSON(apiUrl('/api/0/summary', c));
      renderSummary(result, s);
      section.dataset.loaded = `${c.user}/${c.year}`;
      status.set('summary', null);
      if (map.hasLayer(heat)) heat.reload();
    } catch (e) {
      result.replaceChildren(el('p', { class: 'muted' }, e instanceof ApiError ? e.message : String(e)));
      delete section.dataset.loaded;
    }
  });

  getJSON('/api/0/list').then((r) => {
    $('#y-user').replaceChildren(...(r.results || []).map((u) => el('option', { value: u }, u)));
  }).catch((e) => status.set('summary', e instanceof ApiError ? e.message : String(e)));
  return { heat };
}
