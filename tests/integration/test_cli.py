"""The command line: help, bad arguments (one-line reasons, non-zero status), settings
precedence in `serve --check`, exports in every format."""
import json
import os
import subprocess
import unittest

import gpx_check
import harness as h


def run(*args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    r = subprocess.run([h.WHERELOG] + list(args), capture_output=True, text=True, env=e,
                       timeout=60)
    h.check_sanitizers("wherelog " + " ".join(args), r.stderr)
    return r


class Cli(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = h.Stack()
        cls.dir, cls.storage, cls.broker = cls.stack.dir, cls.stack.storage, cls.stack.broker
        points = [h.location("jane", "phone", 1733011200 + i * 3600, lat=48 + i / 100, alt=30 + i,
                             tid="JD") for i in range(48)]
        h.publish(cls.broker.port, points)
        h.sync(cls.broker.port, cls.storage)

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()

    def test_help_everywhere(self):
        for cmd in ("serve", "list", "last", "export", "key", "token"):
            r = run(cmd, "--help")
            self.assertEqual(r.returncode, 0, cmd)
            self.assertIn("usage: wherelog " + cmd, r.stdout)
            self.assertIn("--storage DIR", r.stdout)
            self.assertIn("precedence", r.stdout)
        self.assertIn("(default: owntracks/#)", run("serve", "--help").stdout)
        self.assertEqual(run("--version").returncode, 0)

    def test_bad_arguments_fail_with_one_line(self):
        cases = [("list", "--bogus"), ("export", "--user", "jane"),
                 ("export", "--user", "jane", "--device", "phone", "--from", "yesterday"),
                 ("export", "--user", "jane", "--device", "phone", "--format", "kml"),
                 ("export", "--user", "jane", "--device", "phone", "--from", "2024-12-02",
                  "--to", "2024-12-01"),
                 ("serve", "--mqtt-port", "0"), ("serve", "--qos", "3"), ("frobnicate",),
                 ("last", "--user", "../x")]
        for args in cases:
            r = run(*args, "--storage", self.storage)
            self.assertNotEqual(r.returncode, 0, args)
            self.assertTrue(r.stderr.strip(), args)
            if args[0] != "frobnicate":  # that one also lists the commands
                self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)

    def test_missing_store_and_device_are_clear_errors(self):
        r = run("list", "--storage", self.dir.file("nowhere"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("no store in", r.stderr)
        r = run("export", "--user", "jane", "--device", "nope", "--storage", self.storage)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no device jane/nope", r.stderr)

    def test_check_shows_precedence(self):
        conf = self.dir.file("w.conf")
        with open(conf, "w") as f:
            f.write("mqtt-host = from-file\nmqtt-port = 1999\nqos = 2\n")
        r = run("serve", "--check", "--config", conf, "--qos", "1",
                env={"WHERELOG_MQTT_PORT": "2000"})
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        lines = {l.split("=")[0].strip(): l for l in r.stdout.splitlines() if "=" in l}
        self.assertRegex(lines["mqtt-host"], r"from-file\s+# file")
        self.assertRegex(lines["mqtt-port"], r"2000\s+# environment")
        self.assertRegex(lines["qos"], r"1\s+# flag")
        self.assertRegex(lines["topic"], r"owntracks/#\s+# default")
        r = run("serve", "--check", "--mqtt-cafile", "/nonexistent/ca.pem")
        self.assertEqual(r.returncode, 1)
        self.assertIn("problem: cannot read /nonexistent/ca.pem", r.stdout)

    def test_export_ranges_are_inclusive_and_dates_cover_the_day(self):
        got = h.export(self.storage, "Jane", "PHONE", "json", "--from", "2024-12-02",
                       "--to", "2024-12-02")
        self.assertEqual(len(got), 24, "a date is the whole day, and names are case-blind")
        self.assertEqual(got[0]["isotst"], "2024-12-02T00:00:00Z")
        self.assertEqual(got[-1]["isotst"], "2024-12-02T23:00:00Z")
        got = h.export(self.storage, "jane", "phone", "json", "--from", "1733014800",
                       "--to", "2024-12-01T03:00:00+01:00")
        self.assertEqual([p["tst"] for p in got], [1733014800, 1733018400])

    def test_export_limit_takes_the_newest_oldest_first(self):
        got = h.export(self.storage, "jane", "phone", "json", "--from", "2024-12-01",
                       "--to", "2024-12-01", "--limit", "3")
        self.assertEqual([p["isotst"] for p in got], ["2024-12-01T21:00:00Z",
                                                      "2024-12-01T22:00:00Z",
                                                      "2024-12-01T23:00:00Z"])
        csv = h.export(self.storage, "jane", "phone", "csv", "--limit", "5")
        self.assertEqual(len(csv.strip().splitlines()), 6, "a header and the newest five")
        for bad in ("0x3", "-1", "many"):
            r = run("export", "--user", "jane", "--device", "phone", "--limit", bad,
                    "--storage", self.storage)
            self.assertEqual(r.returncode, 2, bad)
            self.assertIn("--limit", r.stderr)
        r = run("export", "--user", "jane", "--device", "phone", "--format", "gpx", "--timeline",
                "--limit", "3", "--storage", self.storage)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--limit", r.stderr)

    def test_export_formats(self):
        gpx_path = self.dir.file("t.gpx")
        h.cli(self.storage, "export", "--user", "jane", "--device", "phone", "--format", "gpx",
              "--output", gpx_path)
        # read back with gpxpy and gpsbabel; with ../shared, also validated against the schema
        gpx = gpx_check.check(gpx_path, os.environ.get("WHERELOG_GPX_XSD"))
        self.assertEqual(sum(len(seg) for seg in gpx["segments"]), 48)
        geo = h.export(self.storage, "jane", "phone", "geojson")
        self.assertEqual(len(geo["features"]), 48)
        self.assertEqual(geo["features"][0]["geometry"]["coordinates"][:2], [2.29, 48.0])
        csv = h.export(self.storage, "jane", "phone", "csv")
        self.assertEqual(len(csv.strip().splitlines()), 49)

    def test_export_output_dash_is_standard_output(self):
        r = subprocess.run([h.WHERELOG, "export", "--storage", self.storage, "--user", "jane",
                            "--device", "phone", "--output", "-"], capture_output=True, text=True,
                           cwd=self.dir.path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(json.loads(r.stdout)), 48)
        self.assertFalse(os.path.exists(os.path.join(self.dir.path, "-")), "no file named -")

    def test_last_filters(self):
        self.assertEqual(json.loads(h.cli(self.storage, "last", "--user", "nobody").stdout), [])
        last = json.loads(h.cli(self.storage, "last", "--user", "jane", "--device",
                                "phone").stdout)
        self.assertEqual(len(last), 1)
        self.assertEqual(last[0]["tst"], 1733011200 + 47 * 3600)
        self.assertEqual(last[0]["topic"], "owntracks/jane/phone")


if __name__ == "__main__":
    unittest.main(verbosity=2)
