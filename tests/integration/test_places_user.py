"""A user's places against the real server and broker: days with stays published over MQTT,
places added at a point and from a stay, stays attached to them, visits, suggestions,
rename/move/merge/delete over HTTP and the command line, the phones' regions (a published
`waypoints` message), access control between users, and bad input."""
import json
import os
import subprocess
import unittest
import urllib.parse

import contract
import harness as h

USERS = {"jane": "jane-pw", "john": "john-pw", "root": "root-pw"}
ACL = "root: @admin\n"

DAY0 = 1714694400  # 2024-05-03 00:00 UTC: any date works, times are in the past
M = 1.0 / 111195.0  # degrees of latitude per metre
HOME = (48.8500, 2.3500)
WORK = (48.8680, 2.3500)
CAFE = (48.8650, 2.3560)
GYM = (48.8590, 2.3650)


def noise(seed):
    seed[0] = (seed[0] * 1103515245 + 12345) % (1 << 32)
    return ((seed[0] >> 8) & 0xffff) / 32767.5 - 1.0


def days(user, device, n, seed=11):
    """n working days: home, work, lunch at the cafe, work, home (one fix every 5 minutes at
    a place, every 30 s on the way, 8 m of noise)."""
    s = [seed]
    lines = []

    def fix(t, lat, lon):
        lines.append(h.location(user, device, t, lat=round(lat + 8 * M * noise(s), 7),
                                lon=round(lon + 8 * M * noise(s), 7), acc=12))

    def stay(a, b, at):
        for t in range(a, b, 300):
            fix(t, *at)

    def go(a, b, p, q):
        for t in range(a, b, 30):
            k = (t - a) / (b - a)
            fix(t, p[0] + k * (q[0] - p[0]), p[1] + k * (q[1] - p[1]))

    for i in range(n):
        d = DAY0 + i * 86400
        stay(d, d + 8 * 3600, HOME)
        go(d + 8 * 3600, d + 8 * 3600 + 1800, HOME, WORK)
        stay(d + 8 * 3600 + 1800, d + 12 * 3600, WORK)
        go(d + 12 * 3600, d + 12 * 3600 + 600, WORK, CAFE)
        stay(d + 12 * 3600 + 600, d + 13 * 3600, CAFE)
        go(d + 13 * 3600, d + 13 * 3600 + 600, CAFE, WORK)
        stay(d + 13 * 3600 + 600, d + 17 * 3600, WORK)
        go(d + 17 * 3600, d + 17 * 3600 + 1200, WORK, HOME)
        stay(d + 17 * 3600 + 1200, d + 86400, HOME)
    return lines


def make_htpasswd(path):
    for i, (user, password) in enumerate(USERS.items()):
        subprocess.run(["htpasswd", "-bB", "-C", "5"] + ([] if i else ["-c"]) +
                       [path, user, password], check=True, capture_output=True)


class PlacesOfAUser(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = h.Workdir()
        htpasswd, acl = cls.dir.file("users"), cls.dir.file("acl")
        make_htpasswd(htpasswd)
        with open(acl, "w") as f:
            f.write(ACL)
        cls.stack = h.Stack(server_args=["--http-auth-file", htpasswd, "--http-acl-file", acl])
        cls.port = cls.stack.server.http_port
        cls.stack.server.wait_http()
        h.publish(cls.stack.broker.port, days("jane", "phone", 3))
        h.publish(cls.stack.broker.port, days("john", "phone", 1, seed=5))
        # the phone's regions: a full list, as the app publishes it
        h.publish(cls.stack.broker.port, [{
            "topic": "owntracks/jane/phone/waypoints",
            "payload": json.dumps({"_type": "waypoints", "waypoints": [
                {"_type": "waypoint", "desc": "Gym", "lat": GYM[0], "lon": GYM[1], "rad": 60,
                 "tst": 1600000000},
                {"_type": "waypoint", "desc": "Beacon only", "tst": 1600000001},
                {"_type": "waypoint", "desc": "Off", "lat": 1, "lon": 1, "rad": 0,
                 "tst": 1600000002}]})}])
        # the phone's own enter and leave events at work, on day 1
        h.publish(cls.stack.broker.port, [{
            "topic": "owntracks/jane/phone/event",
            "payload": json.dumps({"_type": "transition", "event": ev, "desc": "Bureau",
                                   "lat": WORK[0], "lon": WORK[1], "acc": 15,
                                   "wtst": 1600000005, "t": "c", "tst": tst})}
            for ev, tst in (("enter", DAY0 + 86400 + 8 * 3600 + 1700),
                            ("leave", DAY0 + 86400 + 17 * 3600 + 30))])
        h.sync(cls.stack.broker.port, cls.stack.storage)

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()
        cls.dir.remove()

    def tearDown(self):
        # each test starts with no places, whatever the one before left behind on failing
        for who in ("jane", "john"):
            r = h.request(self.port, "/api/0/places?user=" + who, auth=(who, USERS[who]))
            for p in r.json()["places"]:
                if p["source"] == "user":
                    h.request(self.port, "/api/0/places/%d" % p["id"], method="DELETE",
                              auth=(who, USERS[who]))

    def call(self, method, path, who="jane", spec=None, **params):
        """A request signed in as `who`; params go in the query string."""
        query = urllib.parse.urlencode(params)
        r = h.request(self.port, path + ("?" + query if query else ""), method=method,
                      auth=(who, USERS[who]))
        contract.check(spec or path, method, r)
        return r

    def add(self, **params):
        params.setdefault("user", "jane")
        return self.call("POST", "/api/0/places", **params)

    def place(self, pid, method, who="jane", **params):
        return self.call(method, "/api/0/places/%s" % pid, who, "/api/0/places/{id}", **params)

    def places(self, who="jane"):
        r = self.call("GET", "/api/0/places", who, user="jane")
        self.assertEqual(r.status, 200, r.body)
        return {p["name"]: p for p in r.json()["places"]}

    def test_stays_attach_to_places_and_visits_answer_when(self):
        r = self.add(name="Home %s" % self.id()[-4:], lat=HOME[0], lon=HOME[1], radius=120)
        self.assertEqual(r.status, 201, r.body)
        home = r.json()
        self.assertEqual(home["radius_m"], 120)
        try:
            got = self.places()[home["name"]]
            # the first morning, then each evening with the next morning: 4 stays
            self.assertEqual(got["visits"], 4, got)
            self.assertEqual(got["source"], "user")
            self.assertGreater(got["total_s"], 2 * 86400 - 4 * 3600 * 3)
            r = self.call("GET", "/api/0/visits", user="jane", place=home["id"])
            self.assertEqual(r.status, 200, r.body)
            v = r.json()
            self.assertEqual(v["count"], 4)
            self.assertEqual([x["device"] for x in v["visits"]], ["phone"] * 4)
            self.assertEqual(v["visits"][0]["start"], DAY0)
            self.assertTrue(v["visits"][-1]["open"], "the last stay at home is not over")
            # a range, day 1: the stays that overlap it
            r = self.call("GET", "/api/0/visits", user="jane", place=home["id"],
                          **{"from": DAY0 + 86400, "to": DAY0 + 2 * 86400 - 1})
            self.assertEqual(r.json()["count"], 2, "day 0's evening into day 1's morning, and"
                             " day 1's evening")
        finally:
            self.assertEqual(self.place(home["id"], "DELETE").status, 200)

    def test_recurring_stays_are_suggested_and_promoted(self):
        r = self.call("GET", "/api/0/places/suggestions", user="jane")
        self.assertEqual(r.status, 200, r.body)
        sg = r.json()["suggestions"]
        near_work = [s for s in sg if abs(s["lat"] - WORK[0]) < 0.001 and
                     abs(s["lon"] - WORK[1]) < 0.001]
        self.assertEqual(len(near_work), 1, sg)
        self.assertEqual(near_work[0]["stays"], 6, "twice a day at work for 3 days")
        self.assertEqual(near_work[0]["days"], 3)
        # promote the first stay of the suggestion
        r = self.add(name="Work", from_stay=near_work[0]["first"], device="phone")
        self.assertEqual(r.status, 201, r.body)
        work = r.json()
        try:
            self.assertLess(abs(work["lat"] - WORK[0]), 0.0005)
            self.assertEqual(self.places()["Work"]["visits"], 6)
            sg = self.call("GET", "/api/0/places/suggestions", user="jane").json()["suggestions"]
            self.assertFalse([s for s in sg if abs(s["lat"] - WORK[0]) < 0.001 and
                              abs(s["lon"] - WORK[1]) < 0.001], "a named place is not suggested")
            r = self.add(name="Nowhere", from_stay=DAY0 + 777)
            self.assertEqual(r.status, 404, "no stay starts then")
        finally:
            self.place(work["id"], "DELETE")

    def test_rename_move_merge_delete(self):
        a = self.add(name="Cafe", lat=CAFE[0], lon=CAFE[1], radius=40).json()
        b = self.add(name="Office", lat=WORK[0], lon=WORK[1], radius=100).json()
        r = self.place(a["id"], "PATCH", name="Le Café")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["name"], "Le Café")
        self.assertEqual(self.places()["Le Café"]["visits"], 3)
        # a form-encoded body, as the map sends it
        r = h.request(self.port, "/api/0/places/%d" % a["id"], method="PATCH",
                      body=urllib.parse.urlencode({"radius": 45}).encode(),
                      headers={"Content-Type": "application/x-www-form-urlencoded"},
                      auth=("jane", USERS["jane"]))
        self.assertEqual(contract.check("/api/0/places/{id}", "PATCH", r)["radius_m"], 45)
        r = self.place(a["id"], "PATCH", lat=GYM[0], lon=GYM[1])
        self.assertEqual(r.json()["lat"], GYM[0])
        got = self.places()
        self.assertEqual(got["Le Café"]["visits"], 0, "moved away from the cafe")
        self.assertEqual(got["Gym"]["visits"], 0, "the region is there, never visited")
        self.place(a["id"], "PATCH", lat=CAFE[0], lon=CAFE[1])
        # merging the cafe (350 m away) into the office: one place holding both
        r = self.place(b["id"], "PATCH", merge=a["id"])
        self.assertEqual(r.status, 200, r.body)
        merged = r.json()
        self.assertEqual(merged["name"], "Office")
        self.assertGreater(merged["radius_m"], 200)
        got = self.places()
        self.assertNotIn("Le Café", got)
        self.assertEqual(got["Office"]["visits"], 9, "work twice and the cafe once, each day")
        self.assertEqual(self.place(a["id"], "PATCH", name="x").status, 404, "merged away")
        out = h.cli(self.stack.storage, "place", "list", "--user", "jane").stdout
        self.assertIn('"name":"Office"', out)
        self.assertEqual(self.place(b["id"], "DELETE").status, 200)
        self.assertEqual(self.place(b["id"], "DELETE").status, 404)
        self.assertNotIn("Office", self.places())

    def test_the_timeline_names_stays_and_shows_transitions(self):
        r = self.add(name="Bureau", lat=WORK[0], lon=WORK[1], radius=100)
        work = r.json()
        try:
            r = self.call("GET", "/api/0/timeline", user="jane", device="phone",
                          **{"from": DAY0 + 86400, "to": DAY0 + 2 * 86400 - 1})
            self.assertEqual(r.status, 200, r.body)
            tl = r.json()
            named = [(s["place"]["name"], s["place"]["id"], s["place"]["source"])
                     for s in tl["segments"] if s["type"] == "stay" and "place" in s]
            self.assertEqual(named.count(("Bureau", work["id"], "user")), 2,
                             "both stays at work that day: %s" % named)
            self.assertFalse([s for s in tl["segments"] if s["type"] != "stay" and "place" in s],
                             "only stays are named")
            self.assertEqual([(t["event"], t["desc"], t["trigger"]) for t in tl["transitions"]],
                             [("enter", "Bureau", "c"), ("leave", "Bureau", "c")])
            self.assertEqual(tl["transitions"][0]["tst"], DAY0 + 86400 + 8 * 3600 + 1700)
            r = self.call("GET", "/api/0/timeline", user="jane", device="phone",
                          **{"from": DAY0 + 2 * 86400, "to": DAY0 + 3 * 86400 - 1})
            self.assertEqual(r.json()["transitions"], [], "none that day")
            r = self.call("GET", "/api/0/timeline", user="jane", device="phone", format="geojson",
                          **{"from": DAY0 + 86400, "to": DAY0 + 2 * 86400 - 1})
            props = [f["properties"] for f in r.json()["features"]]
            self.assertIn("Bureau", [p.get("place", {}).get("name") for p in props])
            text = h.cli(self.stack.storage, "timeline", "--user", "jane", "--device", "phone",
                         "--date", "2024-05-04").stdout
            self.assertEqual(len([l for l in text.splitlines() if "stay" in l and
                                  "Bureau (48.86" in l]), 2, text)
        finally:
            self.place(work["id"], "DELETE")
        r = self.call("GET", "/api/0/timeline", user="jane", device="phone",
                      **{"from": DAY0 + 86400, "to": DAY0 + 2 * 86400 - 1})
        self.assertFalse([s for s in r.json()["segments"] if "place" in s],
                         "a deleted place names nothing (the gym region is elsewhere)")

    def test_the_phones_regions_are_places_too(self):
        regions = [p for p in self.places().values() if p["source"] == "owntracks"]
        self.assertEqual([(p["name"], p["device"], p["radius_m"], p["id"]) for p in regions],
                         [("Gym", "phone", 60, None)],
                         "a geographic region with a radius; not a beacon, not one turned off")

    def test_another_user_can_neither_see_nor_change(self):
        a = self.add(name="Secret", lat=HOME[0], lon=HOME[1], private=1).json()
        self.assertTrue(a["private"])
        try:
            self.assertEqual(self.call("GET", "/api/0/places", "john", user="jane").status, 403)
            self.assertEqual(self.call("GET", "/api/0/visits", "john", user="jane",
                                       place=a["id"]).status, 403)
            self.assertEqual(self.call("GET", "/api/0/places/suggestions", "john",
                                       user="jane").status, 403)
            r = self.call("POST", "/api/0/places", "john", user="jane", name="X", lat=1, lon=1)
            self.assertEqual(r.status, 403)
            self.assertEqual(self.place(a["id"], "PATCH", "john", name="Mine").status, 404,
                             "as if absent")
            self.assertEqual(self.place(a["id"], "DELETE", "john").status, 404)
            self.assertEqual(self.places()["Secret"]["name"], "Secret", "unchanged")
            # john's own list has none of jane's
            r = self.call("GET", "/api/0/places", "john", user="john")
            self.assertEqual(r.json()["places"], [])
            # a read-only token of jane's may read her places, not change them
            secret = h.cli(self.stack.storage, "token", "create", "--user", "jane", "--name",
                           "ro-places", "--read-only").stdout.strip()
            bearer = {"Authorization": "Bearer " + secret}
            r = h.request(self.port, "/api/0/places?user=jane", headers=bearer)
            self.assertEqual(r.status, 200, r.body)
            r = h.request(self.port, "/api/0/places?user=jane&name=T&lat=1&lon=1",
                          method="POST", headers=bearer)
            self.assertEqual(r.status, 403, r.body)
            r = h.request(self.port, "/api/0/places/%d?name=T" % a["id"], method="PATCH",
                          headers=bearer)
            self.assertEqual(r.status, 403, r.body)
            # an admin may change them
            self.assertEqual(self.place(a["id"], "PATCH", "root", radius=90).status, 200)
        finally:
            self.place(a["id"], "DELETE")

    def test_bad_input_gets_a_clear_4xx(self):
        for radius in (0, -5, 1e9, "wide"):
            r = self.add(name="R", lat=1, lon=1, radius=radius)
            self.assertEqual(r.status, 400, radius)
            self.assertIn("radius" if radius != "wide" else "not a number", r.json()["error"])
        self.assertIn("name", self.add(name="", lat=1, lon=1).json()["error"])
        self.assertIn("name", self.add(lat=1, lon=1).json()["error"])
        self.assertIn("longer than 128", self.add(name="n" * 129, lat=1, lon=1).json()["error"])
        self.assertEqual(self.add(name="n" * 128, lat=1, lon=1).status, 201)
        self.assertIn("lat", self.add(name="Pole", lat=91, lon=0).json()["error"])
        self.assertIn("lat", self.add(name="Nowhere").json()["error"])
        self.assertEqual(self.add(name="Tab\there", lat=1, lon=1).status, 400)
        self.assertEqual(self.call("POST", "/api/0/places", name="x", lat=1, lon=1).status, 400,
                         "no user")
        for pid in ("999999", "abc", "0", "-1", "1x", "99999999999"):
            self.assertEqual(self.place(pid, "DELETE").status, 404, pid)
        self.assertEqual(self.call("GET", "/api/0/visits", user="jane", place="abc").status,
                         400)
        self.assertEqual(self.call("GET", "/api/0/visits", user="jane").status, 400)
        self.assertEqual(self.call("GET", "/api/0/visits", user="jane", place=999999).status,
                         404)
        r = h.request(self.port, "/api/0/places/1", method="PUT", auth=("jane", "jane-pw"))
        self.assertEqual(r.status, 405)
        for p in self.places().values():
            if p["name"] == "n" * 128:
                self.place(p["id"], "DELETE")

    def test_the_command_line(self):
        s = self.stack.storage

        def place(*args, check=True):
            return h.cli(s, "place", *args, check=check)

        out = place("add", "--user", "jane", "--name", "Corner", "--lat", "48.86",
                    "--lon", "2.36").stdout
        pid = out.split()[2]
        self.assertIn("Street corner", place("rename", pid, "Street corner").stdout)
        self.assertIn("48.8600100", place("move", pid, "--lat", "48.86001", "--lon",
                                          "2.36").stdout)
        self.assertIn("Street corner", self.places())
        r = place("move", pid, "--lat", "48.86", "--lon", "2.36", "--radius", "0", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("radius", r.stderr)
        self.assertEqual(place("delete", "424242", check=False).returncode, 1)
        self.assertEqual(place("delete", "nope", check=False).returncode, 2)
        r = place("add", "--user", "jane", "--name", "Lunch", "--from-stay", "1", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no stay", r.stderr)
        json.loads(place("suggestions", "--user", "jane").stdout)
        place("delete", pid)
        self.assertNotIn("Street corner", self.places())


if __name__ == "__main__":
    unittest.main(verbosity=2)
