// A known stretch of days for the day-view test: a phone in "move" mode (a fix every 15 s
// while moving, every 4 min while still) that stays at home, walks to work, cycles to a shop,
// walks home, and the next morning walks to a park. It knows the true stays and trips, in
// the user's local time, so the test can say what the day's list must show.
//
// Times are local wall-clock times in a zone whose UTC offset is fixed over these dates
// (offsetH): the test picks the zone, and with it the offset, so that it differs from the
// browser's.

const HOME = { name: 'home', lat: 48.8400, lon: 2.3200 };
const WORK = { name: 'work', lat: 48.8600, lon: 2.3500 };
const SHOP = { name: 'shop', lat: 48.8520, lon: 2.3150 };
const PARK = { name: 'park', lat: 48.8300, lon: 2.3350 };

const STILL_EVERY_S = 240;
const MOVING_EVERY_S = 15;
const WALK_MS = 1.4;
const CYCLE_MS = 4.5;

/** Metres between two places (equirectangular: the places are a few km apart). */
function metres(a, b) {
  const k = Math.PI / 180;
  const x = (b.lon - a.lon) * k * Math.cos(((a.lat + b.lat) / 2) * k);
  const y = (b.lat - a.lat) * k;
  return Math.hypot(x, y) * 6371000;
}

/** A repeatable jitter in -1..1 (the same data on every run). */
function jitter(i) {
  const x = Math.sin(i * 12.9898) * 43758.5453;
  return (x - Math.floor(x)) * 2 - 1;
}

/**
 * The days 2024-05-02 (evening) to 2024-05-04 (morning). offsetH: the zone's UTC offset over
 * those dates. Returns { points, truth, later, laterTruth, day, before, after }: the OwnTracks
 * location fields to publish, in time order; the true segments ({ type, mode, start, end,
 * place or from and to }), epoch seconds; the same for what happens next (the walk home from
 * the park, published later); the date of the full day and its neighbours.
 */
export function knownDays(offsetH) {
  const local = (d, h, mi = 0, s = 0) => Date.UTC(2024, 4, d, h, mi, s) / 1000 - offsetH * 3600;
  const points = [];
  const truth = [];
  let n = 0;
  const fix = (lat, lon, tst, acc, vel) => {
    points.push({ lat: Number(lat.toFixed(6)), lon: Number(lon.toFixed(6)), tst, acc, vel, tid: 'KD',
      batt: 80, conn: 'w' });
    n += 1;
  };
  const stay = (place, start, end) => {
    for (let t = start; t < end; t += STILL_EVERY_S) {
      fix(place.lat + jitter(n) * 0.00006, place.lon + jitter(n + 7) * 0.00008, t, 12, 0);
    }
    truth.push({ type: 'stay', place: place.name, start, end });
  };
  /** A trip from a to b at speed (m/s); returns when it arrives. */
  const trip = (a, b, start, speed, mode) => {
    const seconds = Math.round(metres(a, b) / speed);
    for (let t = 0; t < seconds; t += MOVING_EVERY_S) {
      const f = t / seconds;
      fix(a.lat + (b.lat - a.lat) * f + jitter(n) * 0.00002, a.lon + (b.lon - a.lon) * f + jitter(n + 3) * 0.00003,
        start + t, 6, Math.round(speed * 3.6));
    }
    truth.push({ type: 'trip', mode, from: a.name, to: b.name, start, end: start + seconds });
    return start + seconds;
  };

  let t;
  stay(HOME, local(2, 21), local(3, 7, 50));
  t = trip(HOME, WORK, local(3, 7, 50), WALK_MS, 'walking');
  stay(WORK, t, local(3, 17, 30));
  t = trip(WORK, SHOP, local(3, 17, 30), CYCLE_MS, 'cycling');
  const leaveShop = t + 28 * 60;
  stay(SHOP, t, leaveShop);
  t = trip(SHOP, HOME, leaveShop, WALK_MS, 'walking');
  stay(HOME, t, local(4, 9, 0));
  t = trip(HOME, PARK, local(4, 9, 0), WALK_MS, 'walking');
  stay(PARK, t, local(4, 10, 30));
  fix(PARK.lat, PARK.lon, local(4, 10, 30), 12, 0); // the last fix: the park stay is still open
  const known = points.splice(0);
  const knownTruth = truth.splice(0);
  // Later news, for the live check: the walk home from the park and a while at home.
  t = trip(PARK, HOME, local(4, 10, 40), WALK_MS, 'walking');
  stay(HOME, t, t + 30 * 60);
  return { points: known, truth: knownTruth, later: points, laterTruth: truth,
    day: '2024-05-03', before: '2024-05-02', after: '2024-05-04', local };
}
