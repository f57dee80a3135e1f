#!/usr/bin/env python3
"""dayfaker - realistic labelled days of a phone's location reports, for the timeline
detector's tests and benchmark (src/timeline.h). Deterministic from a seed; python3 stdlib.

    dayfaker.py --seed 1 --days 20 --set mixed --out DIR [--format owntracks|text]
    dayfaker.py --seed 1 --only 3,5,8 --set move --out DIR    (those days of the seed)

A day is one person's local day (00:00 to 24:00 in a zone taken from the longitude) in a
town somewhere in the world (a few near the antimeridian, the poles' edges, the equator): a
home, a work place, shops, a cafe, friends, a town farther away. The person stays at places
and travels between them by walking, cycling, driving or train (walk to the station, wait,
ride, walk), along paths with turns (a street grid in town, gentle bends on motorways and
railways). The phone reports as the OwnTracks app does:

  - "move" mode: a fix every few seconds to a minute. Outdoors GPS (acc 3-15 m, an error that
    drifts slowly, as GPS errors do); indoors wifi-like fixes (acc 20-80 m, scattered). The
    phone may doze at a stay (no fixes until it moves again), lose fixes in a tunnel or with
    the phone off; now and then a fix lands km away with a small acc (urban canyon), a fix
    with a cell tower's accuracy (300-2000 m), a fix without acc or with acc 0.
  - "significant changes" mode (sparse): a fix after ~500 m of movement (at most every 1-5
    min), a timer fix every 15-30 min while moving, on arrival a fix at the place (the app's
    visit/region events), then almost nothing while still (a background fix every few hours
    on average), so that a stay is often one point; fixes are GPS, wifi or cell ones, their
    acc matching their error.

Sets: "move" (every day move mode), "sparse" (every day significant changes), "mixed" (three
days in four move mode, the rest sparse).

Output in DIR, per day NNNN:
  - NNNN.jsonl: OwnTracks location messages, one a line, in tst order ({"_type":"location",
    "lat":..,"lon":..,"tst":..,"acc":..,"vel":..,"tid":..,...}); or with --format text,
    NNNN.txt lines "TST LAT LON ACC" (ACC "nan" when the message has none), what
    tests/tools/tl_run.c and the unit tests read;
  - NNNN.labels.json: the truth: {"day_start", "day_end", "mode" (move/sparse), "stays":
    [{"start","end","lat","lon","place","clipped_start","clipped_end"}], "trips":
    [{"start","end","distance_m","mode","legs":[{"mode","distance_m"}]}], "late":
    [{"from","to","deliver_at"}]}. A stay clipped by the day's bounds has no true arrival or
    departure there. "late" spans are fixes a phone buffered (offline) and delivered hours
    later: integration tests publish them out of order.
With --out - and --format text, all days go to stdout, each after a line "day NNNN".
"""
import argparse
import json
import math
import os
import random
import sys

R_EARTH = 6371008.8
M_PER_DEG = R_EARTH * math.pi / 180

# (name, lat, lon): most where people live; some where the detector's geometry is tested
# (antimeridian, high latitude, the equator, the southern hemisphere).
TOWNS = [
    ("Paris", 48.857, 2.352), ("Berlin", 52.52, 13.405), ("London", 51.507, -0.128),
    ("Madrid", 40.417, -3.704), ("New York", 40.713, -74.006), ("Chicago", 41.878, -87.63),
    ("San Francisco", 37.775, -122.419), ("Mexico City", 19.433, -99.133),
    ("Sao Paulo", -23.55, -46.633), ("Buenos Aires", -34.604, -58.382),
    ("Lagos", 6.524, 3.379), ("Nairobi", -1.286, 36.817), ("Cairo", 30.044, 31.236),
    ("Mumbai", 19.076, 72.878), ("Singapore", 1.352, 103.82), ("Tokyo", 35.68, 139.69),
    ("Seoul", 37.566, 126.978), ("Sydney", -33.869, 151.209), ("Toronto", 43.653, -79.383),
    ("Munich", 48.137, 11.575), ("Quito", -0.18, -78.467), ("Auckland", -36.848, 174.763),
    ("Suva", -18.141, 178.442), ("Taveuni", -16.86, 179.97), ("Anadyr", 64.733, 177.5),
    ("Nome", 64.5, -165.4), ("Tromso", 69.649, 18.956), ("Longyearbyen", 78.223, 15.647),
    ("Ushuaia", -54.801, -68.303), ("Reykjavik", 64.147, -21.942),
]

# Speeds (m/s) by mode: walking 1.1-1.6, cycling 3.5-6.5, driving in town 8-14 and on
# motorways 25-33, trains 30-70 between stations.
CRUISE = {"walking": (1.1, 1.6), "cycling": (3.5, 6.5), "driving": (8.0, 14.0),
          "motorway": (25.0, 33.0), "train": (30.0, 70.0)}

BASE_DAY = 1704067200  # 2024-01-01T00:00:00Z: days follow from here, one a day


class Geo:
    """Local plane around a town's centre (metres east, north) <-> degrees."""

    def __init__(self, lat0, lon0):
        self.lat0, self.lon0 = lat0, lon0
        self.cos0 = math.cos(math.radians(lat0))

    def ll(self, x, y):
        lat = self.lat0 + y / M_PER_DEG
        lon = self.lon0 + x / (M_PER_DEG * self.cos0)
        lon = (lon + 180.0) % 360.0 - 180.0
        return max(-89.9999, min(89.9999, lat)), lon


def dist(a, b):
    return math.hypot(b[0] - a[0], b[1] - a[1])


def polyline_length(pts):
    return sum(dist(pts[i], pts[i + 1]) for i in range(len(pts) - 1))


class Day:
    def __init__(self, rnd, index, mode):
        self.rnd = rnd
        self.index = index
        self.mode = mode
        name, lat, lon = rnd.choice(TOWNS)
        # Not the town's exact centre: somewhere in it.
        self.town = name
        self.geo = Geo(lat + rnd.uniform(-0.05, 0.05), lon + rnd.uniform(-0.05, 0.05))
        self.zone_s = int(round(lon / 15.0)) * 3600
        self.day_start = BASE_DAY + index * 86400 - self.zone_s
        self.day_end = self.day_start + 86400
        self.grid = rnd.uniform(0, math.pi / 2)  # the street grid's orientation
        self.places = self.make_places()
        self.track = []  # (t0, t1, kind, data): stays and trips, tiling the day
        self.stays, self.trips = [], []

    # ------------------------------------------------------------ places and plans

    def around(self, centre, rmin, rmax):
        a = self.rnd.uniform(0, 2 * math.pi)
        r = self.rnd.uniform(rmin, rmax)
        return (centre[0] + r * math.cos(a), centre[1] + r * math.sin(a))

    def make_places(self):
        rnd = self.rnd
        home = self.around((0, 0), 0, 3000)
        work = self.around(home, 400, min(30000, rnd.lognormvariate(math.log(5000), 0.8)))
        return {
            "home": home,
            "work": work,
            "shop": self.around(home, 300, 2500),
            "market": self.around(home, 800, 4000),
            "cafe": self.around(work, 150, 800),
            "gym": self.around(home, 500, 5000),
            "friend": self.around(home, 1000, 15000),
            "town": self.around(home, 20000, 80000),
        }

    def plan(self):
        """The day's places and the times of leaving them, as local seconds."""
        rnd = self.rnd
        weekday = rnd.random() < 0.7
        h = 3600
        stops = []  # (place, leave at local seconds); the first is home from 00:00
        if weekday:
            t = rnd.uniform(7.5 * h, 9 * h)
            stops.append(("home", t))
            lunch = rnd.random() < 0.4
            if lunch:
                t = rnd.uniform(12 * h, 13 * h)
                stops.append(("work", t))
                stops.append(("cafe", t + rnd.uniform(25 * 60, 60 * 60)))
            t = rnd.uniform(16.5 * h, 18.5 * h)
            stops.append(("work", t))
            if rnd.random() < 0.5:
                stops.append((rnd.choice(["shop", "market", "gym"]), None))
            if rnd.random() < 0.25:
                stops.append(("home", rnd.uniform(19 * h, 20 * h)))
                stops.append((rnd.choice(["friend", "cafe"]), rnd.uniform(21.5 * h, 23 * h)))
        else:
            t = rnd.uniform(9 * h, 11.5 * h)
            stops.append(("home", t))
            if rnd.random() < 0.3:
                stops.append(("town", rnd.uniform(15 * h, 18 * h)))
            else:
                for _ in range(rnd.randint(1, 3)):
                    stops.append((rnd.choice(["shop", "market", "gym", "friend", "cafe"]), None))
            if rnd.random() < 0.3:
                stops.append(("home", rnd.uniform(18 * h, 19.5 * h)))
                stops.append(("friend", rnd.uniform(21.5 * h, 23.5 * h)))
        stops.append(("home", None))  # till the day's end
        # Two places in a row the same: keep one.
        out = []
        for p in stops:
            if out and out[-1][0] == p[0]:
                out[-1] = (p[0], p[1])
            else:
                out.append(p)
        return out

    # ------------------------------------------------------------ paths

    def grid_path(self, a, b, wiggle=15.0):
        """A town path from a to b: a staircase along the street grid, 2 to 6 turns."""
        rnd = self.rnd
        ux, uy = math.cos(self.grid), math.sin(self.grid)
        vx, vy = -uy, ux
        dx, dy = b[0] - a[0], b[1] - a[1]
        du, dv = dx * ux + dy * uy, dx * vx + dy * vy
        turns = rnd.randint(1, 3)
        fu = sorted(rnd.random() for _ in range(turns))
        fv = sorted(rnd.random() for _ in range(turns))
        pts = [a]
        pu = pv = 0.0
        for i in range(turns + 1):
            nu = du * (fu[i] if i < turns else 1.0)
            nv = dv * (fv[i] if i < turns else 1.0)
            # along u, then along v
            for (cu, cv) in ((nu, pv), (nu, nv)):
                x = a[0] + cu * ux + cv * vx
                y = a[1] + cu * uy + cv * vy
                if dist(pts[-1], (x, y)) > 1:
                    pts.append((x + rnd.uniform(-wiggle, wiggle), y + rnd.uniform(-wiggle, wiggle)))
            pu, pv = nu, nv
        pts[-1] = b
        return pts

    def smooth_path(self, a, b, bend=0.05):
        """A motorway or railway: gentle bends, at most `bend` of the distance off the line."""
        rnd = self.rnd
        d = dist(a, b)
        n = max(2, int(d / 4000))
        nx, ny = -(b[1] - a[1]) / d, (b[0] - a[0]) / d
        off = 0.0
        pts = [a]
        for i in range(1, n):
            f = i / n
            off = max(-bend * d, min(bend * d, off + rnd.uniform(-0.3, 0.3) * bend * d))
            pts.append((a[0] + f * (b[0] - a[0]) + off * nx, a[1] + f * (b[1] - a[1]) + off * ny))
        pts.append(b)
        return pts

    def legs_for(self, a, b):
        """The legs of a trip: [(mode, polyline, wait before it in s)]."""
        rnd = self.rnd
        d = dist(a, b)
        if d < 1200:
            mode = "walking" if rnd.random() < 0.8 else "cycling"
        elif d < 5000:
            mode = rnd.choices(["walking", "cycling", "driving"],
                               [0.15 if d < 2500 else 0.0, 0.4, 0.45])[0]
        elif d < 40000:
            mode = "driving" if rnd.random() < 0.65 else "train"
        else:
            mode = "driving" if rnd.random() < 0.5 else "train"
        if mode in ("walking", "cycling"):
            return [(mode, self.grid_path(a, b), 0)]
        if mode == "driving":
            if d < 10000:
                return [("driving", self.grid_path(a, b, 25), 0)]
            # town streets, a motorway, town streets
            ua = self.around(a, 1000, 3000)
            ub = self.around(b, 1000, 3000)
            path = self.grid_path(a, ua, 25)[:-1] + self.smooth_path(ua, ub) + \
                self.grid_path(ub, b, 25)[1:]
            return [("driving", path, 0)]
        sa = self.around(a, 300, 1200)
        sb = self.around(b, 300, 1200)
        return [("walking", self.grid_path(a, sa), 0),
                ("train", self.smooth_path(sa, sb, 0.03), rnd.uniform(60, 240)),
                ("walking", self.grid_path(sb, b), 0)]

    def move_along(self, mode, pts, t0, out):
        """Second-by-second positions along pts; returns the arrival time."""
        rnd = self.rnd
        lo, hi = CRUISE[mode]
        cruise = rnd.uniform(lo, hi)
        t = t0
        v = 0.0
        factor = 1.0
        stop_every = {"driving": rnd.uniform(300, 900), "train": rnd.uniform(8000, 20000),
                      "cycling": rnd.uniform(600, 1500), "walking": rnd.uniform(800, 2000)}[mode]
        next_stop = stop_every * rnd.uniform(0.5, 1.5)
        travelled = 0.0
        motorway = False
        for i in range(len(pts) - 1):
            a, b = pts[i], pts[i + 1]
            seg = dist(a, b)
            if mode == "driving":
                motorway = seg > 3000 or (motorway and seg > 1500)
            target = rnd.uniform(*CRUISE["motorway"]) if motorway else cruise
            s = 0.0
            while s < seg:
                factor = max(0.7, min(1.3, factor + rnd.uniform(-0.03, 0.03)))
                want = target * factor
                accel = {"walking": 1.0, "cycling": 0.8, "driving": 2.0, "train": 0.5}[mode]
                v = min(want, v + accel) if v < want else max(want, v - 2 * accel)
                step = min(v, seg - s)
                s += step
                travelled += step
                t += 1
                f = s / seg if seg > 0 else 1.0
                out.append((t, a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1]), mode, v))
                if travelled >= next_stop and not motorway:
                    wait = {"driving": rnd.uniform(15, 60), "train": rnd.uniform(40, 120),
                            "cycling": rnd.uniform(10, 40), "walking": rnd.uniform(10, 40)}[mode]
                    for _ in range(int(wait)):
                        t += 1
                        out.append((t, out[-1][1], out[-1][2], mode, 0.0))
                    v = 0.0
                    next_stop = travelled + stop_every * rnd.uniform(0.5, 1.5)
        return t

    # ------------------------------------------------------------ the truth

    def build(self):
        rnd = self.rnd
        plan = self.plan()
        h = 3600
        t = self.day_start
        here = plan[0][0]
        arrive = self.day_start
        for i, (place, leave_local) in enumerate(plan):
            last = i == len(plan) - 1
            if last:
                leave = self.day_end
            elif leave_local is None:
                leave = arrive + rnd.uniform(10 * 60, 45 * 60)
            else:
                leave = max(self.day_start + leave_local, arrive + rnd.uniform(10 * 60, 20 * 60))
            leave = int(min(leave, self.day_end - 2 * h)) if not last else self.day_end
            if not last and leave <= arrive + 600:
                leave = arrive + 600
            pos = self.places[place]
            self.stays.append({"start": int(arrive), "end": int(leave), "x": pos[0], "y": pos[1],
                               "place": place, "clipped_start": i == 0, "clipped_end": last})
            if last:
                break
            nxt = plan[i + 1][0]
            samples = []
            tt = leave
            legs_out = []
            for mode, pts, wait in self.legs_for(pos, self.places[nxt]):
                for _ in range(int(wait)):
                    tt += 1
                    samples.append((tt, samples[-1][1] if samples else pts[0][0],
                                    samples[-1][2] if samples else pts[0][1], mode, 0.0))
                tt = self.move_along(mode, pts, tt, samples)
                legs_out.append({"mode": mode, "distance_m": round(polyline_length(pts), 1)})
            dmode = {}
            for lg in legs_out:
                dmode[lg["mode"]] = dmode.get(lg["mode"], 0) + lg["distance_m"]
            self.trips.append({"start": int(leave), "end": int(tt),
                               "distance_m": round(sum(lg["distance_m"] for lg in legs_out), 1),
                               "mode": max(dmode, key=dmode.get), "legs": legs_out,
                               "samples": samples})
            arrive = tt
            here = nxt
        del here
        # A trip that ran past midnight: end the day earlier (plans leave by 22:00; a long
        # trip could still overrun). Keep the day well-formed: drop what does not fit.
        while self.trips and self.trips[-1]["end"] >= self.day_end - 60:
            self.trips.pop()
            self.stays.pop()
            self.stays[-1]["end"] = self.day_end
            self.stays[-1]["clipped_end"] = True

    def position(self, t):
        """(x, y, moving mode or None, speed, indoors) at time t."""
        for tr in self.trips:
            if tr["start"] <= t < tr["end"]:
                s = tr["samples"]
                k = max(0, min(len(s) - 1, int(t - tr["start"]) - 1))
                _, x, y, mode, v = s[k]
                return x, y, mode, v, False
        for st in self.stays:
            if st["start"] <= t <= st["end"]:
                # Moving about in the building: a slow wander within ~15 m.
                ph = (t - st["start"]) / 900.0
                ox = 12 * math.sin(ph * 1.3 + st["x"] % 7) * math.cos(ph * 0.7)
                oy = 12 * math.cos(ph * 1.1 + st["y"] % 5) * math.sin(ph * 0.9)
                return st["x"] + ox, st["y"] + oy, None, 0.0, True
        st = self.stays[-1]
        return st["x"], st["y"], None, 0.0, True

    # ------------------------------------------------------------ the phone

    def sample(self):
        rnd = self.rnd
        fixes = []  # (t, x, y, acc or None, vel km/h or None, kind)
        gm = [0.0, 0.0]  # the slowly drifting GPS error (Gauss-Markov, tau ~45 s)
        tau = rnd.uniform(30, 90)
        last_t = None

        def gps_error(t, sigma):
            nonlocal last_t
            dt = 1.0 if last_t is None else max(1.0, t - last_t)
            last_t = t
            a = math.exp(-dt / tau)
            b = math.sqrt(1 - a * a)
            for k in (0, 1):
                gm[k] = gm[k] * a + b * rnd.gauss(0, sigma)
            return gm[0] + rnd.gauss(0, 0.7), gm[1] + rnd.gauss(0, 0.7)

        def fix(t, kind):
            x, y, mode, v, indoors = self.position(t)
            if indoors and kind != "gps":
                # wifi positioning: acc 20-80 m, scattered accordingly (no drift)
                acc = rnd.uniform(20, 80)
                sigma = acc / 1.5
                ex, ey = rnd.gauss(0, sigma), rnd.gauss(0, sigma)
            elif kind == "cell":
                acc = rnd.uniform(300, 2000)
                ex, ey = rnd.gauss(0, acc / 1.5), rnd.gauss(0, acc / 1.5)
            else:
                sigma = rnd.uniform(2.0, 6.0) * (1.8 if indoors else 1.0)
                ex, ey = gps_error(t, sigma)
                acc = sigma * 1.5 * rnd.lognormvariate(0, 0.2)
            fixes.append([int(t), x + ex, y + ey, acc, v * 3.6 if mode else 0.0, kind])

        if self.mode == "move":
            interval = rnd.choice([2, 5, 5, 10, 10, 15, 30, 60])
            dozes = rnd.random() < 0.5          # the phone sleeps at stays
            doze_after = rnd.uniform(600, 1800)
            t = self.day_start + rnd.uniform(0, interval)
            while t < self.day_end:
                x, y, mode, v, indoors = self.position(t)
                if mode is None and dozes:
                    st = next((s for s in self.stays if s["start"] <= t <= s["end"]), None)
                    if st and t - st["start"] > doze_after and st["end"] - t > 0:
                        # asleep until the device moves, then woken a little after
                        t = st["end"] + rnd.uniform(10, 120)
                        continue
                fix(t, "wifi" if indoors and rnd.random() < 0.7 else "gps")
                t += interval * rnd.uniform(0.9, 1.1)
            # phone off or in a tunnel during a trip: 0-2 holes of 2-20 min
            for _ in range(rnd.choice([0, 0, 1, 2])):
                if not self.trips:
                    break
                tr = rnd.choice(self.trips)
                a = rnd.uniform(tr["start"], tr["end"])
                b = min(tr["end"], a + rnd.uniform(120, 1200))  # back on before arriving
                fixes = [f for f in fixes if not (a <= f[0] < b)]
        else:
            min_gap = rnd.choice([60, 120, 300])
            step = rnd.uniform(450, 600)
            for i, st in enumerate(self.stays):
                if i > 0:  # the app's visit/region event on arrival: at least one point a stay
                    fix(st["start"] + rnd.uniform(20, 300), rnd.choice(["gps", "wifi", "wifi"]))
                t = st["start"]
                while True:  # background fixes now and then
                    t += rnd.expovariate(1 / (4 * 3600.0))
                    if t >= st["end"]:
                        break
                    fix(t, rnd.choice(["wifi", "wifi", "cell"]))
            for tr in self.trips:
                s = tr["samples"]
                lx, ly, lt = s[0][1], s[0][2], tr["start"]
                timer = rnd.uniform(900, 1800)
                for (t, x, y, mode, v) in s:
                    moved = math.hypot(x - lx, y - ly)
                    if (moved >= step and t - lt >= min_gap) or t - lt >= timer:
                        fix(t + rnd.uniform(0, 20), rnd.choice(["gps", "gps", "wifi", "cell"]))
                        lx, ly, lt = x, y, t
        # Outliers: a fix km away with a small acc (urban canyon): on half the move-mode days
        # one to three; in sparse mode one fix in a hundred. A fix without accuracy.
        if self.mode == "move":
            wild = rnd.randint(1, 3) if rnd.random() < 0.5 else 0
        else:
            wild = sum(1 for _ in fixes if rnd.random() < 0.01)
        if fixes and wild:
            for f in rnd.sample(fixes, min(len(fixes), wild)):
                a = rnd.uniform(0, 2 * math.pi)
                r = rnd.uniform(1000, 5000)
                f[1] += r * math.cos(a)
                f[2] += r * math.sin(a)
                f[3] = rnd.uniform(10, 60)
        for f in fixes:
            if rnd.random() < 0.02:
                f[3] = None if rnd.random() < 0.5 else 0
        fixes.sort(key=lambda f: f[0])
        # One fix per second: a phone that reports twice in one second keeps one here (the
        # store's key is the tst), and the day's bounds hold.
        out, seen = [], set()
        for f in fixes:
            if f[0] in seen or not (self.day_start <= f[0] < self.day_end):
                continue
            seen.add(f[0])
            out.append(f)
        self.fixes = out
        # Late delivery: on some days a span of 30-120 min was buffered and sent hours later.
        self.late = []
        if out and rnd.random() < 0.3:
            a = rnd.uniform(self.day_start + 6 * 3600, self.day_end - 4 * 3600)
            b = a + rnd.uniform(1800, 7200)
            self.late.append({"from": int(a), "to": int(b),
                              "deliver_at": int(b + rnd.uniform(2 * 3600, 10 * 3600))})

    # ------------------------------------------------------------ output

    def labels(self):
        g = self.geo
        stays = []
        for s in self.stays:
            lat, lon = g.ll(s["x"], s["y"])
            stays.append({"start": s["start"], "end": s["end"], "lat": round(lat, 7),
                          "lon": round(lon, 7), "place": s["place"],
                          "clipped_start": s["clipped_start"], "clipped_end": s["clipped_end"]})
        trips = [{k: v for k, v in t.items() if k != "samples"} for t in self.trips]
        return {"day": self.index, "town": self.town, "mode": self.mode,
                "day_start": self.day_start, "day_end": self.day_end, "stays": stays,
                "trips": trips, "late": self.late}

    def messages(self):
        """OwnTracks location messages, in tst order."""
        g = self.geo
        batt = self.rnd.randint(40, 100)
        for t, x, y, acc, vel, kind in self.fixes:
            lat, lon = g.ll(x, y)
            m = {"_type": "location", "tid": "fk", "tst": t, "lat": round(lat, 7),
                 "lon": round(lon, 7), "batt": batt, "bs": 1,
                 "conn": "m" if kind == "cell" else "w", "m": 2 if self.mode == "move" else 1}
            if acc is not None:
                m["acc"] = int(round(acc))
            if kind == "gps":
                m["vel"] = int(round(vel))
            if self.mode != "move":
                m["t"] = "v" if vel == 0 else "t"
            yield m

    def text_lines(self):
        for m in self.messages():
            acc = m.get("acc")
            yield "%d %.7f %.7f %s" % (m["tst"], m["lat"], m["lon"],
                                       "nan" if acc is None else str(acc))


def make_day(seed, index, set_name):
    rnd = random.Random("%s/%d" % (seed, index))
    if set_name == "mixed":
        mode = "move" if rnd.random() < 0.75 else "sparse"
    else:
        mode = set_name
    day = Day(rnd, index, mode)
    day.build()
    day.sample()
    return day


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", default="1")
    ap.add_argument("--days", type=int, default=10)
    ap.add_argument("--first", type=int, default=0, help="index of the first day")
    ap.add_argument("--only", help="these day indices (comma-separated) instead")
    ap.add_argument("--set", choices=["mixed", "move", "sparse"], default="mixed")
    ap.add_argument("--format", choices=["owntracks", "text"], default="owntracks")
    ap.add_argument("--out", required=True, help="a directory, or - (text only: stdout)")
    a = ap.parse_args()
    if a.out == "-" and a.format != "text":
        ap.error("--out - needs --format text")
    if a.out != "-":
        os.makedirs(a.out, exist_ok=True)
    indices = ([int(x) for x in a.only.split(",")] if a.only
               else range(a.first, a.first + a.days))
    for i in indices:
        day = make_day(a.seed, i, a.set)
        name = "%04d" % i
        if a.out == "-":
            sys.stdout.write("day %s\n" % name)
            for line in day.text_lines():
                sys.stdout.write(line + "\n")
            continue
        ext = ".txt" if a.format == "text" else ".jsonl"
        with open(os.path.join(a.out, name + ext), "w") as f:
            if a.format == "text":
                for line in day.text_lines():
                    f.write(line + "\n")
            else:
                for m in day.messages():
                    f.write(json.dumps(m, separators=(",", ":")) + "\n")
        with open(os.path.join(a.out, name + ".labels.json"), "w") as f:
            json.dump(day.labels(), f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
