"""The year at a glance and the heat grid against a real server and a real broker: generated
days (tests/tools/dayfaker.py) in three countries, on both sides of a new year, published over
MQTT; /api/0/summary and `wherelog summary` (distance = the sum of the days, countries and
cities, months, the longest trip, one device or all), /api/0/heat (every point in a cell, the
cells computed here independently, zooms, bbox), bad input and access control."""
import json
import math
import subprocess
import unittest
import urllib.parse

import contract
import dayfaker
import harness as h

# Towns of dayfaker whose days are UTC days (their zone offset rounds to 0), so that the test
# user's days (the server's zone, UTC in the tests) are the generated days, and how far their
# places reach (80 km) stays in one country: London and Madrid reach no border, Paris none.
COUNTRY = {"Paris": "FR", "London": "GB", "Madrid": "ES"}
SEED = "summary"
FIRST_DEC_2024 = 335  # dayfaker's day 0 is 2024-01-01; 2024 is a leap year
FIRST_JAN_2025 = 366
FIRST_FEB_2025 = 397


def pick_days():
    """The December 2024 and January 2025 days of the seed that fall in COUNTRY's towns."""
    picked = []
    for i in range(FIRST_DEC_2024, FIRST_FEB_2025):
        day = dayfaker.make_day(SEED, i, "move")
        if day.town in COUNTRY:
            picked.append((i, day))
    return picked


def query(**params):
    return urllib.parse.urlencode(params)


def cell(lat, lon, zoom):
    """Web Mercator cell of 8 px at zoom: the definition in api/openapi.yaml, computed here."""
    side = 2 ** (zoom + 5)
    lat = max(min(lat, 85.0511287798066), -85.0511287798066)
    x = (lon + 180) / 360 * side
    s = math.sin(math.radians(lat))
    y = (0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)) * side
    return min(int(x), side - 1), min(max(int(y), 0), side - 1)


def cells(grid):
    """{(x, y): count} of a heat grid, in its order."""
    c = grid["cells"]
    return {(grid["x0"] + c[k], grid["y0"] + c[k + 1]): c[k + 2] for k in range(0, len(c), 3)}


class Summary(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = h.Stack()
        cls.port = cls.stack.server.http_port
        cls.storage = cls.stack.storage
        cls.days = pick_days()
        cls.msgs = {}  # device -> messages
        lines = []
        for n, (i, day) in enumerate(cls.days):
            # the third day of January on a second device: "all devices" must add it
            device = "tablet" if i >= FIRST_JAN_2025 and n % 3 == 0 else "phone"
            day.device = device
            for m in day.messages():
                cls.msgs.setdefault(device, []).append(m)
                lines.append({"topic": "owntracks/jane/" + device, "payload": json.dumps(m)})
        h.publish(cls.stack.broker.port, lines)
        h.sync(cls.stack.broker.port, cls.storage)

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()

    def get(self, path, status=200, **params):
        r = h.request(self.port, path + "?" + query(**params))
        self.assertEqual(r.status, status, (path, params, r.body))
        return contract.check(path, "GET", r)

    def test_the_days_picked_make_a_real_case(self):
        dec = [d for i, d in self.days if i < FIRST_JAN_2025]
        jan = [d for i, d in self.days if i >= FIRST_JAN_2025]
        self.assertGreaterEqual(len({COUNTRY[d.town] for d in dec}), 2, "two countries in 2024")
        self.assertGreaterEqual(len({COUNTRY[d.town] for d in jan}), 2, "two countries in 2025")
        self.assertIn("tablet", {d.device for d in jan})

    def days_of(self, year, device=None):
        figures = []
        for dev in ([device] if device else ["phone", "tablet"]):
            r = h.request(self.port, "/api/0/days?" + query(
                user="jane", device=dev, **{"from": "%d-01-01" % year, "to": "%d-12-31" % year}))
            if r.status == 404:
                continue
            figures += contract.check("/api/0/days", "GET", r)["days"]
        return figures

    def test_each_year_is_the_sum_of_its_days(self):
        for year, first, last in ((2024, FIRST_DEC_2024, FIRST_JAN_2025),
                                  (2025, FIRST_JAN_2025, FIRST_FEB_2025)):
            s = self.get("/api/0/summary", user="jane", year=str(year))
            days = self.days_of(year)
            self.assertAlmostEqual(s["distance"], sum(d["distance"] for d in days),
                                   delta=0.1 * len(days) + 0.1, msg="distance = sum of the days")
            self.assertEqual(s["points"], sum(d["points"] for d in days))
            published = [i for i, d in self.days if first <= i < last]
            self.assertEqual(s["days"], len(published), "every published day has data")
            self.assertEqual(s["year"], year)
            self.assertIsNone(s["device"])
            month = 12 if year == 2024 else 1
            m = s["months"][month - 1]
            self.assertEqual(m["days"], len(published))
            self.assertAlmostEqual(m["distance"], s["distance"], delta=0.1)
            self.assertEqual(sum(x["stays"] for x in s["months"]), s["stays"])
            self.assertEqual([x["days"] for k, x in enumerate(s["months"]) if k != month - 1],
                             [0] * 11, "no data in the other months")

    def test_countries_and_cities_are_where_the_days_were(self):
        for year, first, last in ((2024, FIRST_DEC_2024, FIRST_JAN_2025),
                                  (2025, FIRST_JAN_2025, FIRST_FEB_2025)):
            s = self.get("/api/0/summary", user="jane", year=str(year))
            self.assertTrue(s["places_named"])
            want = {}
            for i, d in self.days:
                if first <= i < last:
                    want[COUNTRY[d.town]] = want.get(COUNTRY[d.town], 0) + 1
            self.assertEqual({c["cc"]: c["days"] for c in s["countries"]}, want)
            self.assertEqual([c["days"] for c in s["countries"]],
                             sorted((c["days"] for c in s["countries"]), reverse=True))
            self.assertTrue(s["cities"], "some cities")
            for c in s["cities"]:
                self.assertIn(c["cc"], want, c)
                self.assertLessEqual(c["days"], want[c["cc"]], c)
            # the town the days were in is among the cities (its centre is within 6 km of the
            # day's places, so the nearest city of some stay is it or a neighbour within 30 km)
            for cc in want:
                town = [d for i, d in self.days if first <= i < last and COUNTRY[d.town] == cc][0]
                self.assertTrue(any(c["cc"] == cc and dayfaker_distance(
                    c["lat"], c["lon"], town.geo.lat0, town.geo.lon0) < 30000
                    for c in s["cities"]), (cc, s["cities"]))
            self.assertTrue(s["places"], "most visited places")
            self.assertLessEqual(len(s["places"]), 10)
            secs = [p["seconds"] for p in s["places"]]
            self.assertEqual(secs, sorted(secs, reverse=True))
            for p in s["places"]:
                self.assertIn(p["cc"], want, p)

    def test_the_users_own_place_names_its_stays(self):
        before = self.get("/api/0/summary", user="jane", year="2024")
        top = before["places"][0]
        self.assertIsNone(top["place"], "no place of the user's yet")
        r = h.request(self.port, "/api/0/places?" + query(
            user="jane", name="Home", lat="%.6f" % top["lat"], lon="%.6f" % top["lon"],
            radius="150"), method="POST")
        contract.check("/api/0/places", "POST", r)
        self.assertEqual(r.status, 201, r.body)
        pid = r.json()["id"]
        try:
            s = self.get("/api/0/summary", user="jane", year="2024")
            named = [p for p in s["places"] if p["place"]]
            self.assertEqual(len(named), 1, s["places"])
            self.assertEqual(named[0]["place"], {"id": pid, "name": "Home", "source": "user"})
            # a 150 m circle holds at least the stays the 100 m clustering put together
            self.assertGreaterEqual(named[0]["visits"], top["visits"])
            self.assertGreaterEqual(named[0]["seconds"], top["seconds"])
            self.assertLessEqual(sum(p["visits"] for p in s["places"]), s["stays"])
        finally:
            r = h.request(self.port, "/api/0/places/%d?user=jane" % pid, method="DELETE")
            self.assertIn(r.status, (200, 204), r.body)

    def test_the_longest_trip_is_the_longest_of_the_timeline(self):
        s = self.get("/api/0/summary", user="jane", year="2024")
        longest = 0
        for dev in ("phone", "tablet"):
            r = h.request(self.port, "/api/0/timeline?" + query(
                user="jane", device=dev, **{"from": "2024-01-01", "to": "2024-12-31"}))
            if r.status == 404:
                continue
            for seg in contract.check("/api/0/timeline", "GET", r)["segments"]:
                if seg["type"] == "trip" and seg["isostart"].startswith("2024"):
                    longest = max(longest, seg["distance"])
        self.assertGreater(longest, 0)
        self.assertAlmostEqual(s["longest_trip"]["distance"], longest, delta=1.0)  # the timeline rounds to metres
        self.assertIn(s["longest_trip"]["from"]["cc"], COUNTRY.values())

    def test_one_device_or_all(self):
        both = self.get("/api/0/summary", user="jane", year="2025")
        phone = self.get("/api/0/summary", user="jane", year="2025", device="phone")
        tablet = self.get("/api/0/summary", user="jane", year="2025", device="tablet")
        self.assertEqual(phone["device"], "phone")
        self.assertEqual(phone["points"] + tablet["points"], both["points"])
        self.assertEqual(phone["days"] + tablet["days"], both["days"])
        self.assertAlmostEqual(phone["distance"] + tablet["distance"], both["distance"],
                               delta=0.2)
        self.assertEqual(phone["points"], sum(d["points"] for d in self.days_of(2025, "phone")))

    def test_a_year_without_data(self):
        s = self.get("/api/0/summary", user="jane", year="2023")
        self.assertEqual((s["days"], s["distance"], s["countries"], s["longest_trip"]),
                         (0, 0, [], None))

    def test_the_command_line_says_the_same(self):
        api = self.get("/api/0/summary", user="jane", year="2024")
        r = h.cli(self.storage, "summary", "--user", "jane", "--year", "2024", "--format",
                  "json")
        self.assertEqual(json.loads(r.stdout), api)
        text = h.cli(self.storage, "summary", "--user", "jane", "--year", "2024").stdout
        self.assertIn("jane in 2024", text)
        self.assertIn("%d days with data" % api["days"], text)
        for c in api["countries"]:
            self.assertIn("%s (%d d)" % (c["cc"], c["days"]), text)
        self.assertIn("longest trip: %.1f km" % (api["longest_trip"]["distance"] / 1000), text)
        bad = h.cli(self.storage, "summary", "--user", "jane", "--year", "24", check=False)
        self.assertEqual(bad.returncode, 2)
        self.assertIn("--year", bad.stderr)
        none = h.cli(self.storage, "summary", "--user", "nobody", "--year", "2024", check=False)
        self.assertEqual(none.returncode, 1)
        self.assertIn("no device of nobody", none.stderr)

    # ------------------------------------------------------------------ heat

    def all_points(self, device=None):
        return [m for dev, ms in self.msgs.items() if device in (None, dev) for m in ms]

    def test_heat_counts_every_point_in_its_cell(self):
        pts = self.all_points()
        for zoom in (2, 9, 14):
            g = self.get("/api/0/heat", user="jane", zoom=str(zoom))
            self.assertEqual(g["points"], len(pts))
            self.assertEqual(g["side"], 2 ** (zoom + 5))
            want = {}
            for m in pts:
                c = cell(m["lat"], m["lon"], zoom)
                want[c] = want.get(c, 0) + 1
            got = cells(g)
            self.assertEqual(got, want, "zoom %d" % zoom)
            self.assertEqual(g["max"], max(want.values()))
            rows = [(y, x) for (x, y) in cells(g)]
            self.assertEqual(rows, sorted(rows), "row order")
            self.assertEqual(len(g["cells"]) % 3, 0)

    def test_heat_of_a_range_a_device_and_a_box(self):
        jan = [m for m in self.all_points() if m["tst"] >= 1735689600]  # 2025-01-01Z
        g = self.get("/api/0/heat", user="jane", zoom="5", **{"from": "2025-01-01"})
        self.assertEqual(g["points"], len(jan))
        tablet = self.all_points("tablet")
        g = self.get("/api/0/heat", user="jane", device="tablet", zoom="5")
        self.assertEqual(g["points"], len(tablet))
        box = (1.0, 48.0, 4.0, 50.0)  # around Paris
        inside = [m for m in self.all_points()
                  if box[0] <= m["lon"] <= box[2] and box[1] <= m["lat"] <= box[3]]
        g = self.get("/api/0/heat", user="jane", zoom="10", bbox="%g,%g,%g,%g" % box)
        self.assertEqual(g["points"], len(inside))
        self.assertGreater(len(inside), 0)

    def test_bad_input_is_refused_clearly(self):
        for params, status, words in (
                ({"user": "jane"}, 400, "missing parameter year"),
                ({"user": "jane", "year": "1969"}, 400, "year must be"),
                ({"user": "jane", "year": "twenty"}, 400, "year must be"),
                ({"year": "2024"}, 400, "user"),
                ({"user": "nobody", "year": "2024"}, 404, "no device of nobody"),
                ({"user": "jane", "device": "watch", "year": "2024"}, 404, "jane/watch")):
            r = h.request(self.port, "/api/0/summary?" + query(**params))
            self.assertEqual(r.status, status, (params, r.body))
            self.assertIn(words, r.json()["error"])
            contract.check("/api/0/summary", "GET", r)
        for params, status, words in (
                ({"user": "jane"}, 400, "missing parameter zoom"),
                ({"user": "jane", "zoom": "21"}, 400, "zoom must be"),
                ({"user": "jane", "zoom": "-1"}, 400, "zoom must be"),
                ({"user": "jane", "zoom": "3", "bbox": "1,2,3"}, 400, "four numbers"),
                ({"user": "jane", "zoom": "3", "bbox": "1,50,3,40"}, 400, "south"),
                ({"user": "jane", "zoom": "3", "bbox": "1,2,3,95"}, 400, "latitudes"),
                ({"user": "jane", "zoom": "3", "from": "2025-01-02", "to": "2025-01-01"}, 416,
                 "from is after to"),
                ({"user": "jane", "zoom": "3", "from": "yesterday-ish"}, 400, "from"),
                ({"user": "nobody", "zoom": "3"}, 404, "no device of nobody")):
            r = h.request(self.port, "/api/0/heat?" + query(**params))
            self.assertEqual(r.status, status, (params, r.body))
            self.assertIn(words, r.json()["error"])
            contract.check("/api/0/heat", "GET", r)


def dayfaker_distance(lat1, lon1, lat2, lon2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2 +
         math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * 6371008.8 * math.asin(math.sqrt(a))


USERS = {"ann": "ann-pw", "bob": "bob-pw"}


class Access(unittest.TestCase):
    """The summary and the heat grid are under the ACL of /api/0/locations."""

    def test_who_sees_whose_year(self):
        workdir = h.Workdir()
        self.addCleanup(workdir.remove)
        htpasswd, acl = workdir.file("users"), workdir.file("acl")
        for i, (user, password) in enumerate(USERS.items()):
            subprocess.run(["htpasswd", "-bB", "-C", "5"] + (["-c"] if i == 0 else []) +
                           [htpasswd, user, password], check=True, capture_output=True)
        with open(acl, "w") as f:
            f.write("ann: bob\n")
        stack = h.Stack(server_args=["--http-auth-file", htpasswd, "--http-acl-file", acl])
        self.addCleanup(stack.stop)
        for user in USERS:
            h.publish(stack.broker.port, [h.location(user, "phone", 1714694400 + k * 60)
                                          for k in range(5)])
        h.sync(stack.broker.port, stack.storage)
        for path, extra in (("/api/0/summary", {"year": "2024"}), ("/api/0/heat", {"zoom": "4"})):
            for viewer, owner, status in (("ann", "bob", 200), ("bob", "bob", 200),
                                          ("bob", "ann", 403)):
                r = h.request(stack.server.http_port, path + "?" + query(user=owner, **extra),
                              auth=(viewer, USERS[viewer]))
                self.assertEqual(r.status, status, (path, viewer, owner, r.body))
                contract.check(path, "GET", r)
            r = h.request(stack.server.http_port, path + "?" + query(user="bob", **extra))
            self.assertEqual(r.status, 401)


if __name__ == "__main__":
    unittest.main()
