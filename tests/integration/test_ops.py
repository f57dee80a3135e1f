"""Operations: GET /metrics checked by Prometheus's own parser (promtool) after a run that
ingests, rejects and serves; GET /healthz following the broker; SIGHUP reloading the
configuration file without dropping a live stream."""
import http.client
import os
import re
import shutil
import signal
import subprocess
import time
import unittest

import contract
import harness as h

PROMTOOL = shutil.which("promtool")


def samples(text):
    """{'name{labels}': value} of a text exposition."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


class Metrics(unittest.TestCase):
    def setUp(self):
        self.stack = h.Stack()
        self.port = self.stack.server.http_port

    def tearDown(self):
        self.stack.stop()

    @unittest.skipUnless(PROMTOOL, "promtool (Debian package prometheus) is not installed")
    def test_metrics_after_ingest_rejections_and_requests(self):
        lines = [h.location("m\"q", "phone", 1733000000 + i) for i in range(20)]
        lines += [{"topic": "owntracks/m/phone", "payload": '{"_type":"location","lat":91,'
                   '"lon":2,"tst":1733000100}'},
                  {"topic": "owntracks/m/phone", "payload": '{"_type":"location","lat":95,'
                   '"lon":2,"tst":1733000101}'},
                  {"topic": "owntracks/m/phone", "payload": "not json"}]
        h.publish(self.stack.broker.port, lines)
        h.sync(self.stack.broker.port, self.stack.storage)
        for path in ("/api/0/last", "/api/0/last", "/api/0/list", "/nope", "/index.html"):
            h.request(self.port, path)
        sse = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        sse.request("GET", "/api/0/stream")
        self.assertEqual(sse.getresponse().status, 200)

        r = h.request(self.port, "/metrics")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.header("Content-Type").startswith("text/plain; version=0.0.4"))
        lint = subprocess.run([PROMTOOL, "check", "metrics"], input=r.body,
                              capture_output=True, timeout=30)
        self.assertEqual(lint.returncode, 0, lint.stdout.decode() + lint.stderr.decode())
        m = samples(r.text)
        self.assertEqual(m['wherelog_messages_stored_total{type="location"}'], 21)  # + sentinel
        self.assertEqual(m['wherelog_messages_rejected_total{reason="lat N out of range"}'], 2)
        self.assertTrue(any(k.startswith("wherelog_messages_rejected_total{reason=\"not JSON")
                            for k in m), "a parse error is grouped by its reason")
        self.assertEqual(m['wherelog_device_points{user="m\\"q",device="phone"}'], 20,
                         "label values are escaped")
        self.assertGreaterEqual(
            m['wherelog_http_requests_total{route="/api/0/last",status="200"}'], 2)
        self.assertEqual(m['wherelog_http_requests_total{route="static",status="404"}'], 1)
        self.assertEqual(m["wherelog_live_clients"], 1)
        self.assertEqual(m["wherelog_mqtt_connected"], 1)
        self.assertGreater(m["wherelog_store_used_bytes"], 0)
        self.assertGreater(m["wherelog_commit_seconds_count"], 0)
        self.assertEqual(m['wherelog_commit_batch_records_bucket{le="+Inf"}'],
                         m["wherelog_commit_batch_records_count"])
        sse.close()

    def test_healthz_follows_the_broker(self):
        r = h.request(self.port, "/healthz")
        self.assertEqual((r.status, r.json()["status"]), (200, "ok"))
        contract.check("/healthz", "GET", r)
        self.stack.broker.stop()
        h.wait_for(lambda: h.request(self.port, "/healthz").status == 503, 15, "503")
        r = h.request(self.port, "/healthz")
        contract.check("/healthz", "GET", r)
        self.assertEqual(r.json(), {"status": "unhealthy", "store": "writable",
                                    "mqtt": "not connected"})
        self.stack.broker.start()
        h.wait_for(lambda: h.request(self.port, "/healthz").status == 200, 60, "200 again")


class Signed(unittest.TestCase):
    def test_metrics_need_sign_in_and_healthz_does_not(self):
        d = h.Workdir()
        pw = d.file("users")
        subprocess.run(["htpasswd", "-bBc", "-C", "5", pw, "ops", "pw"], check=True,
                       capture_output=True)
        stack = h.Stack(["--http-auth-file", pw])
        try:
            port = stack.server.http_port
            self.assertEqual(h.request(port, "/metrics").status, 401)
            self.assertEqual(h.request(port, "/metrics", auth=("ops", "pw")).status, 200)
            self.assertEqual(h.request(port, "/healthz").status, 200)
        finally:
            stack.stop()
            d.remove()


class Reload(unittest.TestCase):
    def test_sighup_rereads_the_config_file_without_dropping_streams(self):
        d = h.Workdir()
        conf = d.file("wherelog.conf")
        with open(conf, "w") as f:
            f.write("tile-url = https://tiles.example/{z}/{x}/{y}.png\nlog-level = info\n")
        stack = h.Stack(["--config", conf])
        try:
            port = stack.server.http_port
            sse = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            sse.request("GET", "/api/0/stream")
            stream = sse.getresponse()
            stream.fp.readline()  # retry: the stream is open
            with open(conf, "w") as f:
                f.write("tile-url = https://other.example/{z}/{x}/{y}.png\n"
                        "http-threads = 3\n")
            stack.server.proc.send_signal(signal.SIGHUP)
            h.wait_for(lambda: "reloaded" in stack.server.new_log(), 10, "the reload")
            log = stack.server.new_log()
            self.assertIn("http-threads changed; it takes effect at the next restart", log)
            cfg = h.request(port, "/api/0/config").json()
            self.assertEqual(cfg["tiles"]["url"], "https://other.example/{z}/{x}/{y}.png")
            h.publish(stack.broker.port, [h.location("r", "phone", 1733000000)])
            line = ""
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and '"username":"r"' not in line:
                line = stream.fp.readline().decode()
            self.assertIn('"username":"r"', line, "the stream opened before the reload goes on")
            # A broken file changes nothing.
            with open(conf, "w") as f:
                f.write("no-such-setting = 1\n")
            stack.server.proc.send_signal(signal.SIGHUP)
            h.wait_for(lambda: "keeping the current ones" in stack.server.new_log(), 10,
                       "the refusal")
            self.assertEqual(h.request(port, "/api/0/config").json()["tiles"]["url"],
                             "https://other.example/{z}/{x}/{y}.png")
            sse.close()
        finally:
            stack.stop()
            d.remove()


if __name__ == "__main__":
    unittest.main(verbosity=2)
