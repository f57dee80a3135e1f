"""The REST API against a real server: every endpoint's shape (checked against
api/openapi.yaml), status codes, empty-store answers, time-range edges, limit, fields,
parameters from headers and form bodies, and every format."""
import json
import os
import subprocess
import tempfile
import unittest
import urllib.parse

import contract
import gpx_check
import harness as h

DAY = 1733011200  # 2024-12-01T00:00:00Z


def q(**params):
    return urllib.parse.urlencode(params)


class EmptyStore(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = h.Stack()
        cls.port = cls.stack.server.http_port

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()

    def get(self, path, query=""):
        r = h.request(self.port, path + ("?" + query if query else ""))
        return r, contract.check(path, "GET", r)

    def test_empty_answers_are_not_errors(self):
        r, body = self.get("/api/0/list")
        self.assertEqual((r.status, body), (200, {"results": []}))
        r, body = self.get("/api/0/list", q(user="nobody"))
        self.assertEqual(body, {"results": []})
        r, body = self.get("/api/0/last")
        self.assertEqual(body, [])
        r, body = self.get("/api/0/locations", q(user="a", device="b", **{"from": "2024-01-01"}))
        self.assertEqual(body["data"], [])
        self.assertEqual(body["count"], 0)
        r = h.request(self.port, "/api/0/monitor")
        contract.check("/api/0/monitor", "GET", r)
        self.assertEqual(r.text, "not available\n")


class Api(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = h.Stack()
        cls.port = cls.stack.server.http_port
        cls.storage = cls.stack.storage
        msgs = [h.location("jane", "phone", DAY + i * 3600, lat=48 + i / 100, alt=30 + i,
                           tid="JD", vel=5, acc=10) for i in range(72)]  # three days
        msgs.append(h.location("bob", "tablet", DAY + 100, lat=51.5, lon=-0.1, tid="BB"))
        msgs.append({"topic": "owntracks/jane/phone/info",
                     "payload": json.dumps({"_type": "card", "name": "Jane Doe", "face": "AAAA"})})
        h.publish(cls.stack.broker.port, msgs)
        h.sync(cls.stack.broker.port, cls.storage)

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()

    def get(self, path, query="", method="GET", headers=None, body=None, **kw):
        r = h.request(self.port, path + ("?" + query if query else ""), method=method,
                      headers=headers, body=body)
        return r, contract.check(path, method, r, **kw)

    def locations(self, fmt="json", drop_required=False, **params):
        params.setdefault("user", "jane")
        params.setdefault("device", "phone")
        params.setdefault("from", str(DAY - 86400))
        params["format"] = fmt
        return self.get("/api/0/locations", q(**params), drop_required=drop_required)

    def test_version(self):
        r, body = self.get("/api/0/version")
        self.assertEqual(r.status, 200)
        self.assertEqual(body["version"], "0.1.0")
        r, body = self.get("/api/0/version", method="POST")
        self.assertEqual(r.status, 200)

    def test_list(self):
        r, body = self.get("/api/0/list")
        self.assertEqual(body["results"], ["bob", "jane", h.SENTINEL_USER])
        r, body = self.get("/api/0/list", q(user="JANE"))
        self.assertEqual(body["results"], ["phone"])
        r, body = self.get("/api/0/list", q(user="jane", device="phone"))
        self.assertEqual(body["results"], ["2024-12"])

    def test_last(self):
        r, body = self.get("/api/0/last")
        self.assertEqual(r.status, 200)
        jane = [o for o in body if o["username"] == "jane"][0]
        self.assertEqual(jane["tst"], DAY + 71 * 3600)
        self.assertEqual(jane["name"], "Jane Doe")
        self.assertEqual(jane["face"], "AAAA")
        self.assertEqual(jane["topic"], "owntracks/jane/phone")
        self.assertEqual(jane["isotst"], "2024-12-03T23:00:00Z")
        r, body = self.get("/api/0/last", q(user="bob"))
        self.assertEqual([o["device"] for o in body], ["tablet"])
        r, body = self.get("/api/0/last", q(user="jane", fields="tst,lat,name,nosuch"),
                           drop_required=True)
        self.assertEqual(body, [{"tst": DAY + 71 * 3600, "lat": 48.71, "name": "Jane Doe"}])

    def test_locations_ranges_are_inclusive(self):
        r, body = self.locations(**{"from": str(DAY + 3600), "to": str(DAY + 3 * 3600)})
        self.assertEqual([p["tst"] for p in body["data"]], [DAY + 3600, DAY + 7200, DAY + 10800])
        self.assertEqual(body["count"], 3)
        r, body = self.locations(**{"from": "2024-12-02", "to": "2024-12-02"})
        self.assertEqual(len(body["data"]), 24, "a date as `to` covers the whole day")
        r, body = self.locations(**{"from": "2024-12-02T01:00:00+01:00", "to": "2024-12-02t00:59z"})
        self.assertEqual([p["isotst"] for p in body["data"]], ["2024-12-02T00:00:00Z"],
                         "zones, lowercase t/z, minute precision")
        r, body = self.locations(**{"from": "2024-12"})
        self.assertEqual(body["count"], 72)

    def test_locations_limit_fields_and_parameter_sources(self):
        r, body = self.locations(limit="5")
        self.assertEqual([p["tst"] for p in body["data"]],
                         [DAY + i * 3600 for i in range(67, 72)], "the newest five, in order")
        r, body = self.locations(limit="99999999999999")
        self.assertEqual(body["count"], 72)
        r, body = self.locations(fields="lat,isotst", limit="1", drop_required=True)
        self.assertEqual(body["data"], [{"lat": 48.71, "isotst": "2024-12-03T23:00:00Z"}])
        # X-Limit-* headers win over the query string
        r, body = self.get("/api/0/locations", q(user="bob", device="tablet", **{"from": "0"}),
                           headers={"X-Limit-User": "jane", "X-Limit-Device": "phone"})
        self.assertEqual(body["count"], 72)
        # a form-encoded POST body
        r, body = self.get("/api/0/locations", method="POST",
                           headers={"Content-Type": "application/x-www-form-urlencoded"},
                           body=q(user="jane", device="phone", limit="2", **{"from": "0"}))
        self.assertEqual(body["count"], 2)

    def test_every_format(self):
        r, geo = self.locations("geojson")
        self.assertEqual(len(geo["features"]), 72)
        self.assertEqual(geo["features"][0]["geometry"]["coordinates"], [2.29, 48.0, 30])
        r, line = self.locations("linestring")
        self.assertEqual(len(line["geometry"]["coordinates"]), 72)
        r, _ = self.locations("gpx")
        self.assertEqual(r.header("content-type"), "application/gpx+xml; charset=utf-8")
        self.assertEqual(r.header("content-disposition"),
                         'attachment; filename="jane-phone-2024-12-01-2024-12-03.gpx"')
        with tempfile.NamedTemporaryFile(suffix=".gpx") as f:
            f.write(r.body)
            f.flush()
            # read back with gpxpy and gpsbabel; with ../shared, also validated against the schema
            gpx = gpx_check.check(f.name, os.environ.get("WHERELOG_GPX_XSD"))
            self.assertEqual(sum(len(seg) for seg in gpx["segments"]), 72)
        r, _ = self.locations("csv")
        self.assertEqual(r.header("content-type"), "text/csv; charset=utf-8; header=present")
        self.assertEqual(len(r.text.split("\r\n")), 74)
        r, _ = self.locations("xml")
        with tempfile.NamedTemporaryFile(suffix=".xml") as f:
            f.write(r.body)
            f.flush()
            self.assertEqual(subprocess.run(["xmllint", "--noout", f.name]).returncode, 0)
        r, _ = self.locations("geojson", download="1")
        self.assertIn(".geojson", r.header("content-disposition"))

    def test_thinning_with_max_points(self):
        r, body = self.locations(max_points="20")
        self.assertLessEqual(body["count"], 20)
        self.assertGreaterEqual(body["count"], 18)
        tsts = [p["tst"] for p in body["data"]]
        self.assertEqual(tsts, sorted(tsts))
        self.assertEqual((tsts[0], tsts[-1]), (DAY, DAY + 71 * 3600), "both ends kept")
        self.assertEqual(body["in_range"], 72, "how many points the range holds")
        r, body = self.locations()
        self.assertNotIn("in_range", body, "only with max_points")
        r, geo = self.locations("geojson", max_points="16")
        self.assertLessEqual(len(geo["features"]), 16)
        for bad in ("3", "x", "-20", "999999999"):
            r, body = self.locations(max_points=bad)
            self.assertEqual(r.status, 400)
            self.assertIn("max_points", body["error"])

    def test_the_api_and_the_cli_refuse_bad_input_in_the_same_words(self):
        cases = [{"from": "yesterday"}, {"to": "2024-13-01"}, {"fields": ",,"},
                 {"user": "a/b"}, {"format": "kml"}]
        for bad in cases:
            params = dict({"user": "jane", "device": "phone", "format": "csv"}, **bad)
            r = h.request(self.port, "/api/0/locations?" + q(**params))
            self.assertEqual(r.status, 400, bad)
            api = r.json()["error"]
            self.assertTrue(api.startswith("bad parameter "), api)
            args = ["export"]
            for name, value in params.items():
                args += ["--" + name, value]
            c = h.cli(self.storage, *args, check=False)
            self.assertEqual(c.returncode, 2, bad)
            words = api[len("bad parameter "):]
            if "format" in bad:  # the CLI writes fewer formats than the API
                words = words.split(" is not ")[0]
            self.assertIn("--" + words, c.stderr, bad)
        r = h.request(self.port, "/api/0/locations?" + q(user="jane", device="phone",
                                                          **{"from": "2024-12-02",
                                                             "to": "2024-12-01"}))
        self.assertEqual((r.status, r.json()["error"]),
                         (416, "impossible date/time range: from is after to"))

    def test_config_for_the_map(self):
        r, body = self.get("/api/0/config")
        self.assertEqual(body["tiles"]["maxZoom"], 19)
        self.assertIn("{z}", body["tiles"]["url"])
        self.assertEqual(body["mqtt"]["host"], "127.0.0.1")
        self.assertEqual(body["http"]["pub"], "/pub")

    def test_unknown_device_is_an_empty_track(self):
        r, body = self.locations(device="nope")
        self.assertEqual((r.status, body["data"]), (200, []))
        self.assertEqual(r.header("content-length"), str(len(r.body)),
                         "an empty track is sent whole, not streamed")

    def test_bad_parameters_are_named(self):
        cases = [(q(user="jane"), 400, "device"),
                 (q(device="phone"), 400, "user"),
                 (q(user="jane", device="phone", **{"from": "yesterday"}), 400, "from"),
                 (q(user="jane", device="phone", to="2024-13-01"), 400, "to"),
                 (q(user="jane", device="phone", limit="-1"), 400, "limit"),
                 (q(user="jane", device="phone", limit="ten"), 400, "limit"),
                 (q(user="jane", device="phone", limit="99999999999999999999"), 400, "larger"),
                 (q(user="jane", device="phone", max_points="99999999999"), 400, "max_points"),
                 (q(user="jane", device="phone", format="kml"), 400, "format"),
                 (q(user="../x", device="phone"), 400, "user"),
                 (q(user="jane", device="phone", fields=",".join("f%d" % i for i in range(40))),
                  400, "fields"),
                 ("user=%FF%FE&device=phone", 400, "user"),
                 ("user=jane&device=phone&from=%ZZ", 400, "from"),
                 (q(user="jane", device="phone", **{"from": "2024-12-02", "to": "2024-12-01"}),
                  416, "range")]
        for query, status, word in cases:
            r, body = self.get("/api/0/locations", query)
            self.assertEqual(r.status, status, query)
            self.assertIn(word, body["error"], query)
            self.assertEqual(body["status"], status)

    def test_monitor(self):
        r = h.request(self.port, "/api/0/monitor")
        contract.check("/api/0/monitor", "GET", r)
        when, topic = r.text.split()
        self.assertTrue(int(when) > 0)
        self.assertTrue(topic.startswith("owntracks/"))

    def test_wrong_routes_and_methods(self):
        r = h.request(self.port, "/api/0/nonsense")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.json()["status"], 404)
        r = h.request(self.port, "/api/0/last", method="PUT")
        self.assertEqual(r.status, 405)
        self.assertIn("GET", r.header("allow"))
        r = h.request(self.port, "/pub")
        self.assertEqual(r.status, 405)
        self.assertEqual(r.json()["error"], "use POST for /pub")
        self.assertEqual(r.header("allow"), "POST, OPTIONS")


class QueryEncoding(unittest.TestCase):
    """Percent-encoding in query strings: well-formed escapes, '+' and UTF-8 are decoded;
    a '%' without two hex digits is the client's bug, answered 400 naming the parameter."""

    @classmethod
    def setUpClass(cls):
        cls.stack = h.Stack()
        cls.port = cls.stack.server.http_port
        body = json.dumps({"_type": "location", "lat": 1, "lon": 2, "tst": DAY})
        # u and d from the query, decoded: "jürgen" (UTF-8) and "my phone" ('+' is a space)
        r = h.request(cls.port, "/pub?u=j%C3%BCrgen&d=my+phone", method="POST", body=body)
        assert r.status == 200 and r.header("X-Wherelog-Rejected") is None, r.body

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()

    def test_well_formed_escapes_are_decoded(self):
        for query in ("user=j%C3%BCrgen&device=my+phone&from=0",
                      "user=J%c3%bcRGEN&device=my%20phone&from=0",
                      "%75ser=j%C3%BCrgen&device=my+phone&from=1970-01-01T00%3A00%3A00Z"):
            r = h.request(self.port, "/api/0/locations?" + query)
            self.assertEqual(r.status, 200, query)
            self.assertEqual([p["tst"] for p in r.json()["data"]], [DAY], query)
        r = h.request(self.port, "/api/0/list?user=j%C3%BCrgen")
        self.assertEqual(r.json()["results"], ["my phone"])
        # %2F decodes to '/', which no name may hold: the name is refused, not the encoding
        r = h.request(self.port, "/api/0/list?user=a%2Fb")
        self.assertEqual(r.status, 400)
        self.assertIn("bad parameter user: name contains '\\', '/'", r.json()["error"])
        self.assertNotIn("percent-encoding", r.json()["error"])

    def test_malformed_escapes_are_refused_naming_the_parameter(self):
        cases = [("/api/0/locations", "user=%zz&device=phone", "user", "%zz"),
                 ("/api/0/locations", "user=jane&device=ph%4", "device", "%4"),
                 ("/api/0/locations", "user=%G1&device=phone", "user", "%G1"),
                 ("/api/0/locations", "device=phone&user=abc%", "user", "%"),
                 ("/api/0/list", "user=abc%&device=x", "user", "%"),
                 ("/api/0/last", "user=jane&fields=tst%2", "fields", "%2"),
                 ("/api/0/stats", "from=2024%-01", "from", "%-0"),
                 ("/pub", "u=%zz&d=phone", "u", "%zz")]
        for path, query, name, esc in cases:
            r = h.request(self.port, path + "?" + query,
                          method="POST" if path == "/pub" else "GET", body=b"{}")
            self.assertEqual(r.status, 400, query)
            body = r.json()
            self.assertEqual(body["status"], 400)
            self.assertEqual(body["error"],
                             'bad parameter %s: malformed percent-encoding "%s" '
                             "(a '%%' must be followed by two hex digits)" % (name, esc), query)
        r = h.request(self.port, "/api/0/list?us%zer=jane")
        self.assertEqual(r.status, 400)
        self.assertIn('malformed percent-encoding "%ze" in a parameter name', r.json()["error"])
        self.assertEqual(h.request(self.port, "/api/0/list?user=j%C3%BCrgen").status, 200,
                         "the server goes on as before")
        # routes that read no parameters ignore the query, as before
        self.assertEqual(h.request(self.port, "/api/0/version?x=%zz").status, 200)
        self.assertEqual(h.request(self.port, "/?v=%zz").status, h.request(self.port, "/").status)


class RouteTable(unittest.TestCase):
    """The one route table (src/route.c) that dispatch, metrics and CORS read is the one the
    OpenAPI document describes."""

    def test_route_table_matches_openapi(self):
        self.assertEqual(contract.route_problems(), [])

    def test_contract_check_finds_a_difference(self):
        spec = contract.SPEC
        try:
            contract.SPEC = dict(spec, paths=dict(spec["paths"]))
            del contract.SPEC["paths"]["/api/0/stats"]
            contract.SPEC["paths"]["/api/0/nowhere"] = {"get": {"responses": {}}}
            problems = contract.route_problems()
        finally:
            contract.SPEC = spec
        self.assertIn("route /api/0/stats is not in api/openapi.yaml", problems)
        self.assertIn("/api/0/nowhere is documented but no route serves it", problems)

    def test_every_route_is_labelled_for_metrics(self):
        for row in contract.routes():
            self.assertTrue(row["label"], "%s has a metrics label" % row["path"])
            self.assertTrue(row["methods"], "%s takes some method" % row["path"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
