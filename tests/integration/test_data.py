"""Data in and out: importing an OwnTracks Recorder store (against the fixture's
expected.json), GPX, GeoJSON and Google history; idempotence; delete, hide, retention,
backup, check and stats, through the CLI and the API."""
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import unittest

import harness as h

# An ot-recorder store and its expected.json: tests/fixtures/owntracks/recorder-store, or
# ../shared's sample in the "shared" suite.
SAMPLE = os.environ.get("WHERELOG_RECORDER_STORE") or os.path.join(h.FIXTURES, "recorder-store")


def sample_expected():
    with open(os.path.join(SAMPLE, "expected.json")) as f:
        return json.load(f)


def sample_locations():
    """The location lines of the sample's .rec files, parsed: {tst: payload}, first one wins."""
    found = {}
    want = sample_expected()
    for rel in sorted(want["files"]):
        with open(os.path.join(SAMPLE, rel), encoding="utf-8", errors="replace") as f:
            for line in f:
                cols = line.rstrip("\n").split("\t", 2)
                if len(cols) < 3 or cols[1].strip() != "*":
                    continue
                try:
                    payload = json.loads(cols[2])
                except ValueError:
                    continue
                if isinstance(payload, dict) and payload.get("_type") == "location":
                    found.setdefault(int(float(payload["tst"])), payload)
    return found


def import_json(storage, *args):
    r = h.cli(storage, "import", *args, "--json", check=False)
    return r.returncode, json.loads(r.stdout) if r.stdout.strip() else None, r.stderr


class RecorderImport(unittest.TestCase):
    def setUp(self):
        self.dir = h.Workdir()
        self.storage = self.dir.file("store")

    def tearDown(self):
        self.dir.remove()

    def test_the_fixture_store_matches_expected_json(self):
        want = sample_expected()
        rc, summary, err = import_json(self.storage, "recorder", SAMPLE)
        self.assertEqual(rc, 0, err)
        dev = summary["devices"][0]
        self.assertEqual((dev["user"], dev["device"]), (want["user"], want["device"]))
        self.assertEqual(dev["read"], want["lines_total"])
        self.assertEqual(dev["unreadable"], want["unparseable_lines"])
        kinds = dev["accepted_by_type"]
        self.assertEqual(kinds["location"], want["locations"])
        self.assertEqual(kinds["transition"], want["transitions"])
        self.assertEqual(kinds["waypoint"], want["waypoints"])
        self.assertEqual(kinds["lwt"], want["lwt"])
        self.assertEqual(summary["files"], len(want["files"]))
        points = h.export(self.storage, want["user"], want["device"])
        self.assertEqual([{k: p[k] for k in ("tst", "isotst", "lat", "lon")} for p in points],
                         want["location_points_sorted"])
        self.assertEqual(points[0]["tst"], want["first_tst"])
        last = json.loads(h.cli(self.storage, "last").stdout)[0]
        self.assertEqual(last["tst"], want["last_json_tst"])
        self.assertEqual(last["topic"], "owntracks/%s/%s" % (want["user"], want["device"]),
                         "topic recovered from last/")
        # Recorder-added members and flags survive.
        by_tst = {p["tst"]: p for p in points}
        added = 0
        for tst, payload in sample_locations().items():
            for key in ("_http", "_decrypted", "tzname"):
                if key in payload:
                    self.assertEqual(by_tst[tst][key], payload[key], "%d keeps %s" % (tst, key))
                    added += 1
        self.assertGreater(added, 0, "the sample has members the recorder adds")
        self.assertEqual(h.cli(self.storage, "check").returncode, 0)

    def test_a_second_import_stores_nothing_new(self):
        import_json(self.storage, "recorder", SAMPLE)
        rc, summary, _ = import_json(self.storage, "recorder", SAMPLE)
        dev = summary["devices"][0]
        self.assertEqual(dev["stored"], 0)
        self.assertEqual(dev["duplicate"], dev["read"] - dev["unreadable"])
        want = sample_expected()
        self.assertEqual(len(h.export(self.storage, want["user"], want["device"])),
                         want["locations"])

    def test_broken_lines_are_counted_with_reasons(self):
        want = sample_expected()
        store = self.dir.file("recstore")
        shutil.copytree(SAMPLE, store)
        month = sorted(want["files"])[-1]
        path = os.path.join(store, month)
        with open(path, "ab") as f:
            f.write(b"garbage without tabs\n")
            f.write(b"2024-12-02T10:00:00Z\t*                 \t{\"_type\":\"location\",\"lat\":\xff}\n")
            f.write(b"2024-12-02T11:00:00Z\t*                 \t{\"_type\":\"location\",\"lat\":\"48.1\","
                    b"\"lon\":2,\"tst\":1733137200}\n")
            f.write(b"2024-12-02T12:00:00Z\t*                 \t{\"_type\":\"location\",\"lat\":48.1,"
                    b"\"lon\":2,\"tst\":1733140800,\"image\":\"" + b"A" * 100000 + b"\"}\n")
        os.makedirs(os.path.join(os.path.dirname(path), "notes"))
        with open(os.path.join(os.path.dirname(path), "README.txt"), "w") as f:
            f.write("not a month file")
        rc, summary, err = import_json(self.storage, "recorder", store)
        self.assertEqual(rc, 0, err)
        dev = summary["devices"][0]
        self.assertEqual(dev["read"], want["lines_total"] + 4)
        self.assertEqual(dev["unreadable"], want["unparseable_lines"] + 1)
        self.assertEqual(dev["rejected"], want.get("rejected_lines", 0) + 2)
        reasons = summary["reasons"]
        self.assertIn("payload is not valid UTF-8", reasons)
        self.assertIn("lat is not a number", reasons)
        self.assertEqual(len(h.export(self.storage, want["user"], want["device"])),
                         want["locations"] + 1, "a line far over 32 KiB is read whole")

    def test_a_large_store_is_parsed_in_parallel_and_counted_in_order(self):
        # 30,000 lines: several parsing jobs (8,192 records each), so outcomes and commits
        # must be applied in the order read. Every 1,000th line repeats the previous point
        # with another payload: the first one read must win. Every 997th is rejected.
        store = self.dir.file("bigrec")
        d = os.path.join(store, "rec", "big", "phone")
        os.makedirs(d)
        base = 1700000000
        lines, expected, rejected = [], {}, 0
        for i in range(30000):
            tst = base + i * 60
            if i % 1000 == 999 or i == 8192:  # 8192: the first record of the second job
                tst -= 60  # the same tst as the line before, another payload
            payload = {"_type": "location", "lat": 48 + i * 1e-5, "lon": 2.0, "tst": tst, "n": i}
            if i % 997 == 0:
                payload["lat"] = 123  # out of range
                rejected += 1
            elif tst not in expected:
                expected[tst] = i
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(tst))
            lines.append("%s\t*                 \t%s\n" % (stamp, json.dumps(payload)))
        with open(os.path.join(d, "2023-11.rec"), "w") as f:
            f.writelines(lines)
        rc, summary, err = import_json(self.storage, "recorder", store)
        self.assertEqual(rc, 0, err)
        dev = summary["devices"][0]
        self.assertEqual(dev["read"], 30000)
        self.assertEqual(dev["rejected"], rejected)
        self.assertEqual(dev["stored"], len(expected))
        self.assertEqual(dev["duplicate"], 30000 - rejected - len(expected))
        self.assertEqual(summary["reasons"], {"lat 123 out of range": rejected})
        points = h.export(self.storage, "big", "phone")
        self.assertEqual([(p["tst"], p["n"]) for p in points], sorted(expected.items()))
        rc, summary, err = import_json(self.storage, "recorder", store)
        self.assertEqual((rc, summary["devices"][0]["stored"]), (0, 0))

    def test_text_summary_and_progress_flags(self):
        want = sample_expected()
        r = h.cli(self.storage, "import", "recorder", SAMPLE, "--no-progress")
        self.assertIn("%s/%s" % (want["user"], want["device"]), r.stdout)
        self.assertIn("payload is not JSON", r.stdout)
        r = h.cli(self.storage, "import", "recorder", self.dir.file("nowhere"), check=False)
        self.assertEqual(r.returncode, 1)
        r = h.cli(self.storage, "import", "kml", "x", check=False)
        self.assertEqual(r.returncode, 2)


def rec_line(tst, payload, reltopic="*"):
    """One line of a Recorder .rec file; payload is a dict (dumped) or bytes (as they are)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(tst)).encode()
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return stamp + b"\t" + reltopic.ljust(18).encode() + b"\t" + body + b"\n"


def write_recorder_store(root, files):
    """A Recorder store of files {relative path: bytes} under root."""
    for rel, data in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    return root


T0 = 1733011200  # 2024-12-01T00:00:00Z


def loc(i):
    return {"_type": "location", "lat": 48.1 + i / 1000, "lon": 11.5, "tst": T0 + i * 60}


class RecorderSummary(unittest.TestCase):
    """What the summary says, kind by kind and device by device, on a store made here."""

    def setUp(self):
        self.dir = h.Workdir()
        self.storage = self.dir.file("store")
        jane = b"".join([rec_line(T0 + i * 60, loc(i)) for i in range(3)] + [
            rec_line(T0 + 200, {"_type": "transition", "event": "enter", "desc": "home",
                                "tst": T0 + 200, "wtst": T0, "lat": 48.1, "lon": 11.5,
                                "acc": 10, "tid": "JD", "t": "c"}, "event"),
            rec_line(T0 + 300, {"_type": "waypoint", "desc": "home", "lat": 48.1, "lon": 11.5,
                                "rad": 50, "tst": T0 + 300}, "waypoint"),
            rec_line(T0 + 400, {"_type": "lwt", "tst": T0 + 400}, "lwt"),
            rec_line(T0 + 500, {"_type": "status", "iOS": {"locationManager": "x"}}, "status"),
            rec_line(T0 + 600, {"_type": "steps", "tst": T0 + 600, "steps": 99,
                                "from": T0, "to": T0 + 600}, "step")])
        bob = b"".join([
            rec_line(T0 + 60, loc(1)),
            rec_line(T0 + 120, loc(2)),
            # a raw TAB inside a string: RFC 8259 wants it escaped
            rec_line(T0 + 180, b'{"_type":"location","lat":1,"lon":2,"tst":1733011380,'
                                b'"desc":"a\tb"}'),
            rec_line(T0 + 240, b"not json at all")])
        self.store = write_recorder_store(self.dir.file("recstore"), {
            "rec/jane/phone/2024-12.rec": jane,
            "rec/bob/tablet/2024-12.rec": bob,
            "cards/jane/phone/jane-phone.json": json.dumps(
                {"_type": "card", "name": "Jane", "face": "AAAA"}).encode(),
            "waypoints/jane/phone/jane-phone.otrw": json.dumps(
                {"_type": "waypoints", "waypoints": [
                    {"_type": "waypoint", "desc": "work", "lat": 48.2, "lon": 11.6,
                     "rad": 80, "tst": T0 - 86400}]}).encode()})

    def tearDown(self):
        self.dir.remove()

    def test_each_kind_is_counted_per_device(self):
        r = h.cli(self.storage, "import", "recorder", self.store, "--no-progress")
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0:3], [
            "bob/tablet: 4 read",
            "  stored      locations 2, transitions 0, waypoints 0, cards 0, others 0",
            "  not stored  duplicates 0, ignored 0, rejected 1, unreadable 1"], r.stdout)
        self.assertEqual(lines[3:6], [
            "jane/phone: 10 read",
            "  stored      locations 3, transitions 1, waypoints 2, cards 1, others 3"
            " (lwt 1, status 1, steps 1)",
            "  not stored  duplicates 0, ignored 0, rejected 0, unreadable 0"], r.stdout)
        self.assertIn("1  control character 0x09 in a string (JSON needs it escaped)", r.stdout)
        self.assertIn("1  payload is not JSON (kept by the Recorder as text)", r.stdout)
        # and once more: everything is there already, cards and waypoint lists included
        rc, summary, err = import_json(self.storage, "recorder", self.store)
        self.assertEqual(rc, 0, err)
        bob, jane = summary["devices"]
        self.assertEqual((jane["read"], jane["stored"], jane["duplicate"]), (10, 0, 10))
        self.assertEqual(jane["stored_by_type"], {})
        self.assertEqual(jane["accepted_by_type"],
                         {"location": 3, "transition": 1, "waypoint": 1, "waypoints": 1,
                          "card": 1, "lwt": 1, "status": 1, "steps": 1})
        self.assertEqual((bob["stored"], bob["duplicate"], bob["rejected"], bob["unreadable"]),
                         (0, 2, 1, 1))
        r = h.cli(self.storage, "import", "recorder", self.store, "--no-progress")
        self.assertIn("jane/phone: 10 read\n"
                      "  stored      locations 0, transitions 0, waypoints 0, cards 0, others 0\n"
                      "  not stored  duplicates 10, ignored 0, rejected 0, unreadable 0\n",
                      r.stdout)

    def test_the_json_summary_counts_what_was_stored_by_type(self):
        rc, summary, err = import_json(self.storage, "recorder", self.store)
        self.assertEqual(rc, 0, err)
        jane = summary["devices"][1]
        self.assertEqual(jane["user"], "jane")
        self.assertEqual(jane["stored_by_type"], jane["accepted_by_type"])
        self.assertEqual(sum(jane["stored_by_type"].values()), jane["stored"])
        self.assertEqual(summary["reasons"],
                         {"control character 0x09 in a string (JSON needs it escaped)": 1,
                          "payload is not JSON (kept by the Recorder as text)": 1})
        self.assertEqual([p["tst"] for p in h.export(self.storage, "bob", "tablet")],
                         [T0 + 60, T0 + 120], "the line with a raw TAB is not stored")

    def test_paths_too_long_are_reported_not_cut(self):
        # A store whose path is a little under PATH_MAX (4096): rec/a/b/2024-12.rec still
        # fits, rec/<64 bytes>/<64 bytes>/... does not. Made with directory descriptors,
        # since no single path to it may be given to the kernel.
        base = self.dir.file("deep")
        os.mkdir(base)
        parts, length = [], len(base)
        while length < 4000:
            parts.append("d" * min(200, 4010 - length - 1))
            length += 1 + len(parts[-1])
        fd = os.open(base, os.O_RDONLY)
        try:
            for p in parts + ["rec"]:
                os.mkdir(p, dir_fd=fd)
                nfd = os.open(p, os.O_RDONLY, dir_fd=fd)
                os.close(fd)
                fd = nfd
            long_user, long_device = "u" * 64, "v" * 64
            for user, device in (("a", "b"), (long_user, long_device)):
                os.mkdir(user, dir_fd=fd)
                ufd = os.open(user, os.O_RDONLY, dir_fd=fd)
                os.mkdir(device, dir_fd=ufd)
                dfd = os.open(device, os.O_RDONLY, dir_fd=ufd)
                wfd = os.open("2024-12.rec", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=dfd)
                os.write(wfd, rec_line(T0, loc(0)))
                for x in (wfd, dfd, ufd):
                    os.close(x)
        finally:
            os.close(fd)
        store = os.path.join(base, *parts)
        self.assertLess(len(store) + len("/rec/a/b/2024-12.rec"), 4096)
        self.assertGreater(len(store) + len("/rec/%s/%s" % (long_user, long_device)), 4095)
        rc, summary, err = import_json(self.storage, "recorder", store)
        self.assertEqual([(d["user"], d["stored"]) for d in summary["devices"]], [("a", 1)])
        self.assertEqual(summary["errors"], 1, "the device that cannot be reached is reported")
        self.assertIn("skipping a path longer than 4095 bytes: ...", err)
        self.assertIn("/rec/" + long_user + "/" + long_device[:4], err, "it says which one")
        self.assertEqual(rc, 1, "a source could not be read")


GPX11 = """<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1">
 <wpt lat="48.8584" lon="2.2945"><time>2024-05-01T10:00:00Z</time><name>Tour &amp; Eiffel</name></wpt>
 <wpt lat="48.86" lon="2.33"><name>no time</name></wpt>
 <trk><name>t</name><trkseg>
  <trkpt lat="48.853409" lon="2.3488"><ele>35.5</ele><time>2024-05-01T10:05:00Z</time></trkpt>
  <trkpt lat="48.8535" lon="2.3490"><ele>36</ele><time>2024-05-01T10:06:00.500Z</time></trkpt>
  <trkpt lat="48.8536" lon="2.3491"><time>2024-05-01T12:07:00+02:00</time></trkpt>
 </trkseg></trk>
</gpx>
"""

GPX10 = """<?xml version="1.0"?>
<gpx version="1.0" creator="old" xmlns="http://www.topografix.com/GPX/1/0">
 <trk><trkseg>
  <trkpt lat="52.52" lon="13.405"><ele>34</ele><time>2024-06-01T08:00:00Z</time><course>90.5</course><speed>2.5</speed></trkpt>
  <trkpt lat="52.521" lon="13.406"><time>2024-06-01T08:01:00Z</time></trkpt>
 </trkseg></trk>
</gpx>
"""


class FileImports(unittest.TestCase):
    def setUp(self):
        self.dir = h.Workdir()
        self.storage = self.dir.file("store")

    def tearDown(self):
        self.dir.remove()

    def write(self, name, text):
        path = self.dir.file(name)
        with open(path, "w" if isinstance(text, str) else "wb") as f:
            f.write(text)
        return path

    def test_gpx_11_and_10(self):
        rc, s, err = import_json(self.storage, "gpx", self.write("a.gpx", GPX11), "--user", "Jane",
                                 "--device", "gps")
        self.assertEqual(rc, 0, err)
        dev = s["devices"][0]
        self.assertEqual((dev["stored"], dev["unreadable"]), (4, 1))
        self.assertIn("GPX point without a time", s["reasons"])
        pts = h.export(self.storage, "jane", "gps")
        self.assertEqual([p["tst"] for p in pts], [1714557600, 1714557900, 1714557960, 1714558020])
        self.assertEqual(pts[0]["poi"], "Tour & Eiffel")
        self.assertEqual(pts[1]["alt"], 35.5)
        self.assertEqual(pts[1]["lat"], 48.853409, "coordinates keep their digits")
        rc, s, err = import_json(self.storage, "gpx", self.write("b.gpx", GPX10), "--user", "jane",
                                 "--device", "old")
        self.assertEqual(rc, 0, err)
        pts = h.export(self.storage, "jane", "old")
        self.assertEqual(pts[0]["vel"], 9, "GPX 1.0 speed in m/s becomes km/h")
        self.assertEqual(pts[0]["cog"], 90.5)

    def test_gpx_round_trip(self):
        want = sample_expected()
        h.cli(self.storage, "import", "recorder", SAMPLE)
        gpx = self.dir.file("out.gpx")
        h.cli(self.storage, "export", "--user", want["user"], "--device", want["device"],
              "--format", "gpx", "--output", gpx)
        h.cli(self.storage, "import", "gpx", gpx, "--user", "copy", "--device", "phone")
        a = h.export(self.storage, want["user"], want["device"])
        b = h.export(self.storage, "copy", "phone")
        self.assertEqual([(p["tst"], p["lat"], p["lon"], p.get("alt")) for p in a],
                         [(p["tst"], p["lat"], p["lon"], p.get("alt")) for p in b])
        r = h.cli(self.storage, "import", "gpx", gpx, "--user", "copy", "--device", "phone",
                  "--json")
        self.assertEqual(json.loads(r.stdout)["devices"][0]["stored"], 0, "idempotent")

    def test_truncated_and_hostile_gpx(self):
        cut = GPX11[:GPX11.index("<trkpt lat=\"48.8536\"") + 30]
        rc, s, err = import_json(self.storage, "gpx", self.write("cut.gpx", cut), "--user", "jane",
                                 "--device", "cut")
        self.assertEqual(rc, 1, "a truncated file is an error")
        self.assertIn("not a well-formed GPX file", err)
        self.assertEqual(s["errors"], 1)
        self.assertEqual(s["devices"][0]["stored"], 3, "what came before the break is kept")
        xxe = ('<?xml version="1.0"?><!DOCTYPE gpx [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
               '<gpx version="1.1"><wpt lat="1" lon="2"><time>2024-01-01T00:00:00Z</time>'
               '<name>&x;</name></wpt></gpx>')
        rc, s, err = import_json(self.storage, "gpx", self.write("xxe.gpx", xxe), "--user", "jane",
                                 "--device", "xxe")
        pts = h.export(self.storage, "jane", "xxe") if s["devices"][0]["stored"] else []
        for p in pts:
            self.assertNotIn("root:", p.get("poi", ""), "no external entities")
        rc, s, err = import_json(self.storage, "gpx", self.write("x.gpx", "not xml at all"),
                                 "--user", "jane", "--device", "x")
        self.assertEqual(rc, 1)

    def test_geojson_and_google_refuse_raw_control_characters(self):
        point = ('{"type":"Feature","geometry":{"type":"Point","coordinates":[2.3,48.8]},'
                 '"properties":{"time":"2024-05-01T10:0%d:00Z","tid":"%s"}}')
        doc = ('{"type":"FeatureCollection","features":[%s,%s,%s]}'
               % (point % (1, "ok"), point % (2, "a\tb"), point % (3, "a\\tb")))
        rc, s, err = import_json(self.storage, "geojson", self.write("c.geojson", doc),
                                 "--user", "jane", "--device", "geo")
        self.assertEqual(rc, 0, err)
        self.assertEqual((s["devices"][0]["stored"], s["devices"][0]["unreadable"]), (2, 1))
        self.assertEqual(s["reasons"],
                         {"array element is not JSON: control character in a string": 1})
        self.assertEqual([p["tid"] for p in h.export(self.storage, "jane", "geo")],
                         ["ok", "a\tb"], "an escaped TAB is text like any other")
        records = ('{"locations":[{"latitudeE7":481371000,"longitudeE7":115754000,'
                   '"timestamp":"2024-05-01T10:00:00Z","source":"%s"}]}' % "wi\nfi")
        rc, s, err = import_json(self.storage, "google", self.write("r.json", records),
                                 "--user", "jane", "--device", "pixel")
        self.assertEqual((rc, s["devices"][0]["stored"], s["devices"][0]["unreadable"]),
                         (0, 0, 1), err)

    def test_geojson_points_linestrings_and_round_trip(self):
        doc = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [2.2945, 48.8584, 35]},
             "properties": {"time": "2024-05-01T10:00:00Z", "batt": 80, "tid": "JD"}},
            {"type": "Feature", "geometry": {"type": "LineString",
                                             "coordinates": [[2.30, 48.85], [2.31, 48.86]]},
             "properties": {"coordTimes": ["2024-05-01T11:00:00Z", "2024-05-01T11:01:00Z"]}},
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [2.3, 48.8]},
             "properties": {}},
            {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": []},
             "properties": {}}]}
        rc, s, err = import_json(self.storage, "geojson", self.write("a.geojson", json.dumps(doc)),
                                 "--user", "jane", "--device", "geo")
        self.assertEqual(rc, 0, err)
        dev = s["devices"][0]
        self.assertEqual((dev["stored"], dev["unreadable"]), (3, 2))
        pts = h.export(self.storage, "jane", "geo")
        self.assertEqual((pts[0]["alt"], pts[0]["batt"], pts[0]["tid"]), (35, 80, "JD"))
        # our own GeoJSON export comes back the same
        want = sample_expected()
        h.cli(self.storage, "import", "recorder", SAMPLE)
        out = h.cli(self.storage, "export", "--user", want["user"], "--device", want["device"],
                    "--format", "geojson").stdout
        h.cli(self.storage, "import", "geojson", self.write("b.geojson", out), "--user", "copy",
              "--device", "geo")
        a = h.export(self.storage, want["user"], want["device"])
        b = h.export(self.storage, "copy", "geo")
        self.assertEqual([(p["tst"], p["lat"], p["lon"], p.get("batt")) for p in a],
                         [(p["tst"], p["lat"], p["lon"], p.get("batt")) for p in b])

    def test_google_takeout_records(self):
        doc = {"locations": [
            {"latitudeE7": 481371000, "longitudeE7": 115754000, "accuracy": 12, "altitude": 520,
             "timestamp": "2019-05-01T08:00:00.123Z"},
            {"latitudeE7": -338688000, "longitudeE7": 1512093000, "accuracy": 30,
             "timestampMs": "1556697660000", "velocity": 10, "heading": 180},
            {"latitudeE7": 481371000, "longitudeE7": 115754000,
             "timestamp": "2019-05-01T08:00:00Z"},
            {"longitudeE7": 1},
            {"latitudeE7": 999999999, "longitudeE7": 1, "timestamp": "2019-05-01T09:00:00Z"}]}
        path = self.write("Records.json", json.dumps(doc, indent=1))
        rc, s, err = import_json(self.storage, "google", path, "--user", "jane", "--device",
                                 "android")
        self.assertEqual(rc, 0, err)
        dev = s["devices"][0]
        self.assertEqual((dev["stored"], dev["duplicate"], dev["unreadable"], dev["rejected"]),
                         (2, 1, 1, 1))
        pts = h.export(self.storage, "jane", "android")
        self.assertEqual([(p["tst"], p["lat"], p["lon"]) for p in pts],
                         [(1556697600, 48.1371, 11.5754), (1556697660, -33.8688, 151.2093)])
        self.assertEqual((pts[0]["acc"], pts[0]["alt"]), (12, 520))
        self.assertEqual((pts[1]["vel"], pts[1]["cog"]), (36, 180))

    def test_google_timeline_export(self):
        doc = {"semanticSegments": [
            {"startTime": "2024-03-01T08:00:00.000+01:00", "endTime": "2024-03-01T09:00:00.000+01:00",
             "timelinePath": [{"point": "48.1371°, 11.5754°", "time": "2024-03-01T08:00:00.000+01:00"},
                              {"point": "48.1400°, 11.5800°", "time": "2024-03-01T08:02:00.000+01:00"}]},
            {"startTime": "2024-03-01T09:00:00.000+01:00",
             "visit": {"topCandidate": {"placeLocation": {"latLng": "48.1°, 11.5°"}}}}],
            "rawSignals": [
                {"position": {"LatLng": "48.1500°, 11.5900°", "accuracyMeters": 13,
                              "altitudeMeters": 540.0, "source": "WIFI",
                              "timestamp": "2024-03-01T10:00:00.000+01:00",
                              "speedMetersPerSecond": 1.5}},
                {"wifiScan": {"deliveryTime": "2024-03-01T10:00:00.000+01:00"}},
                {"position": {"LatLng": "not a place", "timestamp": "2024-03-01T10:00:00Z"}}],
            "userLocationProfile": {"frequentPlaces": []}}
        path = self.write("Timeline.json", json.dumps(doc, ensure_ascii=False))
        rc, s, err = import_json(self.storage, "google", path, "--user", "jane", "--device", "pixel")
        self.assertEqual(rc, 0, err)
        dev = s["devices"][0]
        self.assertEqual((dev["stored"], dev["ignored"], dev["unreadable"]), (3, 2, 1))
        pts = h.export(self.storage, "jane", "pixel")
        self.assertEqual([p["tst"] for p in pts], [1709276400, 1709276520, 1709283600])
        self.assertEqual((pts[2]["acc"], pts[2]["alt"], pts[2]["vel"]), (13, 540, 5))
        cut = json.dumps(doc, ensure_ascii=False)[:200]
        rc, s, err = import_json(self.storage, "google", self.write("cut.json", cut), "--user",
                                 "jane", "--device", "cut")
        self.assertEqual(rc, 1)
        self.assertIn("ends in the middle", err)

    def test_values_too_long_for_their_field_are_not_cut(self):
        long_lat = "48." + "8" * 60  # cut to fit, it would be another number
        gpx = ('<?xml version="1.0"?><gpx version="1.1" creator="t" '
               'xmlns="http://www.topografix.com/GPX/1/1">'
               '<wpt lat="48.85" lon="2.29"><time>2024-05-01T10:00:00Z</time>'
               '<name>%s</name></wpt>'
               '<trk><trkseg><trkpt lat="%s" lon="2.3"><time>2024-05-01T10:01:00Z</time></trkpt>'
               '<trkpt lat="48.86" lon="2.3"><ele> 35 </ele><time>2024-05-01T10:02:00Z</time>'
               '</trkpt></trkseg></trk></gpx>' % ("é" * 200, long_lat))
        rc, s, err = import_json(self.storage, "gpx", self.write("long.gpx", gpx), "--user",
                                 "jane", "--device", "long")
        self.assertEqual(rc, 0, err)
        self.assertEqual((s["devices"][0]["stored"], s["devices"][0]["unreadable"]), (1, 2))
        self.assertEqual(s["reasons"], {"GPX point with a value too long for its field": 2})
        self.assertEqual([(p["lat"], p["alt"]) for p in h.export(self.storage, "jane", "long")],
                         [(48.86, 35)], "white space around a value is not part of it")
        doc = {"rawSignals": [
            {"position": {"LatLng": "%s°, 11.59°" % long_lat,
                          "timestamp": "2024-03-01T10:00:00.000+01:00"}},
            {"position": {"LatLng": "48.15°, 11.59°" + " " * 200,
                          "timestamp": "2024-03-01T10:01:00.000+01:00"}},
            {"position": {"LatLng": "48.15°, 11.59°",
                          "timestamp": "2024-03-01T10:02:00.000+01:00"}}]}
        rc, s, err = import_json(self.storage, "google",
                                 self.write("t.json", json.dumps(doc, ensure_ascii=False)),
                                 "--user", "jane", "--device", "pixel")
        self.assertEqual((rc, s["devices"][0]["stored"], s["devices"][0]["unreadable"]),
                         (0, 1, 2), err)


class ChangingHistory(unittest.TestCase):
    def setUp(self):
        self.stack = h.Stack(["--retain-user", "old=30", "--retain-interval", "1"])
        self.storage = self.stack.storage
        self.port = self.stack.server.http_port
        now = int(h.now())
        msgs = [h.location("jane", "phone", 1733011200 + i * 600, lat=48 + i / 1000, acc=5)
                for i in range(300)]
        msgs += [h.location("jane", "tablet", 1733011200, lat=1)]
        msgs += [{"topic": "owntracks/jane/phone/info",
                  "payload": json.dumps({"_type": "card", "name": "J"})}]
        msgs += [h.location("old", "phone", now - d * 86400, lat=10) for d in (1, 10, 40, 50)]
        h.publish(self.stack.broker.port, msgs)
        h.sync(self.stack.broker.port, self.storage)

    def tearDown(self):
        self.stack.stop()

    def count(self, user, device):
        r = h.request(self.port, "/api/0/locations?user=%s&device=%s&from=0" % (user, device))
        return r.json()["count"]

    def test_delete_is_seen_by_the_api_at_once(self):
        self.assertEqual(self.count("jane", "phone"), 300)
        r = h.cli(self.storage, "delete", "--user", "jane", "--device", "phone", "--from",
                  str(1733011200), "--to", str(1733011200 + 99 * 600), "--dry-run")
        self.assertIn("would remove jane/phone: 100 points", r.stdout)
        self.assertEqual(self.count("jane", "phone"), 300)
        r = h.cli(self.storage, "delete", "--user", "jane", "--device", "phone", "--from",
                  str(1733011200), "--to", str(1733011200 + 99 * 600))
        self.assertIn("removed jane/phone: 100 points", r.stdout)
        self.assertEqual(self.count("jane", "phone"), 200)
        r = h.cli(self.storage, "delete", "--user", "jane", "--device", "tablet")
        self.assertIn("the device itself", r.stdout)
        self.assertEqual(h.request(self.port, "/api/0/list?user=jane").json()["results"],
                         ["phone"])
        self.assertEqual(h.cli(self.storage, "check").returncode, 0)

    def test_delete_over_http_needs_an_authorised_user(self):
        r = h.request(self.port, "/api/0/locations?user=jane&device=phone", method="DELETE")
        self.assertEqual(r.status, 403)
        self.assertIn("authenticated", r.json()["error"])
        self.assertEqual(self.count("jane", "phone"), 300)

    def test_hide_and_unhide(self):
        last = 1733011200 + 299 * 600
        h.cli(self.storage, "hide", "jane", "phone", str(last))
        self.assertEqual(self.count("jane", "phone"), 299)
        obj = [o for o in h.request(self.port, "/api/0/last").json() if o["device"] == "phone"
               and o["username"] == "jane"][0]
        self.assertEqual(obj["tst"], last - 600, "the last position skips a hidden point")
        h.cli(self.storage, "unhide", "jane", "phone", str(last))
        self.assertEqual(self.count("jane", "phone"), 300)
        r = h.cli(self.storage, "hide", "jane", "phone", "12345", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no point at", r.stderr)

    def test_retention_prunes_in_the_background_while_ingest_goes_on(self):
        h.wait_for(lambda: self.count("old", "phone") == 2, 20, "pruning")
        # The line comes once the whole deletion is done (its timeline recomputed too), which
        # may be after the points are gone.
        h.wait_for(lambda: "removed 2 points of old/phone" in self.stack.server.log_text(), 20,
                   "the pruning's log line")
        # ingest goes on meanwhile and later: new points are stored
        h.publish(self.stack.broker.port, [h.location("old", "phone", int(h.now()), lat=11)])
        h.sync(self.stack.broker.port, self.storage)
        self.assertEqual(self.count("old", "phone"), 3)
        self.assertEqual(self.count("jane", "phone"), 300, "other users keep everything")

    def test_backup_during_ingest_opens_and_checks_cleanly(self):
        stop = threading.Event()

        def feed():
            t = 1700000000
            while not stop.is_set():
                h.publish(self.stack.broker.port,
                          [h.location("busy", "phone", t + i) for i in range(500)])
                t += 500
        writer = threading.Thread(target=feed)
        writer.start()
        try:
            # Back up once ingest is under way; the feed goes on until the backup is done.
            h.wait_for(lambda: "busy" in h.cli(self.storage, "list").stdout.split(), 30,
                       "the feed to be stored")
            backup = self.stack.dir.file("backup.mdb")
            h.cli(self.storage, "backup", backup)
        finally:
            stop.set()
            writer.join()
        restored = self.stack.dir.file("restored")
        os.makedirs(restored)
        shutil.copy(backup, os.path.join(restored, "data.mdb"))
        r = h.cli(restored, "check")
        self.assertIn("0 problem(s)", r.stdout)
        self.assertEqual(len(h.export(restored, "jane", "phone")), 300)
        self.assertGreater(len(h.export(restored, "busy", "phone")), 0,
                           "the backup was taken while the feed was being stored")
        compacted = self.stack.dir.file("compacted")
        h.cli(self.storage, "compact", compacted)
        self.assertEqual(h.cli(compacted, "check").returncode, 0)
        r = h.cli(self.storage, "backup", backup, check=False)
        self.assertEqual(r.returncode, 1, "never overwrites a backup")

    def test_stats(self):
        s = json.loads(h.cli(self.storage, "stats", "--user", "jane", "--json").stdout)
        phone = [d for d in s["devices"] if d["device"] == "phone"][0]
        self.assertEqual(phone["points"], 300)
        self.assertEqual(phone["days"], 3)
        # 299 steps of 0.001 degree of latitude: about 111 m each
        self.assertAlmostEqual(phone["distance_m"] / 1000, 299 * 0.1112, delta=0.5)
        self.assertGreater(s["store"]["file_bytes"], 0)
        r = h.request(self.port, "/api/0/stats?user=jane&device=phone&from=2024-12-01&to=2024-12-01")
        body = r.json()
        self.assertEqual(body["devices"][0]["points"], 144)
        table = h.cli(self.storage, "stats").stdout
        self.assertIn("jane/phone", table)
        self.assertIn("bytes per point", table)
        for cmd in (["stats"], ["delete", "--user", "jane"], ["export", "--user", "jane",
                                                              "--device", "phone"]):
            r = h.cli(self.storage, *cmd, "--from", "2024-12-02", "--to", "2024-12-01",
                      check=False)
            self.assertEqual(r.returncode, 2, cmd)
            self.assertIn("--from is after --to", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
