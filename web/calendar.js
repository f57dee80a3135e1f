// The calendar: one month of a device's days as a grid, each day shaded by how far the device
// moved that day and labelled with the figure, from /api/0/days. It draws and reports picks;
// dayview.js loads the figures and opens the day picked.

import { el, formatNumber } from './util.js';
import { addDays, addMonths, longDate, monthName, weekday } from './zone.js';

/** Distance bands (metres) of the shades 2, 3 and 4; shade 1 is a day with points but less. */
const SHADE_FROM_M = [1000, 5000, 25000];

/** How far a day's figure is written in its cell: "12", "3.4" (km), "·" below 100 m. */
function cellFigure(distance) {
  if (!(distance >= 100)) return '·';
  const km = distance / 1000;
  return km >= 10 ? String(Math.round(km)) : km.toFixed(1);
}

export function shadeOf(day) {
  if (!day || !(day.points > 0 || day.stays > 0 || day.trips > 0)) return 0;
  const d = Number(day.distance) || 0;
  return 1 + SHADE_FROM_M.filter((m) => d >= m).length;
}

/** "12.3 km" or "850 m". */
export function formatDistance(m) {
  if (!(m >= 0)) return '';
  return m >= 1000 ? `${formatNumber(m / 1000)} km` : `${Math.round(m)} m`;
}

/**
 * Builds the calendar in node (a <div>, filled here). onPick(date) is called when a day is
 * chosen; onMonth(month) when the arrows ask for another month (dayview loads it and calls
 * render).
 */
export function createCalendar(node, { onPick, onMonth }) {
  let month = null;
  const title = el('h3', { id: 'cal-title', class: 'cal-title', 'aria-live': 'polite' });
  const prev = el('button', { type: 'button', class: 'quiet icon', 'aria-label': 'Previous month',
    title: 'Previous month', onclick: () => onMonth(addMonths(month, -1)) }, '‹');
  const next = el('button', { type: 'button', class: 'quiet icon', 'aria-label': 'Next month',
    title: 'Next month', onclick: () => onMonth(addMonths(month, 1)) }, '›');
  const grid = el('table', { class: 'cal-grid', 'aria-labelledby': 'cal-title' });
  const note = el('p', { class: 'cal-note muted' });
  node.replaceChildren(el('div', { class: 'cal-head' }, prev, title, next), grid, note);

  // Monday first; the header's names come from the locale (2024-01-01 was a Monday).
  const dayNames = [...Array(7)].map((_, i) => {
    const d = new Date(Date.UTC(2024, 0, 1 + i, 12));
    return {
      short: new Intl.DateTimeFormat(undefined, { weekday: 'narrow', timeZone: 'UTC' }).format(d),
      long: new Intl.DateTimeFormat(undefined, { weekday: 'long', timeZone: 'UTC' }).format(d),
    };
  });

  /**
   * Draws month ("YYYY-MM-01") with days (a Map date → the /api/0/days object), marking
   * `selected` (the day shown) and `today` (both dates, or null). loading: the figures are on
   * their way (the grid shows, without shades).
   */
  function render({ month: m, days, selected, today, loading = false, error = null }) {
    month = m;
    title.textContent = monthName(m);
    const head = el('thead', {}, el('tr', {}, dayNames.map((n) =>
      el('th', { scope: 'col', abbr: n.long }, n.short))));
    const body = el('tbody');
    let row = el('tr');
    for (let i = 1; i < weekday(m); i++) row.append(el('td'));
    let moved = 0;
    let withData = 0;
    for (let date = m; date.slice(0, 7) === m.slice(0, 7); date = addDays(date, 1)) {
      const day = days?.get(date);
      const shade = shadeOf(day);
      if (shade > 0) withData += 1;
      if (day) moved += Number(day.distance) || 0;
      const what = shade === 0 ? (loading ? '' : 'no data')
        : `${formatDistance(Number(day.distance) || 0)}, ${formatNumber(day.points)} points`;
      row.append(el('td', {}, el('button', {
        type: 'button',
        class: 'cal-day',
        dataset: { date, shade: String(shade), points: String(day?.points || 0),
          distance: String(day ? Number(day.distance) || 0 : 0) },
        'aria-label': `${longDate(date)}${what ? `: ${what}` : ''}`,
        'aria-current': date === selected ? 'date' : null,
        onclick: () => onPick(date),
      }, el('span', { class: 'cal-n' }, String(Number(date.slice(8)))),
      el('span', { class: 'cal-km', 'aria-hidden': 'true' }, shade > 0 ? cellFigure(Number(day.distance) || 0) : ''))));
      if (date === today) row.lastChild.firstChild.classList.add('today');
      if (weekday(date) === 7) {
        body.append(row);
        row = el('tr');
      }
    }
    if (row.childNodes.length) body.append(row);
    grid.replaceChildren(head, body);
    node.dataset.month = m.slice(0, 7);
    node.dataset.state = error ? 'error' : loading ? 'loading' : 'ready';
    if (error) note.textContent = error;
    else if (loading) note.textContent = 'Loading…';
    else if (withData === 0) note.textContent = 'No data this month.';
    else note.textContent = `${withData} ${withData === 1 ? 'day' : 'days'} with data, ${formatDistance(moved)} moved. Figures in km; darker: farther.`;
  }

  return {
    render,
    get month() {
      return month;
    },
    /** Keyboard focus on a day's button (after the month changed under it). */
    focusDay(date) {
      node.querySelector(`.cal-day[data-date="${date}"]`)?.focus();
    },
  };
}
