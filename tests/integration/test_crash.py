"""kill -9 in the middle of a QoS 1 stream: every message the broker let go of (because
wherelog acknowledged it) must be in the store, exactly once, after a restart, and the store
must check clean. This is the test of "acknowledge only after commit" (see src/mqtt.h). The
second test kills wherelog while it streams a large export as well."""
import http.client
import json
import signal
import subprocess
import threading
import time
import unittest

import harness as h

TOTAL = 100000


class KillNine(unittest.TestCase):
    def setUp(self):
        # Many messages in flight at once, so a kill likely lands between receive and commit.
        self.stack = h.Stack(["--log-level", "info"], "max_inflight_messages 1000")
        self.storage, self.broker, self.server = (self.stack.storage, self.stack.broker,
                                                  self.stack.server)

    def tearDown(self):
        self.stack.stop()

    def stored(self, skip=()):
        """Points per device, checking that no tst is there twice."""
        total = 0
        for user in h.cli(self.storage, "list").stdout.split():
            if user == h.SENTINEL_USER or user in skip:
                continue
            for device in h.cli(self.storage, "list", "--user", user).stdout.split():
                r = h.cli(self.storage, "export", "--user", user, "--device", device,
                          "--format", "csv", "--fields", "tst")
                tsts = r.stdout.split()[1:]
                self.assertEqual(len(tsts), len(set(tsts)), "no duplicates")
                total += len(tsts)
        return total

    def stream(self, total):
        report = {}
        pub = threading.Thread(target=lambda: report.update(
            h.publish(self.broker.port, generate=total, extra=["--inflight", "1000"])))
        pub.start()
        return pub, report

    def finish(self, pub, report, total, killed_at, skip=()):
        """pub: the publishing thread to wait for, or None when it has finished."""
        if pub:
            pub.join()
        self.assertEqual(report["published"], total)
        h.sync(self.broker.port, self.storage, timeout=180)
        caught_up = time.monotonic() - killed_at
        after = self.stored(skip)
        self.assertEqual(after, total, "every published message stored exactly once")
        self.server.stop()
        r = h.cli(self.storage, "check", check=False)
        self.assertEqual(r.returncode, 0, "the store checks clean: " + r.stdout + r.stderr)
        # The timeline is kept in the transactions that store the points: whatever the kills
        # interrupted, it is what a rebuild from the points gives.
        kept = self.timelines(skip)
        self.assertTrue(kept, "there are timelines to compare")
        h.cli(self.storage, "timeline", "rebuild")
        self.assertEqual(kept, self.timelines(skip), "the kept timelines are a rebuild's")
        return after, caught_up

    def timelines(self, skip=()):
        out = {}
        for user in h.cli(self.storage, "list").stdout.split():
            if user in skip or user == h.SENTINEL_USER:
                continue
            for device in h.cli(self.storage, "list", "--user", user).stdout.split():
                r = h.cli(self.storage, "timeline", "--user", user, "--device", device,
                          "--from", "2000-01-01", "--to", "2099-12-31", "--format", "json")
                out[user + "/" + device] = json.loads(r.stdout)["segments"]
        return out

    def test_nothing_acknowledged_is_lost(self):
        # wherelog takes the stream through a relay that passes a fifth of it at a time, so
        # each kill lands mid-stream on any machine; up to 1000 messages in flight make it
        # likely to land between receive and commit as well.
        relay = h.HeldRelay(self.broker.port)
        try:
            self.server.stop()
            self.server.broker_port = relay.port
            self.server.start()
            relay.hold()
            report = h.publish(self.broker.port, generate=TOTAL, extra=["--inflight", "1000"])
            self.assertEqual(report["acked"], TOTAL, "the broker has the whole stream")
            stored_at_kill = [0]
            for _ in range(3):
                relay.allow(report["bytes"] // 5)
                h.wait_for(lambda: self.stored() > stored_at_kill[-1], 60,
                           "wherelog to store more of the stream")
                self.server.stop(signal.SIGKILL)
                stored_at_kill.append(self.stored())
                killed_at = time.monotonic()
                # Not waiting for the subscription: its acknowledgement queues behind the
                # held stream.
                self.server.start(wait_subscribed=False)
            stored_at_kill.pop(0)
            self.assertLess(stored_at_kill[-1], TOTAL, "the kills landed mid-stream")
            relay.release()
            after, caught_up = self.finish(None, report, TOTAL, killed_at)
        finally:
            relay.close()
        print("kill -9 x3 during a %d-message QoS 1 stream: %s stored at the kills; after "
              "restart %d stored, 0 lost, 0 duplicated; caught up %.2f s after the last kill"
              % (TOTAL, stored_at_kill, after, caught_up))

    def test_kill_during_a_large_export(self):
        self.server.stop()
        big = 300000
        subprocess.run([h.WL_FILL, self.storage, "big", "phone", str(big)], check=True,
                       capture_output=True)
        self.server.start()
        got = {"bytes": 0}
        started = threading.Event()

        def download():
            conn = http.client.HTTPConnection("127.0.0.1", self.server.http_port, timeout=30)
            try:
                conn.request("GET", "/api/0/locations?user=big&device=phone&format=gpx"
                                    "&from=2024-01-01")
                r = conn.getresponse()
                while True:
                    chunk = r.read(65536)
                    if not chunk:
                        break
                    got["bytes"] += len(chunk)
                    if got["bytes"] > (2 << 20):  # well into the track
                        started.set()
            except (OSError, http.client.HTTPException):
                pass  # the server died under it: expected
            finally:
                started.set()
                conn.close()

        total = 20000
        pub, report = self.stream(total)
        dl = threading.Thread(target=download)
        dl.start()
        self.assertTrue(started.wait(30))
        self.server.stop(signal.SIGKILL)
        self.assertGreater(got["bytes"], 2 << 20, "killed in the middle of the download")
        killed_at = time.monotonic()
        dl.join(30)
        self.server.start()
        after, caught_up = self.finish(pub, report, total, killed_at, skip=("big",))
        r = h.cli(self.storage, "export", "--user", "big", "--device", "phone", "--format",
                  "csv", "--fields", "tst")
        self.assertEqual(len(r.stdout.split()) - 1, big, "the exported track is intact")
        print("kill -9 after %d bytes of a %d-point GPX download during a %d-message stream: "
              "%d stored exactly once, store checks clean, caught up in %.2f s" %
              (got["bytes"], big, total, after, caught_up))


if __name__ == "__main__":
    unittest.main(verbosity=2)
