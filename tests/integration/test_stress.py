"""Concurrency stress: points stream into several devices over MQTT (appends and late points)
while other clients run thinned, limited, ranged and formatted track queries, statistics,
month listings, last positions, live streams (SSE and WebSocket) and deletes (over HTTP and
from the CLI, another process) against the same devices.

It fails on any sanitizer report (run it under `packaging/dev test --sanitize`), on the
server dying, on any error status, and on any answer that breaks an invariant: a track's
points ascend, lie inside the range asked for and were all published; a thinned track has at
most max_points points and no more than the range held; a limited one at most `limit`;
statistics count no more points than were published. It also checks that the concurrency it
is about really happened: points were stored while the queries ran, thinned queries thinned,
limits cut, deletes removed points and the live streams carried events.

Bounded twice: by time (STRESS_SECONDS of queries, WHERELOG_STRESS_SECONDS to change it) and
by count (at most POINTS_PER_DEVICE points a device), so that it ends on a slow machine under
AddressSanitizer as well as on a fast one. It prints its figures.
"""
import csv
import http.client
import io
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
import unittest

import websocket

import harness as h

STRESS_SECONDS = float(os.environ.get("WHERELOG_STRESS_SECONDS", "25"))
DEVICES = ["phone", "tablet", "watch"]
POINTS_PER_DEVICE = 15000  # the count bound: appends and late points together
BATCH = 60                 # points per wl-pub run
PAUSE = 0.02               # between two runs: a phone's stream, not a bulk import
PASSWORD = "stress-pw"
BASE = 1672531200         # 2023-01-01T00:00:00Z: always in the past, on any date it runs
STEP = 10                 # seconds between appended points; late points fall in between
FROM = "2023-01-01"
END_OF_TIME = 2**63  # no `to`: the range is open at the end, as the map's History view asks


class Published:
    """What the publishers have handed to the broker, per device: an upper bound for what the
    store can hold (a point counts from the moment it is given to wl-pub, before it can be
    stored) and the set every returned point must come from."""

    def __init__(self):
        self.lock = threading.Lock()
        self.tsts = {d: set() for d in DEVICES}
        self.newest = {d: BASE for d in DEVICES}

    def add(self, device, tsts):
        with self.lock:
            self.tsts[device].update(tsts)
            self.newest[device] = max([self.newest[device]] + tsts)

    def count(self, device):
        with self.lock:
            return len(self.tsts[device])

    def known(self, device, tst):
        with self.lock:
            return tst in self.tsts[device]

    def span(self, device):
        with self.lock:
            return BASE, self.newest[device]


class Stress(unittest.TestCase):
    def setUp(self):
        self.dir = h.Workdir()
        users = self.dir.file("users")
        subprocess.run(["htpasswd", "-bBc", "-C", "5", users, "jane", PASSWORD], check=True,
                       capture_output=True)
        self.stack = h.Stack(server_args=["--http-auth-file", users])
        self.port = self.stack.server.http_port
        self.stack.server.wait_http()
        self.auth = h.basic("jane", PASSWORD)
        self.published = Published()
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.failures = []
        self.figures = {}

    def tearDown(self):
        self.stop.set()
        self.stack.stop()
        self.dir.remove()

    # ------------------------------------------------------------ bookkeeping

    def tally(self, name, n=1):
        with self.lock:
            self.figures[name] = self.figures.get(name, 0) + n

    def fail_with(self, what):
        with self.lock:
            self.failures.append(what)
        self.stop.set()  # the first broken invariant ends the run: it is reported as is

    def check(self, ok, what):
        if not ok:
            self.fail_with(what)
        return ok

    def get(self, path, method="GET"):
        """One request; a refused connection (a dead server) or an error status is a
        failure. Returns the response or None."""
        try:
            r = h.request(self.port, path, method=method, headers={"Authorization": self.auth},
                          timeout=120)
        except OSError as e:
            self.fail_with("%s %s: %r (has the server died?)" % (method, path, e))
            return None
        self.tally("requests")
        if r.status != 200:
            self.fail_with("%s %s: status %d: %s" % (method, path, r.status, r.body[:300]))
            return None
        return r

    def worker(self, fn):
        def run():
            rng = random.Random()
            while not self.stop.is_set():
                try:
                    fn(rng)
                except Exception as e:  # an unparsable answer is a failure too
                    self.fail_with("%s: %r" % (fn.__name__, e))
        t = threading.Thread(target=run, name=fn.__name__, daemon=True)
        t.start()
        return t

    # ------------------------------------------------------------ writers

    def publisher(self, device):
        """Appends points STEP seconds apart; one in five is a late point, between two older
        ones. Runs until the count bound or the stop."""
        rng = random.Random(device)
        appended = 0
        total = 0
        while total < POINTS_PER_DEVICE and not self.stop.is_set():
            lines, tsts = [], []
            for _ in range(BATCH):
                if appended > 10 and rng.random() < 0.2:
                    tst = BASE + STEP * rng.randrange(appended - 1) + rng.randrange(1, STEP)
                else:
                    tst = BASE + STEP * appended
                    appended += 1
                lat = 48.0 + 0.01 * ((tst // 600) % 50) + 0.0001 * (tst % 97)
                lon = 2.0 + 0.0001 * ((tst // STEP) % 1000)
                lines.append(h.location("jane", device, tst, lat=round(lat, 6),
                                        lon=round(lon, 6), acc=10, tid="JN"))
                tsts.append(tst)
            self.published.add(device, tsts)
            try:
                h.publish(self.stack.broker.port, lines)
            except AssertionError as e:
                self.fail_with("publishing to %s: %s" % (device, e))
                return
            total += BATCH
            self.tally("points published", BATCH)
            time.sleep(PAUSE)

    def stretch_to_delete(self, rng):
        """A device and the start of 25 s of its published points to delete, or None while
        too little has been published (after a short pause)."""
        device = rng.choice(DEVICES)
        lo, hi = self.published.span(device)
        if hi - lo < 100:
            time.sleep(0.05)
            return None
        return device, rng.randrange(lo, hi - 30)

    def cli_deleter(self, rng):
        """`wherelog delete` from another process: a few points in a random stretch."""
        stretch = self.stretch_to_delete(rng)
        if not stretch:
            return
        device, start = stretch
        r = h.cli(self.stack.storage, "delete", "--user", "jane", "--device", device,
                  "--from", str(start), "--to", str(start + 25), check=False)
        if not self.check(r.returncode == 0, "wherelog delete failed: %s" % r.stderr):
            return
        self.tally("cli deletes")
        # "removed jane/phone: 3 points"
        for line in r.stdout.splitlines():
            if line.startswith("removed ") and line.endswith(" points"):
                self.tally("points deleted", int(line.split()[-2]))
        time.sleep(0.2)

    def api_deleter(self, rng):
        stretch = self.stretch_to_delete(rng)
        if not stretch:
            return
        device, start = stretch
        r = self.get("/api/0/locations?user=jane&device=%s&from=%d&to=%d"
                     % (device, start, start + 25), method="DELETE")
        if r:
            self.tally("api deletes")
            self.tally("points deleted", r.json()["deleted"]["points"])
        time.sleep(0.2)

    # ------------------------------------------------------------ readers

    def check_track(self, what, device, tsts, lo, hi, count=None):
        """The invariants every returned track keeps."""
        if count is not None:
            self.check(count == len(tsts), "%s: count %d but %d points" % (what, count, len(tsts)))
        self.check(all(a < b for a, b in zip(tsts, tsts[1:])), "%s: points out of order" % what)
        for t in tsts:
            if not self.check(lo <= t <= hi, "%s: point %d outside %d..%d" % (what, t, lo, hi)):
                return
            if not self.check(self.published.known(device, t),
                              "%s: point %d was never published" % (what, t)):
                return
        bound = self.published.count(device)  # read after the answer: it only grows
        self.check(len(tsts) <= bound, "%s: %d points, only %d published" % (what, len(tsts),
                                                                              bound))

    def track(self, query):
        r = self.get("/api/0/locations?" + query)
        return r.json() if r else None

    def thinned(self, rng):
        """What the map's History view asks: thinned, up to the end of time."""
        device, m = rng.choice(DEVICES), rng.randrange(16, 60)
        q = "user=jane&device=%s&from=%s&max_points=%d" % (device, FROM, m)
        o = self.track(q)
        if o is None:
            return
        tsts = [p["tst"] for p in o["data"]]
        self.check(len(tsts) <= m, "%s: %d points, max_points %d" % (q, len(tsts), m))
        self.check(len(tsts) <= o["in_range"],
                   "%s: %d points, the range held %d" % (q, len(tsts), o["in_range"]))
        self.check_track(q, device, tsts, BASE, END_OF_TIME, o["count"])
        self.tally("thinned queries")
        if o["in_range"] > m:
            self.tally("thinned queries that thinned")

    def limited(self, rng):
        device, limit = rng.choice(DEVICES), rng.randrange(1, 40)
        thin = rng.random() < 0.3
        q = "user=jane&device=%s&from=%s&limit=%d%s" % (device, FROM, limit,
                                                        "&max_points=16" if thin else "")
        o = self.track(q)
        if o is None:
            return
        tsts = [p["tst"] for p in o["data"]]
        self.check(len(tsts) <= limit, "%s: %d points" % (q, len(tsts)))
        if thin:
            self.check(len(tsts) <= 16, "%s: %d points" % (q, len(tsts)))
        self.check_track(q, device, tsts, BASE, END_OF_TIME, o["count"])
        self.tally("limited queries")
        if len(tsts) == limit:
            self.tally("limited queries cut at the limit")

    def ranged(self, rng):
        device = rng.choice(DEVICES)
        lo, hi = self.published.span(device)
        a = rng.randrange(lo, hi + 1)
        b = rng.randrange(a, hi + 200)
        m = rng.choice([0, 0, rng.randrange(16, 40)])
        q = "user=jane&device=%s&from=%d&to=%d%s" % (device, a, b,
                                                    "&max_points=%d" % m if m else "")
        o = self.track(q)
        if o is None:
            return
        tsts = [p["tst"] for p in o["data"]]
        if m:
            self.check(len(tsts) <= m, "%s: %d points" % (q, len(tsts)))
        self.check_track(q, device, tsts, a, b, o["count"])
        self.tally("ranged queries")

    def formatted(self, rng):
        device, fmt = rng.choice(DEVICES), rng.choice(["geojson", "gpx", "csv", "linestring",
                                                       "xml"])
        m, limit = rng.randrange(16, 50), rng.randrange(1, 80)
        bound = rng.choice(["max_points=%d" % m, "limit=%d" % limit])
        q = "user=jane&device=%s&from=%s&format=%s&%s" % (device, FROM, fmt, bound)
        r = self.get("/api/0/locations?" + q)
        if r is None:
            return
        most = m if bound.startswith("max") else limit
        if fmt == "geojson":
            tsts = [f["properties"]["tst"] for f in r.json()["features"]]
            self.check_track(q, device, tsts, BASE, END_OF_TIME)
            n = len(tsts)
        elif fmt == "linestring":
            n = len(r.json()["geometry"]["coordinates"])
        elif fmt == "csv":
            n = len(list(csv.reader(io.StringIO(r.text)))) - 1
        elif fmt == "gpx":
            n = r.text.count("<trkpt ")
        else:
            n = r.text.count("<point>")
        self.check(n <= most, "%s: %d points" % (q, n))
        self.tally("formatted queries")

    def stats(self, rng):
        device = rng.choice(DEVICES)
        r = self.get("/api/0/stats?user=jane&device=%s" % device)
        if r is None:
            return
        d = r.json()["devices"]
        if not d:
            return  # before the first point of that device
        d = d[0]
        bound = self.published.count(device)
        self.check(d["points"] <= bound, "stats %s: %d points, %d published"
                   % (device, d["points"], bound))
        if d["points"]:
            self.check(self.published.known(device, d["first"]) and
                       self.published.known(device, d["last"]) and d["first"] <= d["last"],
                       "stats %s: first %d, last %d" % (device, d["first"], d["last"]))
        self.tally("stats queries")

    def others(self, rng):
        """Months, last positions."""
        device = rng.choice(DEVICES)
        r = self.get("/api/0/list?user=jane&device=%s" % device)
        if r:
            months = r.json()["results"]
            self.check(months == sorted(set(months)), "months %s: %r" % (device, months))
        r = self.get("/api/0/last?user=jane")
        if r:
            for p in r.json():
                self.check(self.published.known(p["device"], p["tst"]),
                           "last: %r was never published" % p)
        self.tally("list and last queries")

    def live(self, fn):
        """A live client until the stop; the server closing it after the stop is no failure."""
        def run():
            try:
                fn()
            except Exception as e:
                self.check(self.stop.is_set(), "%s: %r" % (fn.__name__, e))
        t = threading.Thread(target=run, name=fn.__name__, daemon=True)
        t.start()
        return t

    def sse(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        conn.request("GET", "/api/0/stream", headers={"Authorization": self.auth})
        resp = conn.getresponse()
        self.check(resp.status == 200, "stream: status %d" % resp.status)
        while not self.stop.is_set():
            line = resp.fp.readline()
            if not line:
                self.check(self.stop.is_set(), "the stream ended early")
                break
            if line.startswith(b"event: location"):
                self.tally("sse events")
        conn.close()

    def ws(self):
        s = websocket.create_connection("ws://127.0.0.1:%d/ws/last" % self.port, timeout=120,
                                        header=["Authorization: " + self.auth])
        while not self.stop.is_set():
            msg = s.recv()
            if not msg:
                self.check(self.stop.is_set(), "the websocket ended early")
                break
            if json.loads(msg).get("_type") == "location":
                self.tally("websocket events")
        s.close()

    # ------------------------------------------------------------ the run

    def stored(self):
        r = self.get("/api/0/stats?user=jane")
        return r.json()["points"] if r else 0

    def test_queries_and_deletes_while_points_stream_in(self):
        started = time.monotonic()
        publishers = [threading.Thread(target=self.publisher, args=(d,), daemon=True)
                      for d in DEVICES]
        for t in publishers:
            t.start()
        # Some history first, so that thinning has something to thin from the start.
        h.wait_for(lambda: self.stored() > 400 or self.failures, 300, "a first history")
        stored_before = self.stored()

        live = [self.live(self.sse), self.live(self.ws)]
        readers = [self.worker(fn) for fn in (self.thinned, self.thinned, self.limited,
                                              self.ranged, self.formatted, self.stats,
                                              self.others, self.api_deleter, self.cli_deleter)]
        queries_from = time.monotonic()
        while (time.monotonic() - queries_from < STRESS_SECONDS and not self.stop.is_set() and
               any(t.is_alive() for t in publishers)):
            time.sleep(0.2)
        stored_during = self.stored() - stored_before + self.figures.get("points deleted", 0)
        self.stop.set()
        for t in readers + publishers:
            t.join(180)
        query_seconds = time.monotonic() - queries_from
        # The live clients may block in a read until the next event or keep-alive; stopping
        # the server ends their streams, and a read failing after the stop is no failure.
        for t in live:
            t.join(1)

        # The report, without the log lines of the other threads written in between.
        log = self.stack.server.new_log()
        marks = [log.find(m) for m in h.SANITIZER_MARKS if m in log]
        report = [line for line in log[min(marks):].splitlines()
                  if not re.match(r"\d{4}-\d\d-\d\dT", line)] if marks else []
        if report:
            self.fail("a sanitizer report in the server's log:\n" + "\n".join(report[:60]))
        self.assertEqual(self.failures, [], "no broken invariant, error status or dead server")
        self.assertIsNone(self.stack.server.proc.poll(), "the server is still running")
        rc = self.stack.server.stop()  # fails on any sanitizer report in its log
        self.assertEqual(rc, 0, "the server stops cleanly")

        f = self.figures
        f["points stored during the queries"] = stored_during
        f["seconds"] = round(time.monotonic() - started, 1)
        f["seconds of queries"] = round(query_seconds, 1)
        f["reader threads"] = len(readers) + len(live)
        print("stress figures: " + json.dumps(f, sort_keys=True), file=sys.stderr)
        # What makes the run a test of concurrency, not of each part alone.
        self.assertGreater(stored_during, 0, "points were stored while the queries ran")
        self.assertGreater(f.get("thinned queries that thinned", 0), 0, "thinning thinned")
        self.assertGreater(f.get("limited queries cut at the limit", 0), 0, "limits cut")
        self.assertGreater(f.get("points deleted", 0), 0, "deletes removed points")
        self.assertGreater(f.get("cli deletes", 0), 0, "the CLI deleted concurrently")
        self.assertGreater(f.get("sse events", 0) + f.get("websocket events", 0), 0,
                           "the live streams carried events")
        for kind in ("ranged queries", "formatted queries", "stats queries",
                     "list and last queries"):
            self.assertGreater(f.get(kind, 0), 0, kind + " ran")


if __name__ == "__main__":
    unittest.main()
