"""Names for places: the Recorder's ghash, cc, addr, locality and tzname in /api/0/last,
/api/0/locations and /api/0/q, from the offline cities and from geocoders. The geocoders are a
local HTTP server started here, answering in Nominatim's, Photon's and OpenCage's formats (and
with errors, 429s, delays and nonsense); what it saw (requests, their times, the User-Agent) is
what the tests check, never the client's clock."""
import json
import os
import re
import shutil
import subprocess
import unittest

import contract
import harness as h
from geocoders import NOMINATIM_PARIS, Geocoders, metrics

VERSION_UA = re.compile(r"^wherelog/[0-9][^ ]* \(\+ops@example\.org\)$")


# Between visits to different places: time enough to travel there (and a gap).
NEXT = 4 * 3600

class Places(unittest.TestCase):
    def setUp(self):
        self.geo = Geocoders()
        self.stack = None
        self.dir = h.Workdir()

    def tearDown(self):
        if self.stack:
            self.stack.stop()
        self.geo.stop()
        self.dir.remove()

    def start(self, *args):
        self.stack = h.Stack(server_args=("--geocoder-contact", "ops@example.org") + args)
        self.port = self.stack.server.http_port

    def post(self, lat, lon, tst, user="jane", device="phone", **extra):
        payload = dict({"_type": "location", "lat": lat, "lon": lon, "tst": tst}, **extra)
        r = h.request(self.port, "/pub", method="POST", body=json.dumps(payload),
                      headers={"Content-Type": "application/json", "X-Limit-U": user,
                               "X-Limit-D": device})
        self.assertEqual(r.status, 200, r.text)

    def visit(self, lat, lon, tst, **extra):
        """A stay: four fixes over 600 s at one place (a stay is 300 s by default). The
        geocoders are asked about stays, not points; returns the last fix's tst. Visits to
        places far apart must leave the time to get there (NEXT hours later)."""
        for i in range(4):
            self.post(lat + i * 1e-6, lon, tst + 200 * i, **extra)
        return tst + 600

    def wait_metric(self, name, at_least):
        return h.wait_for(lambda: metrics(self.port).get(name, 0) >= at_least, 60 * h.WAIT_SCALE,
                          "%s to reach %d" % (name, at_least))

    def last(self):
        r = h.request(self.port, "/api/0/last?user=jane")
        contract.check("/api/0/last", "GET", r)
        return r.json()[0]

    def q(self, lat, lon):
        r = h.request(self.port, "/api/0/q?lat=%s&lon=%s" % (lat, lon))
        contract.check("/api/0/q", "GET", r)
        return r.json()

    def test_without_a_geocoder_nothing_is_sent_and_the_offline_names_are_there(self):
        self.start()
        self.post(48.856632, 2.352251, 1733065200)
        self.post(51.5074, -0.1278, 1733065300)
        r = h.request(self.port, "/api/0/locations?user=jane&device=phone&from=2024-12-01"
                      "&to=2025-01-01")
        data = contract.check("/api/0/locations", "GET", r)["data"]
        self.assertEqual([(p["ghash"], p["cc"], p["locality"], p["tzname"]) for p in data],
                         [("u09tvw0", "FR", "Paris", "Europe/Paris"),
                          ("gcpvj0d", "GB", "London", "Europe/London")])
        self.assertFalse(any("addr" in p for p in data), "an address needs a geocoder")
        last = self.last()
        self.assertEqual((last["ghash"], last["cc"], last["locality"]),
                         ("gcpvj0d", "GB", "London"))
        self.assertEqual(self.q(48.8566, 2.3522),
                         {"cc": "FR", "locality": "Paris", "tzname": "Europe/Paris"})
        self.assertEqual(self.q(40, -40), {}, "the open sea has no name")
        self.assertEqual(h.request(self.port, "/api/0/q?lat=91&lon=0").status, 400)
        self.assertEqual(h.request(self.port, "/api/0/q?lat=1").status, 400)
        fields = h.request(self.port, "/api/0/locations?user=jane&device=phone&from=2024-12-01"
                           "&fields=tst,cc,tzname").json()["data"]
        self.assertEqual(fields[0], {"tst": 1733065200, "cc": "FR", "tzname": "Europe/Paris"})
        self.assertEqual(metrics(self.port)["wherelog_geocoder_requests_total"], 0)
        self.assertEqual(self.geo.requests(), [], "nothing may leave the machine")

    def test_nominatim_is_asked_once_per_cell_at_its_rate_with_our_user_agent(self):
        self.start("--geocoder", "nominatim:" + self.geo.url("nominatim"))
        # Three places, the first stayed at twice (fixes a few metres apart), each a stay of
        # three fixes: nine points, three requests.
        cells = [(48.85826, 2.29450), (48.86, 2.35), (48.87, 2.30)]
        tst = self.visit(*cells[0], 1733065200)
        tst = self.visit(*cells[1], tst + NEXT)
        tst = self.visit(*cells[0], tst + NEXT)
        self.visit(*cells[2], tst + NEXT)
        self.wait_metric("wherelog_geocoder_answers_total", 3)
        seen = self.geo.requests("nominatim")
        self.assertEqual(len(seen), 3, "one request per place, not per point or visit")
        for t, kind, query, agent in seen:
            self.assertRegex(agent, VERSION_UA)
            self.assertEqual(query["format"], "jsonv2")
        # The public Nominatim's rule by default: one request a second at most, as the server
        # saw them arrive.
        gaps = [b[0] - a[0] for a, b in zip(seen, seen[1:])]
        self.assertTrue(all(g >= 0.9 for g in gaps), "requests %s s apart" % gaps)
        last = self.last()
        self.assertEqual(last["addr"], "Tour Eiffel, 5, Avenue Anatole France, Paris, France")
        self.assertEqual(last["cc"], "FR")
        place = self.q(48.87, 2.30)
        self.assertEqual(place["addr"], NOMINATIM_PARIS["display_name"])
        self.assertIsInstance(place["tst"], int)
        self.assertEqual(place["tzname"], "Europe/Paris")
        m = metrics(self.port)
        self.assertEqual((m["wherelog_geocoder_requests_total"],
                          m["wherelog_geocoder_failures_total"]), (3, 0))

    def test_q_gives_the_cache_only_to_a_viewer_who_sees_everyone(self):
        """The cache tells where some user has been: jane, who sees only herself, learns the
        offline names alone; root (ACL "*") gets the geocoder's address."""
        users = {"jane": "jane-pw", "root": "root-pw", "john": "john-pw"}
        htpasswd, acl = self.dir.file("users"), self.dir.file("acl")
        for i, (user, password) in enumerate(users.items()):
            subprocess.run(["htpasswd", "-bB", "-C", "5"] + ([] if i else ["-c"]) +
                           [htpasswd, user, password], check=True, capture_output=True)
        with open(acl, "w") as f:
            f.write("root: *\n")
        self.start("--geocoder", "nominatim:" + self.geo.url("nominatim"),
                   "--http-auth-file", htpasswd, "--http-acl-file", acl)
        for i in range(4):  # john stays at the Eiffel tower: the geocoder names the cell
            r = h.request(self.port, "/pub", method="POST", auth=("john", "john-pw"),
                          body=json.dumps({"_type": "location", "lat": 48.85826 + i * 1e-6,
                                           "lon": 2.29450, "tst": 1733065200 + 200 * i}),
                          headers={"Content-Type": "application/json", "X-Limit-D": "phone"})
            self.assertEqual(r.status, 200, r.text)

        def q(who):
            r = h.request(self.port, "/api/0/q?lat=48.85826&lon=2.2945", auth=(who, users[who]))
            contract.check("/api/0/q", "GET", r)
            return r.json()
        h.wait_for(lambda: "addr" in q("root"), 60 * h.WAIT_SCALE, "the geocoder to name the cell")
        self.assertEqual(q("root")["addr"],
                         "Tour Eiffel, 5, Avenue Anatole France, Paris, France")
        self.assertIn("tst", q("root"))
        jane = q("jane")
        self.assertEqual(sorted(jane), ["cc", "locality", "tzname"],
                         "the offline names, nothing of john's cell: %s" % jane)
        self.assertEqual((jane["cc"], jane["tzname"]), ("FR", "Europe/Paris"))
        self.assertEqual(h.request(self.port, "/api/0/q?lat=48.85826&lon=2.2945").status, 401)

    def test_a_429_is_waited_out_as_retry_after_says(self):
        self.geo.script["photon"] = [(429, {"Retry-After": "2"}, {"message": "slow down"}, 0)]
        self.start("--geocoder", "photon:%s,rate=20" % self.geo.url("photon"))
        self.visit(52.5170, 13.3888, 1733065200)
        self.wait_metric("wherelog_geocoder_answers_total", 1)
        seen = self.geo.requests("photon")
        self.assertEqual(len(seen), 2, "asked again once")
        self.assertGreaterEqual(seen[1][0] - seen[0][0], 1.9, "not before Retry-After's 2 s")
        self.assertEqual(metrics(self.port)["wherelog_geocoder_failures_total"], 1)
        self.assertEqual(self.last()["addr"],
                         "Staatsbibliothek, Unter den Linden 8, 10117 Berlin, Germany")
        self.assertIn("HTTP status 429", self.stack.server.new_log())

    def test_a_failing_provider_falls_through_to_the_next(self):
        key = self.dir.file("opencage.key")
        with open(key, "w") as f:
            f.write("k3y+with/odd=chars\n")
        self.geo.script["nominatim"] = [(500, {}, b"<html>Internal Server Error</html>", 0)]
        self.geo.script["photon"] = [(200, {}, b"this is not JSON", 0)]
        self.start("--geocoder", "nominatim:%s,rate=20" % self.geo.url("nominatim"),
                   "--geocoder", "photon:%s,rate=20" % self.geo.url("photon"),
                   "--geocoder", "opencage:%s,key-file=%s,rate=20" % (self.geo.url("opencage"),
                                                                      key))
        tst = self.visit(52.3877, 9.7334, 1733065200)
        self.wait_metric("wherelog_geocoder_answers_total", 1)
        self.assertEqual([s[1] for s in self.geo.requests()], ["nominatim", "photon", "opencage"])
        oc = self.geo.requests("opencage")[0][2]
        self.assertEqual(oc["key"], "k3y+with/odd=chars", "the key from its file, escaped")
        self.assertEqual(oc["q"][:8], "52.38770", "the stay's centre")
        self.assertEqual(self.last()["addr"], "Philipsbornstraße 3, 30167 Hanover, Germany")
        # Nominatim backs off after its 500: the next cell goes to photon at once.
        self.visit(52.52, 13.40, tst + NEXT)
        self.wait_metric("wherelog_geocoder_answers_total", 2)
        self.assertEqual([s[1] for s in self.geo.requests()][3:], ["photon"])
        m = metrics(self.port)
        self.assertEqual((m["wherelog_geocoder_requests_total"],
                          m["wherelog_geocoder_failures_total"]), (4, 2))

    def test_a_slow_provider_times_out_and_ingest_does_not_wait(self):
        self.geo.script["nominatim"] = [(200, {}, NOMINATIM_PARIS, 4)] * 3
        self.start("--geocoder", "nominatim:%s,rate=50" % self.geo.url("nominatim"),
                   "--geocoder-timeout", "1")
        tst = 1733065200
        for i in range(20):  # each in its own cell: the queue fills while the first hang
            tst = self.visit(10 + i * 0.5, 10, tst + NEXT)
        self.wait_metric("wherelog_geocoder_failures_total", 1)
        self.wait_metric("wherelog_geocoder_answers_total", 1)
        self.assertIn("timeout was reached", self.stack.server.new_log().lower())
        r = h.request(self.port, "/api/0/locations?user=jane&device=phone&from=2024-12-01"
                      "&to=2025-01-01")
        self.assertEqual(r.json()["count"], 80, "every point was stored")

    def test_nothing_there_is_remembered_and_not_asked_again(self):
        self.geo.script["nominatim"] = [(200, {}, {"error": "Unable to geocode"}, 0)]
        self.start("--geocoder", "nominatim:%s,rate=20" % self.geo.url("nominatim"))
        tst = self.visit(40.0, -40.0, 1733065200)
        self.post(41.0, -40.0, tst + NEXT)  # leave: the next stay there is a new one
        self.post(41.0, -40.0, tst + NEXT + 60)
        self.wait_metric("wherelog_geocoder_answers_total", 1)
        self.stack.server.stop()
        self.stack.server.start()
        self.visit(40.0, -40.0, tst + 2 * NEXT)  # same place, after a restart: the cache knows it
        self.wait_metric("wherelog_geocoder_cache_hits_total", 1)
        self.assertEqual(len(self.geo.requests()), 1)
        self.assertEqual(self.q(40, -40), {"tst": self.q(40, -40)["tst"]})
        self.assertNotIn("addr", self.last())

    def recorder_store_with_a_cache(self):
        """The fixture Recorder store with a ghash/ cache made by mdb_load: one place (the
        Recorder's own JSON, cached on 2000-06-01: older than a year and younger than 36,500 days
        at every date the suite runs at, 2001 to 2099), a value that is no JSON, and a named database
        (keys), whose record the cache's main database lists too."""
        store = self.dir.file("recorder")
        shutil.copytree(os.environ.get("WHERELOG_RECORDER_STORE",
                                       os.path.join(h.FIXTURES, "recorder-store")), store)
        ghash = os.path.join(store, "ghash")
        os.makedirs(ghash)
        place = {"cc": "FR", "addr": "Place de l'Hotel de Ville, 75004 Paris",
                 "tst": 959817600, "locality": "Paris", "tzname": "Europe/Paris"}
        for args, text in ((["-T"], "u09tvw0\n%s\nu0bcdef\nnot json\n" % json.dumps(place)),
                           (["-T", "-s", "keys"], "jane-phone\nsecret\n")):
            subprocess.run(["mdb_load"] + args + [ghash], input=text.encode(), check=True)
        return store

    def test_a_recorder_cache_is_imported_and_refreshed_when_old(self):
        store = self.recorder_store_with_a_cache()
        storage = self.dir.file("store")
        out = json.loads(h.cli(storage, "import", "recorder", store, "--json").stdout)
        self.assertEqual((out["places"], out["places_unreadable"]), (1, 2))
        self.stack = h.Stack(storage=storage, server_args=(
            "--geocoder", "nominatim:%s,rate=20" % self.geo.url("nominatim"),
            "--geocoder-max-age", "36500"))
        self.port = self.stack.server.http_port
        self.assertEqual(self.q(48.856632, 2.352251),
                         {"cc": "FR", "addr": "Place de l'Hotel de Ville, 75004 Paris",
                          "tst": 959817600, "locality": "Paris", "tzname": "Europe/Paris"})
        tst = self.visit(48.856632, 2.352251, 1733065200)
        self.wait_metric("wherelog_geocoder_cache_hits_total", 1)
        self.assertEqual(self.geo.requests(), [], "a cached place is not asked for")
        self.post(48.9, 2.352251, tst + NEXT)  # leave: the next stay there is a new one
        self.post(48.9, 2.352251, tst + NEXT + 60)
        self.stack.server.stop()
        # With a year as the age limit, the 2000 name is asked for again.
        self.stack.server.extra_args[-1] = "365"
        self.stack.server.start()
        self.visit(48.856632, 2.352251, tst + 2 * NEXT)
        self.wait_metric("wherelog_geocoder_answers_total", 1)
        self.assertEqual(len(self.geo.requests()), 1)
        self.assertEqual(self.q(48.856632, 2.352251)["addr"], NOMINATIM_PARIS["display_name"])


if __name__ == "__main__":
    unittest.main()
