"""The timeline's read side against a real server and a real broker: a day made by hand (a
home stay, a walk, a work stay, a silence, a far place) published over MQTT, then
/api/0/timeline, /api/0/days and /api/0/at (checked against api/openapi.yaml), the command
line (timeline, at, settings, timeline rebuild, export --timeline), GPX validated, late points,
deletes and hides that change the timeline, the user's time zone moving the day boundary, live
events over SSE, access control and bad input."""
import http.client
import json
import math
import os
import subprocess
import tempfile
import time
import unittest
import urllib.parse

import websocket

import contract
import dayfaker
import gpx_check
import harness as h

# 2024-05-03, a Friday: Europe/Paris is UTC+2 (summer time).
DAY = 1714694400  # 2024-05-03T00:00:00Z
HOME = (48.8500, 2.3500)
WORK = (48.8584, 2.2945)
LYON = (45.7600, 4.8400)
HOME_END = DAY + 6 * 3600             # 06:00Z: leaves home
WORK_START = DAY + 6 * 3600 + 40 * 60  # 06:40Z: arrives at work
WORK_END = DAY + 15 * 3600 + 10 * 60   # 15:10Z: the last fix at work, then silence
LYON_START = DAY + 86400 + 5 * 3600    # the next day 05:00Z, 400 km away
WALK_STEP = 30                         # seconds between the walk's fixes


def jitter(i, metres):
    """A small deterministic wobble in degrees (about `metres`), like indoor fixes."""
    return metres / 111000 * math.sin(i * 1.7)


def stay(start, end, place, step, acc=12):
    return [dict(tst=t, lat=place[0] + jitter(t, 8), lon=place[1] + jitter(t + 1, 8), acc=acc)
            for t in range(start, end + 1, step)]


def walk(start, end, a, b, step=WALK_STEP):
    pts = []
    for t in range(start + step, end, step):
        f = (t - start) / (end - start)
        pts.append(dict(tst=t, lat=a[0] + f * (b[0] - a[0]), lon=a[1] + f * (b[1] - a[1]), acc=8))
    return pts


def labelled_day():
    """The fixes of the day, oldest first."""
    return (stay(DAY + 4 * 3600, HOME_END, HOME, 600) +
            walk(HOME_END, WORK_START, HOME, WORK) +
            stay(WORK_START, WORK_END, WORK, 600) +
            stay(LYON_START, LYON_START + 3600, LYON, 600))


def messages(user, device, fixes):
    return [h.location(user, device, f["tst"], lat=f["lat"], lon=f["lon"], acc=f["acc"])
            for f in fixes]


def query(**params):
    return urllib.parse.urlencode(params)


class SseReader:
    """Server-Sent Events over http.client (the test's own reader)."""

    def __init__(self, port, headers=None):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.conn.request("GET", "/api/0/stream", headers=headers or {})
        self.resp = self.conn.getresponse()

    def event(self):
        ev = {"event": "message", "data": ""}
        while True:
            line = self.resp.fp.readline().decode()
            if line == "":
                raise EOFError
            line = line.rstrip("\n")
            if line == "":
                if ev["data"] or ev["event"] != "message":
                    return ev["event"], ev["data"]
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(": ")
            if field in ev:
                ev[field] = value

    def close(self):
        self.conn.close()


class Timeline(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = h.Stack()
        cls.port = cls.stack.server.http_port
        cls.storage = cls.stack.storage
        cls.fixes = labelled_day()
        h.publish(cls.stack.broker.port, messages("jane", "phone", cls.fixes))
        h.sync(cls.stack.broker.port, cls.storage)

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()

    def get(self, path, **params):
        url = path + ("?" + query(**params) if params else "")
        r = h.request(self.port, url)
        body = contract.check(path, "GET", r)
        return r, body

    def timeline(self, device="phone", user="jane", **params):
        r, body = self.get("/api/0/timeline", user=user, device=device, **params)
        self.assertEqual(r.status, 200, r.body)
        return body

    def cli(self, *args, check=True):
        return h.cli(self.storage, *args, check=check)

    def test_finds_the_stays_with_arrival_and_departure_near_the_truth(self):
        body = self.timeline(**{"from": "2024-05-03T00:00Z", "to": "2024-05-04T23:59Z"})
        self.assertEqual((body["user"], body["device"]), ("jane", "phone"))
        segs = body["segments"]
        stays = [s for s in segs if s["type"] == "stay"]
        near = lambda s, p: h_dist(s["lat"], s["lon"], *p) < 100
        home = [s for s in stays if near(s, HOME)]
        work = [s for s in stays if near(s, WORK)]
        self.assertEqual(len(home), 1, segs)
        self.assertEqual(len(work), 1, segs)
        # departure and arrival within a few minutes of the truth
        self.assertLessEqual(abs(home[0]["end"] - HOME_END), 180, home)
        self.assertLessEqual(abs(work[0]["start"] - WORK_START), 180, work)
        self.assertGreaterEqual(work[0]["end"], WORK_END - 600)
        trips = [s for s in segs if s["type"] == "trip" and
                 home[0]["end"] <= s["start"] < work[0]["start"]]
        self.assertEqual(len(trips), 1, segs)
        trip = trips[0]
        walked = h_dist(*HOME, *WORK)
        self.assertLess(abs(trip["distance"] - walked) / walked, 0.15, trip)
        self.assertEqual(trip["duration"], trip["end"] - trip["start"])
        # segments tile time, in order
        for a, b in zip(segs, segs[1:]):
            self.assertEqual(a["end"], b["start"], (a, b))
        # local times with the offset of the zone the answer names
        self.assertRegex(segs[0]["isostart"], r"[+-]\d\d:\d\d$")

    def test_geojson_has_points_for_stays_and_lines_through_the_trip_fixes(self):
        r, body = self.get("/api/0/timeline", user="jane", device="phone", format="geojson",
                           **{"from": "2024-05-03", "to": "2024-05-04"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("content-type").split(";")[0], "application/geo+json")
        kinds = {}
        for f in body["features"]:
            kinds.setdefault(f["properties"]["type"], []).append(f)
        self.assertTrue(all(f["geometry"]["type"] == "Point" for f in kinds["stay"]))
        lines = [f for f in kinds["trip"] if f["geometry"]]
        walk_line = max(lines, key=lambda f: len(f["geometry"]["coordinates"]))
        self.assertGreater(len(walk_line["geometry"]["coordinates"]), 40)
        # thinned on request
        r, body = self.get("/api/0/timeline", user="jane", device="phone", format="geojson",
                           max_points=16, **{"from": "2024-05-03", "to": "2024-05-04"})
        longest = max(len(f["geometry"]["coordinates"]) for f in body["features"]
                      if f["geometry"] and f["geometry"]["type"] == "LineString")
        self.assertLessEqual(longest, 16)

    def test_days_figures_and_months(self):
        r, body = self.get("/api/0/days", user="jane", device="phone",
                           **{"from": "2024-05-01", "to": "2024-05-31"})
        self.assertEqual(r.status, 200, r.body)
        days = {d["date"]: d for d in body["days"]}
        self.assertIn("2024-05-03", days)
        d3 = days["2024-05-03"]
        on_day = [f for f in self.fixes if d3["start"] <= f["tst"] < d3["end"]]
        self.assertEqual(d3["points"], len(on_day))
        self.assertEqual((d3["first"], d3["last"]), (on_day[0]["tst"], on_day[-1]["tst"]))
        self.assertGreater(d3["distance"], 3000)
        self.assertGreaterEqual(d3["stays"], 2)
        r, body = self.get("/api/0/days", user="jane", device="phone", group="month",
                           **{"from": "2024-05", "to": "2024-05"})
        self.assertEqual(len(body["days"]), 1, body)
        month = body["days"][0]
        self.assertEqual(month["period"], "2024-05")
        self.assertEqual(month["points"], len(self.fixes))
        self.assertEqual(month["days_with_data"], len(days))
        r, body = self.get("/api/0/days", user="jane", device="phone", group="year")
        self.assertEqual(body["days"][0]["period"], "2024")

    def at(self, t, device="phone"):
        r, body = self.get("/api/0/at", user="jane", device=device, t=str(t))
        self.assertEqual(r.status, 200, r.body)
        return body

    def test_at_inside_a_stay(self):
        body = self.at(DAY + 10 * 3600)
        self.assertEqual(body["status"], "stay")
        self.assertLess(h_dist(body["lat"], body["lon"], *WORK), 100)
        self.assertEqual(body["stay"]["type"], "stay")
        self.assertLessEqual(body["before"]["tst"], DAY + 10 * 3600)
        self.assertGreater(body["after"]["tst"], DAY + 10 * 3600)
        self.assertEqual(body["span"], body["after"]["tst"] - body["before"]["tst"])

    def test_at_between_two_fixes_of_a_trip_is_interpolated(self):
        walk_fixes = walk(HOME_END, WORK_START, HOME, WORK)
        a, b = walk_fixes[30], walk_fixes[31]
        t = a["tst"] + WALK_STEP // 3
        body = self.at(t)
        self.assertEqual(body["status"], "moving", body)
        self.assertEqual((body["before"]["tst"], body["after"]["tst"]), (a["tst"], b["tst"]))
        f = (t - a["tst"]) / (b["tst"] - a["tst"])
        self.assertAlmostEqual(body["lat"], a["lat"] + f * (b["lat"] - a["lat"]), places=5)
        self.assertAlmostEqual(body["lon"], a["lon"] + f * (b["lon"] - a["lon"]), places=5)
        self.assertEqual(body["segment"]["type"], "trip")

    def test_at_in_a_gap_and_outside_the_data(self):
        body = self.at(DAY + 86400)  # midnight between work and Lyon: a silence
        self.assertEqual(body["status"], "gap", body)
        self.assertNotIn("lat", body, "no position is made up across a gap")
        self.assertEqual(self.at("2024-04-01")["status"], "before_data")
        self.assertEqual(self.at("2099-01-01")["status"], "after_data")

    def test_bad_input_answers_clearly(self):
        cases = [
            ("/api/0/timeline", dict(user="jane", device="phone", **{"from": "2024-05-04",
                                                                    "to": "2024-05-03"}), 416),
            ("/api/0/timeline", dict(user="jane", device="nope"), 404),
            ("/api/0/timeline", dict(user="jane", device="phone", format="csv"), 400),
            ("/api/0/timeline", dict(user="jane", device="phone", **{"from": "yesterday"}), 400),
            ("/api/0/timeline", dict(device="phone"), 400),
            ("/api/0/days", dict(user="jane", device="phone", group="week"), 400),
            ("/api/0/days", dict(user="jane", device="nope"), 404),
            ("/api/0/at", dict(user="jane", device="phone"), 400),
            ("/api/0/at", dict(user="jane", device="phone", t="3000-01-01"), 400),
            ("/api/0/at", dict(user="jane", device="phone", t="soon"), 400),
            ("/api/0/at", dict(user="jane", device="nope", t=str(DAY)), 404),
            ("/api/0/locations", dict(user="jane", device="phone", timeline=1), 400),
        ]
        for path, params, status in cases:
            r, body = self.get(path, **params)
            self.assertEqual(r.status, status, (path, params, r.body))
            self.assertTrue(body["error"], body)
        # a range of ten years streams like any other
        r, body = self.get("/api/0/timeline", user="jane", device="phone",
                           **{"from": "2015-01-01", "to": "2024-12-31"})
        self.assertEqual(r.status, 200)
        self.assertTrue(body["segments"])
        r, body = self.get("/api/0/days", user="jane", device="phone",
                           **{"from": "2015-01-01", "to": "2024-12-31"})
        self.assertEqual(r.status, 200)
        self.assertTrue(body["days"])

    def test_gpx_of_the_timeline_validates(self):
        r = h.request(self.port, "/api/0/locations?" + query(
            user="jane", device="phone", format="gpx", timeline=1,
            **{"from": "2024-05-03", "to": "2024-05-04"}))
        self.assertEqual(r.status, 200, r.body)
        contract.check("/api/0/locations", "GET", r)
        with tempfile.NamedTemporaryFile(suffix=".gpx") as f:
            f.write(r.body)
            f.flush()
            gpx = gpx_check.check(f.name, os.environ.get("WHERELOG_GPX_XSD"))
        self.assertTrue(gpx["segments"], "a track per trip")
        self.assertIn(b"<wpt ", r.body)
        self.assertIn(b"<type>stay</type>", r.body)
        # the same from the command line
        out = self.cli("export", "--user", "jane", "--device", "phone", "--format", "gpx",
                       "--timeline", "--from", "2024-05-03", "--to", "2024-05-04").stdout
        self.assertEqual(out.encode(), r.body)
        r = self.cli("export", "--user", "jane", "--device", "phone", "--timeline", check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--timeline goes with --format gpx", r.stderr)

    def test_command_line(self):
        out = self.cli("timeline", "--user", "jane", "--device", "phone", "--date",
                       "2024-05-03").stdout
        lines = out.splitlines()
        self.assertTrue(any(" stay " in l and "48.85" in l for l in lines), out)
        self.assertTrue(any("\u2013" in l and " km " in l for l in lines), out)
        js = json.loads(self.cli("timeline", "--user", "jane", "--device", "phone", "--date",
                                 "2024-05-03", "--format", "json").stdout)
        api = self.timeline(**{"from": "2024-05-03", "to": "2024-05-03"})
        self.assertEqual(js, api, "the CLI and the API give the same timeline")
        r = self.cli("timeline", "--user", "jane", "--device", "phone", "--date", "2024-05-03",
                     "--format", "kml", check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--format", r.stderr)
        r = self.cli("timeline", "--user", "jane", "--device", "nope", "--date", "2024-05-03",
                     check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no device jane/nope", r.stderr)
        at = json.loads(self.cli("at", "--user", "jane", "--device", "phone", "--time",
                                 str(DAY + 10 * 3600), "--json").stdout)
        self.assertEqual(at, self.at(DAY + 10 * 3600))
        line = self.cli("at", "--user", "jane", "--device", "phone", "--time",
                        str(DAY + 10 * 3600)).stdout
        self.assertIn("stay", line)
        # the same refusal in the same words through both doors
        r = self.cli("at", "--user", "jane", "--device", "phone", "--time", "soon", check=False)
        self.assertEqual(r.returncode, 2)
        api = h.request(self.port, "/api/0/at?" + query(user="jane", device="phone",
                                                       t="soon")).json()
        self.assertEqual(r.stderr.split(": ", 2)[-1].strip(), api["error"].split(": ", 1)[1])
        r = self.cli("timeline", "rebuild", "--user", "jane", "--device", "phone")
        self.assertRegex(r.stdout, r"\d+ points read in \d+\.\d+ s")
        self.assertEqual(self.timeline(**{"from": "2024-05-03", "to": "2024-05-03"}), js,
                         "a rebuild gives the same timeline")


def h_dist(lat1, lon1, lat2, lon2):
    r = 6371008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


class Changes(unittest.TestCase):
    """What changes the timeline: late points, deletes, hides, the time zone; and live events."""

    def setUp(self):
        self.stack = h.Stack()
        self.port = self.stack.server.http_port
        self.storage = self.stack.storage

    def tearDown(self):
        self.stack.stop()

    def publish(self, user, device, fixes):
        h.publish(self.stack.broker.port, messages(user, device, fixes))
        h.sync(self.stack.broker.port, self.storage)

    def segments(self, user="jane", device="phone", **params):
        r = h.request(self.port, "/api/0/timeline?" + query(user=user, device=device, **params))
        self.assertEqual(r.status, 200, r.body)
        return contract.check("/api/0/timeline", "GET", r)["segments"]

    def days(self, user="jane", device="phone", **params):
        r = h.request(self.port, "/api/0/days?" + query(user=user, device=device, **params))
        self.assertEqual(r.status, 200, r.body)
        return contract.check("/api/0/days", "GET", r)["days"]

    def test_late_points_delete_and_hide_change_the_timeline(self):
        home = stay(DAY + 4 * 3600, HOME_END, HOME, 600)
        the_walk = walk(HOME_END, WORK_START, HOME, WORK)
        work = stay(WORK_START, WORK_END, WORK, 600)
        self.publish("jane", "phone", home + work)
        before = self.segments()
        self.assertFalse(any(s["type"] == "trip" and s["points"] > 20 for s in before), before)
        # the phone flushes the walk hours later, older than its newest point
        self.publish("jane", "phone", the_walk)
        after = self.segments()
        trips = [s for s in after if s["type"] == "trip" and s["points"] > len(the_walk) // 2]
        self.assertEqual(len(trips), 1, after)
        self.assertLessEqual(abs(trips[0]["start"] - HOME_END), 180)
        day = self.days()[0]
        self.assertEqual(day["points"], len(home + work + the_walk), "the day was recomputed")
        self.assertGreaterEqual(day["trips"], 1)
        self.assertGreater(day["moving"], 0)
        # deleting the walk takes the trip's fixes away
        h.cli(self.storage, "delete", "--user", "jane", "--device", "phone", "--from",
              str(HOME_END + 1), "--to", str(WORK_START - 1))
        deleted = self.segments()
        self.assertFalse(any(s["type"] == "trip" and s["points"] > 20 for s in deleted), deleted)
        self.assertEqual(self.days()[0]["points"], len(home + work))
        # hiding the last fix at work ends the stay earlier
        last_stay = [s for s in deleted if s["type"] == "stay"][-1]
        h.cli(self.storage, "hide", "jane", "phone", str(WORK_END))
        hidden = [s for s in self.segments() if s["type"] == "stay"][-1]
        self.assertLess(hidden["end"], last_stay["end"], (last_stay, hidden))

    def test_a_phone_silent_at_home_is_still_at_home_now(self):
        """OwnTracks sends little while a phone lies still: an hour of fixes at home ending two
        hours ago is a stay that lasts until now (the timeline read now), not one that ended
        with its last fix."""
        now = int(h.now())
        first, last = now - 3 * 3600, now - 2 * 3600
        self.publish("jane", "phone", stay(first, last, HOME, 600))
        read_at = int(h.now())
        segs = self.segments(**{"from": str(now - 6 * 3600), "to": str(read_at + 60)})
        self.assertEqual([g["type"] for g in segs], ["stay"], segs)
        self.assertTrue(segs[0]["open"])
        self.assertEqual(segs[0]["start"], first)
        self.assertGreaterEqual(segs[0]["end"], read_at, "the stay lasts until it is read")
        # where was jane an hour ago, after her last fix: at home, in that stay
        r = h.request(self.port, "/api/0/at?" + query(user="jane", device="phone",
                                                       t=str(now - 3600)))
        body = contract.check("/api/0/at", "GET", r)
        self.assertEqual(body["status"], "stay", body)
        self.assertEqual(body["stay"]["start"], first)
        self.assertLess(h_dist(body["lat"], body["lon"], *HOME), 100)

    def test_the_users_time_zone_moves_the_day_boundary(self):
        late = DAY + 23 * 3600  # 23:00Z on 3 May is 01:00 on 4 May in Paris
        self.publish("tz", "phone", stay(late, late + 50 * 60, HOME, 300))
        h.cli(self.storage, "settings", "--user", "tz", "--zone", "UTC")
        self.assertEqual([d["date"] for d in self.days(user="tz")], ["2024-05-03"])
        r = h.cli(self.storage, "settings", "--user", "tz", "--zone", "Europe/Paris")
        self.assertIn("Europe/Paris", r.stdout)
        days = self.days(user="tz")
        self.assertEqual([d["date"] for d in days], ["2024-05-04"])
        self.assertEqual(days[0]["start"], DAY + 86400 - 2 * 3600)
        segs = self.segments(user="tz", **{"from": "2024-05-04", "to": "2024-05-04"})
        self.assertTrue(segs[0]["isostart"].endswith("+02:00"), segs)
        self.assertTrue(segs[0]["isostart"].startswith("2024-05-04T01:"), segs)
        shown = h.cli(self.storage, "settings", "--user", "tz").stdout
        self.assertIn("Europe/Paris", shown)
        r = h.cli(self.storage, "settings", "--user", "tz", "--zone", "Mars/Olympus", check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--zone", r.stderr)
        r = h.cli(self.storage, "settings", "--user", "tz", "--stay-time", "soon", check=False)
        self.assertEqual(r.returncode, 2)
        h.cli(self.storage, "settings", "--user", "tz", "--stay-radius", "150", "--stay-time",
              "10m")
        shown = h.cli(self.storage, "settings", "--user", "tz").stdout
        self.assertIn("150 m", shown)
        self.assertIn("600 s", shown)

    def test_live_events_arrive_over_sse_and_websocket(self):
        h.cli(self.storage, "settings", "--user", "jane", "--zone", "Asia/Tokyo")
        sse = SseReader(self.port)
        self.assertEqual(sse.resp.status, 200)
        ws = websocket.create_connection("ws://127.0.0.1:%d/ws/last" % self.port, timeout=30)
        h.wait_for(lambda: h.live_streams(self.port) == 2, 20, "the SSE and WebSocket clients")
        h.publish(self.stack.broker.port,
                  messages("jane", "phone", stay(DAY, DAY + 1800, HOME, 60) +
                           walk(DAY + 1800, DAY + 3600, HOME, WORK) +
                           stay(DAY + 3600, DAY + 5400, WORK, 60)))
        seen = []
        deadline = time.monotonic() + 60 * h.WAIT_SCALE  # keepalives come every 20 s
        while time.monotonic() < deadline:
            name, data = sse.event()
            if name == "timeline":
                ev = json.loads(data)
                seen.append(ev)
                if ev["event"] == "closed":
                    break
        sse.close()
        self.assertTrue(seen, "timeline events over SSE")
        ev = seen[-1]
        self.assertEqual((ev["_type"], ev["user"], ev["device"]), ("timeline", "jane", "phone"))
        self.assertEqual(ev["event"], "closed")
        self.assertIn(ev["segment"]["type"], ("stay", "trip", "gap"))
        self.assertTrue(ev["segment"]["isostart"].endswith("+09:00"), "jane's local time: %s" % ev)
        by_ws = []
        deadline = time.monotonic() + 60 * h.WAIT_SCALE
        while time.monotonic() < deadline and not any(e["event"] == "closed" for e in by_ws):
            msg = json.loads(ws.recv())
            if msg.get("_type") == "timeline":
                by_ws.append(msg)
        ws.close()
        self.assertEqual(by_ws[:len(seen)], seen, "the WebSocket gets the same events")


NORTH = 1 / 111195.08  # degrees of latitude in a metre
CAFE = 'Café "<b>Nord</b>"'  # user text that JSON and HTML must escape


class Events(unittest.TestCase):
    """The derived events (store.h "events") in the timeline: a place entered and left and a
    battery that runs low on 3 May, another low battery on 4 May; each day's timeline lists its
    own, in time order, as /api/0/events gives them, and so does the list for people."""

    def setUp(self):
        self.stack = h.Stack(server_args=["--silence-after", "0"])
        self.port = self.stack.server.http_port
        self.storage = self.stack.storage

    def tearDown(self):
        self.stack.stop()

    def fix(self, tst, metres, batt):
        return h.location("jane", "phone", tst, lat=round(48.85 + metres * NORTH, 7), lon=2.29,
                          acc=10, batt=batt)

    def timeline(self, date):
        r = h.request(self.port, "/api/0/timeline?" + query(user="jane", device="phone",
                                                            **{"from": date, "to": date}))
        self.assertEqual(r.status, 200, r.body)
        return contract.check("/api/0/timeline", "GET", r)

    def test_events_of_the_range_in_the_timeline_and_its_text(self):
        h.cli(self.storage, "settings", "--user", "jane", "--zone", "Europe/Paris")
        out = h.cli(self.storage, "place", "add", "--user", "jane", "--name", CAFE, "--lat",
                    "%.7f" % (48.85 + 2000 * NORTH), "--lon", "2.29", "--radius", "80").stdout
        self.assertIn("place", out)
        t0 = DAY + 8 * 3600  # 10:00 in Paris
        fixes = [self.fix(t0, 0, 80), self.fix(t0 + 60, 2000, 80)]  # enters the café at 10:01
        # The battery crosses 20 % twenty times in the café (30 % arms it again): more events
        # than the server reads in one window.
        for i in range(40):
            fixes.append(self.fix(t0 + 120 + 60 * i, 2000, 30 if i % 2 else 15))
        fixes.append(self.fix(t0 + 3600, 5000, 90))  # 11:00: leaves the café, 3 km north
        tomorrow = DAY + 86400 + 8 * 3600
        fixes += [self.fix(tomorrow, 5000, 90), self.fix(tomorrow + 60, 5000, 10)]
        h.publish(self.stack.broker.port, fixes)
        h.sync(self.stack.broker.port, self.storage)

        start, end = DAY - 2 * 3600, DAY + 22 * 3600  # 3 May in Paris
        tl = self.timeline("2024-05-03")
        events = tl["events"]
        mine = [(e["kind"], e["tst"]) for e in events
                if e["kind"] in ("place_entered", "place_left", "battery_low")]
        self.assertEqual(mine, [("place_entered", t0 + 60)] +
                         [("battery_low", t0 + 120 + 120 * i) for i in range(20)] +
                         [("place_left", t0 + 3600)], "3 May's own events, in time order")
        self.assertTrue(all(start <= e["tst"] < end for e in events), events)
        self.assertEqual([(e["tst"], e["id"]) for e in events],
                         sorted((e["tst"], e["id"]) for e in events), "in time order")
        entered = next(e for e in events if e["kind"] == "place_entered")
        self.assertEqual((entered["name"], entered["tst_iso"]), (CAFE, "2024-05-03T10:01:00+02:00"))
        self.assertEqual(next(e for e in events if e["kind"] == "battery_low")["batt"], 15)
        # The same events as the events API gives for the range, with their local time.
        r = h.request(self.port, "/api/0/events?" + query(user="jane", device="phone",
                                                          **{"from": start, "to": end - 1}))
        self.assertEqual([{k: v for k, v in e.items() if k != "tst_iso"} for e in events],
                         contract.check("/api/0/events", "GET", r))
        self.assertIn("stay_started", [e["kind"] for e in events])

        later = self.timeline("2024-05-04")["events"]
        self.assertEqual([(e["kind"], e["tst"]) for e in later if e["kind"] == "battery_low"],
                         [("battery_low", tomorrow + 60)], "4 May's low battery, not 3 May's")
        self.assertFalse([e for e in later if e["tst"] < end], later)
        self.assertEqual(self.timeline("2024-05-01")["events"], [], "a day without any")

        text = h.cli(self.storage, "timeline", "--user", "jane", "--device", "phone", "--date",
                     "2024-05-03").stdout
        lines = text.splitlines()
        self.assertIn("10:01        event  place_entered  " + CAFE, lines, text)
        self.assertIn("10:02        event  battery_low  15 % (below 20 %)", lines, text)
        self.assertIn("11:00        event  place_left  " + CAFE, lines, text)
        self.assertNotIn("battery_low  10 %", text, "4 May's event is not 3 May's")
        self.assertEqual(len([l for l in lines if " event  " in l]), len(events), text)
        # Segments and events in one list, in time order: each line begins with its time.
        times = [l[:5] for l in lines[2:] if l[:2].isdigit() and l[2] == ":"]
        self.assertEqual(times, sorted(times), text)
        self.assertTrue(any("stay" in l and CAFE in l and "event" not in l for l in lines), text)
        self.assertIn("event  battery_low  10 % (below 20 %)",
                      h.cli(self.storage, "timeline", "--user", "jane", "--device", "phone",
                            "--date", "2024-05-04").stdout)


class GeneratedDays(unittest.TestCase):
    """Days from tests/tools/dayfaker.py, published as a phone would (buffered spans late and
    out of order): the stays the API reports match the true ones, and the day figures count
    every fix."""

    def test_generated_days_through_the_api(self):
        stack = h.Stack()
        self.addCleanup(stack.stop)
        days = [dayfaker.make_day("tlread", i, "mixed") for i in range(6)]
        for n, day in enumerate(days):
            msgs = list(day.messages())
            late = day.labels().get("late", [])
            is_late = lambda m: any(s["from"] <= m["tst"] <= s["to"] for s in late)
            on_time = [m for m in msgs if not is_late(m)]
            buffered = [m for m in msgs if is_late(m)]
            h.publish(stack.broker.port, [
                {"topic": "owntracks/gen/phone%d" % n, "payload": json.dumps(m)}
                for m in on_time + buffered])
        h.sync(stack.broker.port, stack.storage)
        matched = total = 0
        for n, day in enumerate(days):
            labels = day.labels()
            r = h.request(stack.server.http_port, "/api/0/timeline?" + query(
                user="gen", device="phone%d" % n, **{"from": str(labels["day_start"]),
                                                   "to": str(labels["day_end"])}))
            segs = contract.check("/api/0/timeline", "GET", r)["segments"]
            stays = [s for s in segs if s["type"] == "stay"]
            for true in labels["stays"]:
                if true["clipped_start"] or true["clipped_end"]:
                    continue
                total += 1
                span = true["end"] - true["start"]
                matched += any(
                    min(s["end"], true["end"]) - max(s["start"], true["start"]) >= span / 2 and
                    h_dist(s["lat"], s["lon"], true["lat"], true["lon"]) <= 150 for s in stays)
            r = h.request(stack.server.http_port, "/api/0/days?" + query(
                user="gen", device="phone%d" % n))
            days_body = contract.check("/api/0/days", "GET", r)
            self.assertEqual(sum(d["points"] for d in days_body["days"]),
                             len(list(day.messages())), "every fix is counted on a day")
        self.assertGreater(total, 3)
        self.assertGreaterEqual(matched / total, 0.8, "%d of %d true stays found" % (matched,
                                                                                     total))


USERS = {"ann": "ann-pw", "bob": "bob-pw"}


class Access(unittest.TestCase):
    """A user who may not see another's data gets 403, as for /api/0/locations."""

    @classmethod
    def setUpClass(cls):
        cls.dir = h.Workdir()
        htpasswd, acl = cls.dir.file("users"), cls.dir.file("acl")
        for i, (user, password) in enumerate(USERS.items()):
            subprocess.run(["htpasswd", "-bB", "-C", "5"] + (["-c"] if i == 0 else []) +
                           [htpasswd, user, password], check=True, capture_output=True)
        with open(acl, "w") as f:
            f.write("ann: bob\n")
        cls.stack = h.Stack(server_args=["--http-auth-file", htpasswd, "--http-acl-file", acl])
        cls.port = cls.stack.server.http_port
        for user in USERS:
            h.publish(cls.stack.broker.port, messages(user, "phone", stay(DAY, DAY + 1800, HOME,
                                                                          300)))
        h.sync(cls.stack.broker.port, cls.stack.storage)

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()
        cls.dir.remove()

    def test_who_sees_whose_timeline(self):
        for path, extra in (("/api/0/timeline", {}), ("/api/0/days", {}),
                            ("/api/0/at", {"t": str(DAY + 600)})):
            for viewer, owner, status in (("ann", "bob", 200), ("bob", "bob", 200),
                                          ("bob", "ann", 403)):
                r = h.request(self.port, path + "?" + query(user=owner, device="phone", **extra),
                              auth=(viewer, USERS[viewer]))
                self.assertEqual(r.status, status, (path, viewer, owner, r.body))
                contract.check(path, "GET", r)
            r = h.request(self.port, path + "?" + query(user="bob", device="phone", **extra))
            self.assertEqual(r.status, 401)


if __name__ == "__main__":
    unittest.main()
