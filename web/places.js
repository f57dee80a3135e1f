// A user's places on the map: their circles (the user's own solid, the phones' regions dashed),
// a list with each place's visits, the suggestions for stays that recur with no place, and
// adding a place where the map is clicked or from a suggestion. Talks to /api/0/places and
// /api/0/places/suggestions; builds its own panel section, so the page's HTML needs nothing.
//
// Test hook: the section is #places; each listed place is a li[data-place-id] (regions have
// data-source="owntracks"), and each circle's path carries data-place-name.
import { el, apiUrl, getJSON, ApiError, formatDuration, absoluteTime } from './util.js';

/** POST, PATCH or DELETE with form parameters; the parsed JSON answer, or an ApiError. */
async function send(method, path, params = {}) {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v != null && v !== '') body.set(k, String(v));
  let r;
  try {
    r = await fetch(path, {
      method,
      body,
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
  } catch {
    throw new ApiError('cannot reach the server');
  }
  const answer = await r.json().catch(() => ({}));
  if (!r.ok) throw new ApiError(answer.error || `${r.status} ${r.statusText}`);
  return answer;
}

export function createPlaces({ map, status, user }) {
  const layer = L.layerGroup().addTo(map);
  const list = el('ul', { class: 'places' });
  const suggestions = el('ul', { class: 'places suggestions' });
  const users = el('select', { id: 'p-user', 'aria-label': 'Whose places' });
  const name = el('input', { id: 'p-name', type: 'text', maxlength: 128, placeholder: 'Name' });
  const radius = el('input', {
    id: 'p-radius', type: 'number', min: 5, max: 5000, step: 5, value: 100,
    'aria-label': 'Radius in metres',
  });
  const pick = el('button', { id: 'p-pick', type: 'button' }, 'Add on the map');
  const hint = el('p', { class: 'muted', hidden: true }, 'Click the map where the place is.');
  let picking = false;

  const section = el('section', { id: 'places', 'aria-labelledby': 'places-title' },
    el('div', { class: 'section-head' }, el('h2', { id: 'places-title' }, 'Places'), users),
    list,
    el('div', { class: 'place-add' }, name, radius, pick),
    hint,
    el('h3', {}, 'Suggested'),
    suggestions);
  document.querySelector('#panel-body').append(section);

  const fail = (e) => status.set('places', `Places: ${e instanceof ApiError ? e.message : e}`, 'error');

  function setPicking(on) {
    picking = on;
    hint.hidden = !on;
    pick.textContent = on ? 'Cancel' : 'Add on the map';
    map.getContainer().style.cursor = on ? 'crosshair' : '';
  }

  async function add(params) {
    const n = name.value.trim();
    if (!n) {
      status.set('places', 'Type a name for the place first.', 'error');
      name.focus();
      return;
    }
    try {
      await send('POST', apiUrl('/api/0/places'), {
        user: users.value, name: n, radius: radius.value, ...params,
      });
      name.value = '';
      status.set('places', null);
      await refresh();
    } catch (e) {
      fail(e);
    }
  }

  function visitsText(p) {
    if (!p.visits) return 'no visits';
    return `${p.visits} visit${p.visits === 1 ? '' : 's'}, ${formatDuration(p.total_s)}, last ${absoluteTime(p.last)}`;
  }

  function renderPlace(p) {
    const own = p.source === 'user';
    const circle = L.circle([p.lat, p.lon], {
      radius: p.radius_m, weight: 2, dashArray: own ? null : '4 4', fillOpacity: 0.08,
    }).bindTooltip(el('span', {}, p.name)).addTo(layer); // text, never HTML
    circle.getElement?.()?.setAttribute('data-place-name', p.name);
    const buttons = own ? [
      el('button', {
        type: 'button', class: 'quiet',
        onclick: (e) => {
          // a name typed in place of the button: no dialog
          const input = el('input', { type: 'text', class: 'rename-input', maxlength: 128, value: p.name,
            'aria-label': `New name for ${p.name}` });
          e.currentTarget.replaceWith(el('form', {
            class: 'rename-form',
            onsubmit: async (ev) => {
              ev.preventDefault();
              const n = input.value.trim();
              if (!n) return;
              try { await send('PATCH', `/api/0/places/${p.id}`, { name: n }); await refresh(); } catch (err) { fail(err); }
            },
          }, input, el('button', { type: 'submit', class: 'quiet' }, 'Save')));
          input.focus();
        },
      }, 'Rename'),
      el('button', {
        type: 'button', class: 'quiet',
        onclick: async (e) => {
          // a second click confirms: the stays are kept, only the name goes
          const b = e.currentTarget;
          if (b.dataset.confirm !== 'yes') {
            b.dataset.confirm = 'yes';
            b.textContent = 'Delete: sure?';
            return;
          }
          try { await send('DELETE', `/api/0/places/${p.id}`); await refresh(); } catch (err) { fail(err); }
        },
      }, 'Delete'),
    ] : [el('span', { class: 'muted' }, `from ${p.device}`)];
    return el('li', { dataset: { placeId: p.id ?? '', source: p.source } },
      el('button', {
        type: 'button', class: 'link',
        onclick: () => map.setView([p.lat, p.lon], Math.max(map.getZoom(), 16)),
      }, p.name),
      el('span', { class: 'muted' }, ` ${visitsText(p)} `),
      ...buttons);
  }

  async function refresh() {
    if (!users.value) return;
    try {
      const [places, sugg] = await Promise.all([
        getJSON(apiUrl('/api/0/places', { user: users.value })),
        getJSON(apiUrl('/api/0/places/suggestions', { user: users.value })),
      ]);
      layer.clearLayers();
      list.replaceChildren(...places.places.map(renderPlace));
      if (!places.places.length) list.append(el('li', { class: 'muted' }, 'No places yet.'));
      suggestions.replaceChildren(...sugg.suggestions.map((s) => el('li', {},
        `${s.stays} stays on ${s.days} days, ${formatDuration(s.total_s)} `,
        el('button', {
          type: 'button', class: 'quiet',
          onclick: () => add({ lat: s.lat, lon: s.lon, radius: Math.round(s.radius_m) }),
        }, 'Name it'))));
      if (!sugg.suggestions.length) suggestions.append(el('li', { class: 'muted' }, 'Nothing to suggest.'));
      status.set('places', null);
    } catch (e) {
      fail(e);
    }
  }

  pick.addEventListener('click', () => setPicking(!picking));
  map.on('click', (e) => {
    if (!picking) return;
    setPicking(false);
    add({ lat: e.latlng.lat.toFixed(7), lon: L.Util.wrapNum(e.latlng.lng, [-180, 180], true).toFixed(7) });
  });
  users.addEventListener('change', refresh);

  (async () => {
    try {
      const names = (await getJSON('/api/0/list')).results || [];
      users.replaceChildren(...names.map((u) => el('option', { value: u }, u)));
      if (user && names.includes(user)) users.value = user;
      section.hidden = names.length === 0;
      await refresh();
    } catch (e) {
      fail(e);
    }
  })();
  /** Names a stay of the timeline (the day view's form): true when a place was made. */
  async function nameStay(stayUser, device, seg, n) {
    try {
      await send('POST', '/api/0/places', { user: stayUser, device, from_stay: seg.start, name: n });
      status.set('places', null);
      if (stayUser === users.value) await refresh();
      return true;
    } catch (e) {
      fail(e);
      return false;
    }
  }

  return { refresh, layer, nameStay };
}
