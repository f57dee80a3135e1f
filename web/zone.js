// Local days and times in a named time zone (the user's, as the API says: "Europe/Paris"),
// whatever the browser's own zone is. Dates are "YYYY-MM-DD" strings, as <input type="date">
// takes them; instants are epoch seconds. Everything goes through Intl.DateTimeFormat with
// timeZone, so the browser's tz database decides offsets and clock changes.

const partsFormats = new Map(); // zone → a formatter whose parts give the wall clock there

function partsFormat(zone) {
  let f = partsFormats.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric',
      hour: 'numeric', minute: 'numeric', second: 'numeric',
    });
    partsFormats.set(zone, f);
  }
  return f;
}

/** True if the browser knows the zone (an unknown one would make Intl throw later). */
export function knownZone(zone) {
  if (typeof zone !== 'string' || zone === '') return false;
  try {
    partsFormat(zone);
    return true;
  } catch {
    return false;
  }
}

/** The browser's own zone: the fallback until the API has named the user's. */
export const browserZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

/** The wall clock in zone at instant tst: { y, m (1-12), d, h, mi, s }. */
function wallClock(zone, tst) {
  const v = {};
  for (const p of partsFormat(zone).formatToParts(new Date(tst * 1000))) {
    if (p.type !== 'literal') v[p.type] = Number(p.value);
  }
  return { y: v.year, m: v.month, d: v.day, h: v.hour, mi: v.minute, s: v.second };
}

/** Seconds to add to UTC to get the wall clock in zone at instant tst. */
export function zoneOffset(zone, tst) {
  const w = wallClock(zone, Math.floor(tst));
  return Date.UTC(w.y, w.m - 1, w.d, w.h, w.mi, w.s) / 1000 - Math.floor(tst);
}

const pad = (n, width = 2) => String(n).padStart(width, '0');
const dateOf = (y, m, d) => `${pad(y, 4)}-${pad(m)}-${pad(d)}`;

/** A "YYYY-MM-DD" string as [y, m, d] when it names a real day, else null. */
export function parseDateValue(value) {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value || '');
  if (!match) return null;
  const [y, m, d] = match.slice(1).map(Number);
  const t = new Date(Date.UTC(y, m - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === d ? [y, m, d] : null;
}

/** The local date in zone of instant tst. */
export function localDate(zone, tst) {
  const w = wallClock(zone, tst);
  return dateOf(w.y, w.m, w.d);
}

/** The date n days after (or before, n < 0) a date; calendar arithmetic, no zone involved. */
export function addDays(value, n) {
  const [y, m, d] = parseDateValue(value);
  const t = new Date(Date.UTC(y, m - 1, d + n));
  return dateOf(t.getUTCFullYear(), t.getUTCMonth() + 1, t.getUTCDate());
}

/** The first day of the month n months after the month of a date. */
export function addMonths(value, n) {
  const [y, m] = parseDateValue(value);
  const t = new Date(Date.UTC(y, m - 1 + n, 1));
  return dateOf(t.getUTCFullYear(), t.getUTCMonth() + 1, 1);
}

/** The instant the local date begins in zone. */
function dayStart(zone, value) {
  const [y, m, d] = parseDateValue(value);
  const midnight = Date.UTC(y, m - 1, d) / 1000; // that wall clock, read as UTC
  // Two rounds: the offset at the first guess may differ from the one at the answer when the
  // clocks change within a day of midnight.
  let t = midnight - zoneOffset(zone, midnight);
  t = midnight - zoneOffset(zone, t);
  // Where midnight itself is skipped (clocks go forward at 00:00), the day begins when the
  // skipped hour ends: the first instant whose local date is this one.
  while (localDate(zone, t) < value) t += 900;
  while (localDate(zone, t - 900) === value) t -= 900;
  return t;
}

/** [start, end) of a local date in zone, in epoch seconds: usually 86400 s, 23 or 25 h when clocks change. */
export function dayBounds(zone, value) {
  return [dayStart(zone, value), dayStart(zone, addDays(value, 1))];
}

/** Formatters in zone, cached: Intl.DateTimeFormat is costly to build and a list has many rows. */
const formats = new Map();
function format(zone, kind) {
  const key = `${zone}\n${kind}`;
  let f = formats.get(key);
  if (!f) {
    const options = {
      time: { hour: '2-digit', minute: '2-digit' },
      dayTime: { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' },
      zoneName: { timeZoneName: 'short' },
      longDate: { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' },
      monthYear: { month: 'long', year: 'numeric' },
    }[kind];
    // The dates given to these are noon UTC of a date: formatted in UTC, they name that date.
    const inZone = kind === 'longDate' || kind === 'monthYear' ? 'UTC' : zone;
    f = new Intl.DateTimeFormat(undefined, { ...options, timeZone: inZone });
    formats.set(key, f);
  }
  return f;
}

/** "08:41" in zone; with the day ("Thu 2 May, 22:10") when its local date is not onDate. */
export function formatTime(zone, tst, onDate) {
  if (onDate && localDate(zone, tst) !== onDate) return format(zone, 'dayTime').format(new Date(tst * 1000));
  return format(zone, 'time').format(new Date(tst * 1000));
}

/** The zone's short name at instant tst ("CEST", "GMT+2"), as the browser's locale writes it. */
export function zoneAbbreviation(zone, tst) {
  const part = format(zone, 'zoneName').formatToParts(new Date(tst * 1000))
    .find((p) => p.type === 'timeZoneName');
  return part ? part.value : '';
}

const noonOf = (value) => {
  const [y, m, d] = parseDateValue(value);
  return new Date(Date.UTC(y, m - 1, d, 12));
};

/** "Friday 3 May 2024" in the browser's locale. */
export const longDate = (value) => format('UTC', 'longDate').format(noonOf(value));

/** "May 2024" in the browser's locale. */
export const monthName = (value) => format('UTC', 'monthYear').format(noonOf(value));

/** The ISO weekday of a date: 1 Monday … 7 Sunday. */
export function weekday(value) {
  return noonOf(value).getUTCDay() || 7;
}
