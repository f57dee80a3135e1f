// Helpers shared by the map page's modules: building DOM from text (never from HTML), calling
// the API, and formatting times and numbers in the browser's locale and time zone.

/**
 * Builds an element. Attributes whose value is null or false are left out; children are
 * nodes or strings, and strings become text nodes: data from phones is never parsed as HTML.
 */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (name === 'class') e.className = value;
    else if (name === 'dataset') Object.assign(e.dataset, value);
    else if (name.startsWith('on')) e.addEventListener(name.slice(2), value);
    else e.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child != null && child !== false) e.append(child);
  }
  return e;
}

export const $ = (selector) => document.querySelector(selector);

/**
 * map.fitBounds, but after any zoom animation under way: Leaflet ends an animation by moving
 * to that animation's target, which would undo a fit made meanwhile.
 */
export function fitBounds(map, bounds, options) {
  if (map._animatingZoom) map.once('zoomend', () => map.fitBounds(bounds, options));
  else map.fitBounds(bounds, options);
}

/** A failed API call, with a message fit for the status line. */
export class ApiError extends Error {}

/** A same-origin API path with its query; parameters that are null or undefined are left out. */
export function apiUrl(path, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v != null) q.set(k, String(v));
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

async function apiFetch(url, signal) {
  let r;
  try {
    r = await fetch(url, { signal, cache: 'no-store' });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError('cannot reach the server');
  }
  if (!r.ok) {
    let msg = `${r.status} ${r.statusText}`;
    try {
      const body = await r.json();
      if (body && typeof body.error === 'string') msg = body.error;
    } catch { /* not the API's JSON error: keep the status */ }
    throw new ApiError(`${url.split('?')[0]}: ${msg}`);
  }
  return r;
}

export async function getJSON(url, signal) {
  return (await apiFetch(url, signal)).json();
}

// ------------------------------------------------------------------ devices

/** "user/device": how the page keys a device. */
export const deviceKey = (d) => `${d.username}/${d.device}`;

const text = (v) => (typeof v === 'string' && v.trim() !== '' ? v.trim() : null);

/** What a device is called on the map: its card's name, else its tid, else the device name. */
export const labelOf = (d) => text(d.name) || text(d.tid) || d.device;

/** One or two characters for the round badge when there is no face. */
export function initialsOf(d) {
  const tid = text(d.tid);
  if (tid) return [...tid].slice(0, 2).join('');
  const name = text(d.name);
  if (name) {
    const words = name.split(/\s+/);
    return words.map((w) => [...w][0]).slice(0, 2).join('').toUpperCase();
  }
  return [...d.device].slice(0, 2).join('');
}

const FACE_MAX_CHARS = 512 * 1024;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * The card's face as a data: URL, only when it is base64 of a PNG or JPEG (told by the first
 * bytes, not by anything the phone claims); otherwise null.
 */
export function faceUrl(face) {
  if (typeof face !== 'string' || face.length > FACE_MAX_CHARS) return null;
  const b64 = face.replace(/\s+/g, '');
  if (b64.length % 4 !== 0 || !BASE64.test(b64)) return null;
  if (b64.startsWith('iVBORw0KGgo')) return `data:image/png;base64,${b64}`;
  if (b64.startsWith('/9j/')) return `data:image/jpeg;base64,${b64}`;
  return null;
}

/** A stable hue (0..359) per device, so its badge and circle keep their colour. */
export function hueOf(key) {
  let h = 0;
  for (const c of key) h = (h * 31 + c.codePointAt(0)) >>> 0;
  return h % 360;
}

const CONNECTIONS = { w: 'Wi-Fi', m: 'Mobile data', o: 'Offline' };

/** The popup's rows for a location: [label, value] for each member the phone sent. */
export function detailRows(p) {
  const rows = [];
  const num = (v) => typeof v === 'number' && Number.isFinite(v);
  if (num(p.vel)) rows.push(['Speed', `${formatNumber(p.vel)} km/h`]);
  if (num(p.alt)) rows.push(['Altitude', `${formatNumber(p.alt)} m`]);
  if (num(p.batt)) rows.push(['Battery', `${formatNumber(p.batt)} %`]);
  if (typeof p.conn === 'string') rows.push(['Connection', CONNECTIONS[p.conn] || p.conn]);
  if (num(p.acc)) rows.push(['Accuracy', `±${formatNumber(p.acc)} m`]);
  return rows;
}

// ------------------------------------------------------------------ numbers and times

const numberFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
export const formatNumber = (n) => numberFormat.format(n);

export const nowSeconds = () => Date.now() / 1000;

/** "2 h 5 min", "40 min", "3 days". */
export function formatDuration(seconds) {
  const m = Math.round(seconds / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  return `${Math.floor(h / 24)} days`;
}

/** "just now", "3 min ago", "2 h 5 min ago", "4 days ago". */
export function relativeTime(tst, now = nowSeconds()) {
  const s = now - tst;
  if (s < -90) return 'ahead of this clock';
  if (s < 45) return 'just now';
  return `${formatDuration(s)} ago`;
}

const absoluteOptions = {
  year: 'numeric', month: 'short', day: 'numeric',
  hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short',
};
const absoluteFormat = new Intl.DateTimeFormat(undefined, absoluteOptions);
const zoneFormats = new Map(); // IANA zone name -> its formatter (null: a zone this browser lacks)
function zoneFormat(zone) {
  if (!zoneFormats.has(zone)) {
    let f = null;
    try {
      f = new Intl.DateTimeFormat(undefined, { ...absoluteOptions, timeZone: zone });
    } catch { /* an unknown zone: the browser's own */ }
    zoneFormats.set(zone, f);
  }
  return zoneFormats.get(zone);
}
/**
 * The moment in the browser's locale, with the zone's name: in `zone` (an IANA name, the
 * `tzname` the server gives a point: local time where it was recorded) when there is one the
 * browser knows, else in the browser's own zone.
 */
export const absoluteTime = (tst, zone) =>
  ((typeof zone === 'string' && zone && zoneFormat(zone)) || absoluteFormat).format(new Date(tst * 1000));

/** The moment as ISO 8601 in UTC, for a <time datetime=...>. */
export const isoTime = (tst) => new Date(tst * 1000).toISOString();

// ------------------------------------------------------------------ ranges

const startOfDay = (d, addDays = 0) => new Date(d.getFullYear(), d.getMonth(), d.getDate() + addDays);
const seconds = (d) => Math.floor(d.getTime() / 1000);

/** A local date for an <input type="date"> value ("YYYY-MM-DD"), or null. */
export function parseDate(value) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value || '');
  return m ? new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : null;
}

/** "YYYY-MM-DD" of a date, in local time (the format of <input type="date">). */
export function dateValue(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

/**
 * [from, to] in epoch seconds, both inclusive, for a named range whose days are the browser's
 * local days (so a DST change is a 23- or 25-hour day). null when custom dates are missing or
 * reversed.
 */
export function rangeFor(kind, fromValue, toValue, now = new Date()) {
  const today = startOfDay(now);
  switch (kind) {
    case 'today': return [seconds(today), seconds(startOfDay(now, 1)) - 1];
    case 'yesterday': return [seconds(startOfDay(now, -1)), seconds(today) - 1];
    case '7d': return [seconds(startOfDay(now, -6)), seconds(startOfDay(now, 1)) - 1];
    case 'custom': {
      const from = parseDate(fromValue);
      const to = parseDate(toValue);
      if (!from || !to || to < from) return null;
      return [seconds(from), seconds(startOfDay(to, 1)) - 1];
    }
    default: return null;
  }
}
