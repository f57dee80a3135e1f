// The map's Share section: makes a share link for the device chosen in History (its live
// position, or the range of the track in view) through POST /api/0/shares, shows the link
// once, and lists the signed-in user's links with a Revoke button each (GET and DELETE
// /api/0/shares). What the link opens is share.html and share.js.
//
// Test hook: each listed share's <li> carries data-id and data-revoked.

import { $, el, ApiError, getJSON } from './util.js';

async function create(params) {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v != null && v !== '') body.set(k, String(v));
  const r = await fetch('/api/0/shares', {
    method: 'POST',
    cache: 'no-store',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body,
  });
  const answer = await r.json().catch(() => ({}));
  if (!r.ok) throw new ApiError(answer.error || `${r.status} ${r.statusText}`);
  return answer;
}

function when(t) {
  return t ? new Date(t * 1000).toLocaleString() : 'never';
}

/** history: the History controller (its inView); status: the status line. */
export function createSharing({ history, status }) {
  const form = $('#share-form');
  const list = $('#shares');

  async function refresh() {
    let body;
    try {
      body = await getJSON('/api/0/shares');
    } catch (e) {
      status.set('share', `Cannot list the share links: ${e.message}`, 'error');
      return;
    }
    status.set('share', null);
    const now = Date.now() / 1000;
    list.replaceChildren(...body.results.map((s) => {
      const gone = s.revoked || s.expires <= now;
      const what = s.live ? 'live' : `${when(s.from)} to ${when(s.to)}`;
      const item = el('li', { 'data-id': s.id, 'data-revoked': String(s.revoked) },
        el('strong', {}, s.label || `${s.owner}/${s.device}`),
        el('span', { class: 'muted' },
          ` ${s.owner}/${s.device}, ${what}; ${s.revoked ? 'revoked' : `expires ${when(s.expires)}`}; last opened ${when(s.last_opened)}`));
      if (!gone) {
        const button = el('button', { type: 'button', class: 'quiet' }, 'Revoke');
        button.addEventListener('click', async () => {
          try {
            await fetch(`/api/0/shares?${new URLSearchParams({ user: s.user, id: s.id })}`,
              { method: 'DELETE', cache: 'no-store' }).then((r) => {
              if (!r.ok) throw new ApiError(`${r.status} ${r.statusText}`);
            });
          } catch (e) {
            status.set('share', `Cannot revoke: ${e.message}`, 'error');
          }
          refresh();
        });
        item.append(' ', button);
      }
      return item;
    }));
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const view = history.inView;
    const slash = view.key ? view.key.indexOf('/') : -1;
    if (slash < 0) {
      status.set('share', 'Choose a device under History first.', 'error');
      return;
    }
    const live = $('#s-kind').value === 'live';
    if (!live && view.from == null) {
      status.set('share', 'Choose a valid range under History first.', 'error');
      return;
    }
    const params = {
      user: view.key.slice(0, slash),
      device: view.key.slice(slash + 1),
      expires: $('#s-expires').value,
      label: $('#s-label').value.trim(),
      ...(live ? { live: 1 } : { from: view.from, to: view.to }),
    };
    try {
      const made = await create(params);
      $('#s-link').value = `${window.location.origin}${made.path}`;
      $('#s-made').hidden = false;
      $('#s-link').select();
      status.set('share', null);
    } catch (err) {
      status.set('share', `Cannot make the link: ${err.message}`, 'error');
    }
    refresh();
  });

  refresh();
  return { refresh };
}
