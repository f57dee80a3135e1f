// A share link's page (/s/SECRET): one device's track over the shared range, or its live
// position, read-only, from /api/0/shared/SECRET and nothing else: no device list, no user,
// no other route (the secret opens nothing else). A live share listens to
// /api/0/shared/SECRET/stream, whose events say only "there is a new fix" (update) or "this
// link no longer works" (gone), and reads the track and last position again on each; when the
// link expires or is revoked the stream ends, the API answers 410, and the page stops and
// says so.
//
// Test hook (tests/browser/share.test.mjs): #share-state carries data-state ("ok", "private",
// "gone", "error") and #map data-lines and data-points (what was drawn); the live marker's
// element carries data-lat and data-lon.

const secret = decodeURIComponent(window.location.pathname.split('/')[2] || '');
const base = `/api/0/shared/${encodeURIComponent(secret)}`;
const stateEl = document.getElementById('share-state');
const mapEl = document.getElementById('map');

let map = null;
let lines = null;
let marker = null;
let stream = null;

function say(state, text) {
  stateEl.dataset.state = state;
  stateEl.textContent = text;
}

class Gone extends Error {}

async function get(what) {
  const r = await fetch(base + what, { cache: 'no-store', credentials: 'omit' });
  let body = null;
  try { body = await r.json(); } catch { body = null; }
  if (r.status === 410 || r.status === 404) throw new Gone(body && body.error ? body.error : 'this link does not work');
  if (!r.ok) throw new Error(body && body.error ? body.error : `HTTP ${r.status}`);
  return body;
}

function when(t) {
  return new Date(t * 1000).toLocaleString();
}

function drawTrack(track) {
  if (lines) lines.remove();
  const latlngs = track.lines.map((line) => line.map((p) => [p[0], p[1]]));
  lines = L.polyline(latlngs, { color: '#2563eb', weight: 4 }).addTo(map);
  mapEl.dataset.lines = String(latlngs.length);
  mapEl.dataset.points = String(latlngs.reduce((n, l) => n + l.length, 0));
  return latlngs.length ? lines.getBounds() : null;
}

function drawLast(info, last) {
  if (marker) { marker.remove(); marker = null; }
  if (last.private) {
    say('private', `At a private place (${when(last.tst)}).`);
    return;
  }
  if (last.lat === undefined) {
    say('ok', 'No position to show yet.');
    return;
  }
  marker = L.circleMarker([last.lat, last.lon], { radius: 8, color: '#dc2626' }).addTo(map);
  const e = marker.getElement();
  if (e) { e.dataset.lat = String(last.lat); e.dataset.lon = String(last.lon); }
  say('ok', `Last seen ${when(last.tst)}; this link expires ${when(info.expires)}.`);
}

function stop(message) {
  if (stream) stream.close();
  stream = null;
  if (marker) { marker.remove(); marker = null; }
  say('gone', message);
}

async function refresh(info, fit) {
  try {
    const track = await get('/track');
    const bounds = drawTrack(track);
    if (info.live) {
      drawLast(info, await get('/last'));
      if (fit && marker) map.setView(marker.getLatLng(), 15);
      else if (fit && bounds) map.fitBounds(bounds, { padding: [24, 24] });
    } else {
      say('ok', `${when(info.from)} to ${when(info.to)}; this link expires ${when(info.expires)}.`);
      if (fit && bounds) map.fitBounds(bounds, { padding: [24, 24] });
    }
  } catch (e) {
    if (e instanceof Gone) stop(e.message);
    else say('error', `${e.message}; trying again…`);
  }
}

async function start() {
  let info;
  try {
    info = await get('');
  } catch (e) {
    if (e instanceof Gone) stop(e.message);
    else say('error', e.message);
    return;
  }
  document.getElementById('share-title').textContent = info.label || info.device;
  const tiles = info.tiles || {};
  map = L.map('map', { maxZoom: tiles.maxZoom, worldCopyJump: true }).setView([30, 0], 2);
  map.zoomControl.setPosition('topright'); // the panel is on the left
  if (tiles.url) L.tileLayer(tiles.url, { attribution: tiles.attribution || '', maxZoom: tiles.maxZoom }).addTo(map);
  window.wherelogShare = { map };
  await refresh(info, true);
  if (info.live && stateEl.dataset.state !== 'gone') {
    stream = new EventSource(`${base}/stream`);
    stream.addEventListener('update', () => refresh(info, false));
    // The link was revoked or expired: the API now says which (410).
    stream.addEventListener('gone', () => { stream.close(); refresh(info, false); });
    stream.onerror = () => {
      if (stream && stream.readyState === EventSource.CLOSED) refresh(info, false);
    };
  }
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
