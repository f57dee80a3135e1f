// The calendar: a month of a device's days, or a year of its months, as a grid, each cell
// shaded by how far the device moved and labelled with the figure, from /api/0/days. It draws
// and reports picks; dayview.js loads the figures and opens the day picked.

import { el, formatNumber } from './util.js';
import { addDays, addMonths, longDate, monthName, weekday } from './zone.js';

/** Distance bands (metres) of the shades 2, 3 and 4 of a day; shade 1 is a day with data but
 * less. A month's bands are thirty times a day's. */
const SHADE_FROM_M = [1000, 5000, 25000];
const MONTH_SCALE = 30;

/** A cell's figure, in km: "12", "3.4"; "·" below 100 m. */
function cellFigure(distance) {
  if (!(distance >= 100)) return '·';
  const km = distance / 1000;
  return km >= 10 ? formatNumber(Math.round(km)) : km.toFixed(1);
}

/** 0 for no data, else 1..4 by distance moved; scale: 1 for a day, MONTH_SCALE for a month. */
function shadeOf(entry, scale = 1) {
  if (!entry || !(entry.points > 0 || entry.stays > 0 || entry.trips > 0)) return 0;
  const d = Number(entry.distance) || 0;
  return 1 + SHADE_FROM_M.filter((m) => d >= m * scale).length;
}

/** "1,449 km", "12.3 km" or "850 m". */
export function formatDistance(m) {
  if (!(m >= 0)) return '';
  if (m >= 100000) return `${formatNumber(Math.round(m / 1000))} km`;
  return m >= 1000 ? `${formatNumber(m / 1000)} km` : `${Math.round(m)} m`;
}

/**
 * Builds the calendar in node (a <div>, filled here). onPick(date): a day was chosen;
 * onShow(mode, month): the arrows, a month of the year grid or the Year/Month button ask for
 * another view (dayview loads its figures and calls render).
 */
export function createCalendar(node, { onPick, onShow }) {
  let mode = 'month';
  let month = null; // "YYYY-MM-01": the month shown, or in year mode a month of the year
  const title = el('h3', { id: 'cal-title', class: 'cal-title', 'aria-live': 'polite' });
  const step = (n) => (mode === 'year' ? addMonths(month, 12 * n) : addMonths(month, n));
  const prev = el('button', { type: 'button', class: 'quiet icon', onclick: () => onShow(mode, step(-1)) }, '‹');
  const next = el('button', { type: 'button', class: 'quiet icon', onclick: () => onShow(mode, step(1)) }, '›');
  const zoom = el('button', { type: 'button', class: 'quiet cal-zoom',
    onclick: () => onShow(mode === 'year' ? 'month' : 'year', month) });
  const grid = el('table', { class: 'cal-grid', 'aria-labelledby': 'cal-title' });
  const note = el('p', { class: 'cal-note muted' });
  node.replaceChildren(el('div', { class: 'cal-head' }, title, prev, next, zoom), grid, note);

  // Monday first; the header's names come from the locale (2024-01-01 was a Monday).
  const dayNames = [...Array(7)].map((_, i) => {
    const d = new Date(Date.UTC(2024, 0, 1 + i, 12));
    return {
      short: new Intl.DateTimeFormat(undefined, { weekday: 'narrow', timeZone: 'UTC' }).format(d),
      long: new Intl.DateTimeFormat(undefined, { weekday: 'long', timeZone: 'UTC' }).format(d),
    };
  });
  const shortMonth = new Intl.DateTimeFormat(undefined, { month: 'short', timeZone: 'UTC' });

  /** A cell's button: its shade, its figure, and a label that says it all. */
  function cell(key, label, entry, scale, number, loading, attrs) {
    const shade = shadeOf(entry, scale);
    const distance = entry ? Number(entry.distance) || 0 : 0;
    const what = shade === 0 ? (loading ? '' : 'no data')
      : `${formatDistance(distance)}, ${formatNumber(entry.points || 0)} points`;
    return el('button', {
      type: 'button',
      class: 'cal-day',
      dataset: { [mode === 'year' ? 'month' : 'date']: key, shade: String(shade),
        points: String(entry?.points || 0), distance: String(distance) },
      'aria-label': `${label}${what ? `: ${what}` : ''}`,
      ...attrs,
    }, el('span', { class: 'cal-n' }, number),
    el('span', { class: 'cal-km', 'aria-hidden': 'true' }, shade > 0 ? cellFigure(distance) : ''));
  }

  /** The line under the grid; cells: the days (or months, in a year) with data. */
  function summary(cells, moved) {
    const unit = mode === 'year' ? ['month', 'months', 'year'] : ['day', 'days', 'month'];
    return cells === 0 ? `No data this ${unit[2]}.`
      : `${cells} ${cells === 1 ? unit[0] : unit[1]} with data, ${formatDistance(moved)} moved. Figures in km; darker: farther.`;
  }

  /**
   * Draws a view. mode "month": month ("YYYY-MM-01") with days (a Map date → a day of
   * /api/0/days), marking `selected` (the day shown) and `today` (dates, or null). mode
   * "year": the year of month, with days a Map "YYYY-MM" → a month of /api/0/days?group=month.
   * loading: the figures are on their way (the grid shows, without shades).
   */
  function render({ mode: m = 'month', month: at, days, selected, today, loading = false, error = null }) {
    mode = m;
    month = at;
    const year = at.slice(0, 4);
    prev.setAttribute('aria-label', mode === 'year' ? 'Previous year' : 'Previous month');
    next.setAttribute('aria-label', mode === 'year' ? 'Next year' : 'Next month');
    prev.title = prev.getAttribute('aria-label');
    next.title = next.getAttribute('aria-label');
    zoom.textContent = mode === 'year' ? 'Month' : 'Year';
    zoom.setAttribute('aria-label', mode === 'year' ? 'Show one month' : 'Show the whole year');
    let moved = 0;
    let withData = 0;
    const body = el('tbody');
    let head = null;
    if (mode === 'year') {
      title.textContent = year;
      let row = el('tr');
      for (let i = 0; i < 12; i++) {
        const first = `${year}-${String(i + 1).padStart(2, '0')}-01`;
        const entry = days?.get(first.slice(0, 7));
        if (shadeOf(entry) > 0) withData += 1;
        if (entry) moved += Number(entry.distance) || 0;
        row.append(el('td', {}, cell(first.slice(0, 7), monthName(first), entry, MONTH_SCALE,
          shortMonth.format(new Date(Date.UTC(Number(year), i, 15))), loading, {
            'aria-current': selected?.startsWith(first.slice(0, 7)) ? 'date' : null,
            onclick: () => onShow('month', first),
          })));
        if (i % 4 === 3) {
          body.append(row);
          row = el('tr');
        }
      }
    } else {
      title.textContent = monthName(at);
      head = el('thead', {}, el('tr', {}, dayNames.map((n) => el('th', { scope: 'col', abbr: n.long }, n.short))));
      let row = el('tr');
      for (let i = 1; i < weekday(at); i++) row.append(el('td'));
      for (let date = at; date.slice(0, 7) === at.slice(0, 7); date = addDays(date, 1)) {
        const entry = days?.get(date);
        if (shadeOf(entry) > 0) withData += 1;
        if (entry) moved += Number(entry.distance) || 0;
        const button = cell(date, longDate(date), entry, 1, String(Number(date.slice(8))), loading, {
          'aria-current': date === selected ? 'date' : null,
          onclick: () => onPick(date),
        });
        if (date === today) button.classList.add('today');
        row.append(el('td', {}, button));
        if (weekday(date) === 7) {
          body.append(row);
          row = el('tr');
        }
      }
      if (row.childNodes.length) body.append(row);
    }
    grid.classList.toggle('cal-year', mode === 'year');
    grid.replaceChildren(...(head ? [head] : []), body);
    node.dataset.mode = mode;
    node.dataset.month = mode === 'year' ? year : at.slice(0, 7);
    node.dataset.state = error ? 'error' : loading ? 'loading' : 'ready';
    if (error) note.textContent = error;
    else if (loading) note.textContent = 'Loading…';
    else note.textContent = summary(withData, moved);
  }

  return {
    render,
    get mode() {
      return mode;
    },
    get month() {
      return month;
    },
    /** Keyboard focus on a day's button (after the grid was drawn anew). */
    focusDay(date) {
      node.querySelector(`.cal-day[data-date="${date}"]`)?.focus();
    },
  };
}
