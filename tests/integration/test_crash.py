"""kill -9 in the middle of a QoS 1 stream: every message the broker let go of (because
wherelog acknowledged it) must be in the store, exactly once, after a restart. This is the
test of "acknowledge only after commit" (see src/mqtt.h)."""
import signal
import threading
import time
import unittest

import harness as h

TOTAL = 30000


class KillNine(unittest.TestCase):
    def setUp(self):
        # Many messages in flight at once, so a kill lands between receive and commit.
        self.stack = h.Stack(["--log-level", "info"], "max_inflight_messages 1000")
        self.storage, self.broker, self.server = (self.stack.storage, self.stack.broker,
                                                  self.stack.server)

    def tearDown(self):
        self.stack.stop()

    def stored(self):
        total = 0
        for user in h.cli(self.storage, "list").stdout.split():
            if user == h.SENTINEL_USER:
                continue
            for device in h.cli(self.storage, "list", "--user", user).stdout.split():
                points = h.export(self.storage, user, device)
                tsts = [p["tst"] for p in points]
                self.assertEqual(len(tsts), len(set(tsts)), "no duplicates")
                total += len(points)
        return total

    def test_nothing_acknowledged_is_lost(self):
        report = {}
        pub = threading.Thread(target=lambda: report.update(
            h.publish(self.broker.port, generate=TOTAL, extra=["--inflight", "1000"])))
        pub.start()
        h.wait_for(lambda: h.cli(self.storage, "list", check=False).stdout.strip(), 30,
                   "ingest to start")
        # Three kills while the stream runs; each lands between receive and commit with
        # high probability, since up to 1000 messages are in flight.
        stored_at_kill = []
        for delay in (0.05, 0.2, 0.1):
            time.sleep(delay)
            self.server.stop(signal.SIGKILL)
            stored_at_kill.append(self.stored())
            killed_at = time.monotonic()
            self.server.start()
        pub.join()
        self.assertEqual(report["published"], TOTAL)
        h.sync(self.broker.port, self.storage, timeout=120)
        recovered = time.monotonic() - killed_at
        after = self.stored()
        print("kill -9 three times with %s of %d stored; after restart %d stored; "
              "caught up %.2f s after the last kill" % (stored_at_kill, TOTAL, after, recovered))
        self.assertLess(stored_at_kill[0], TOTAL, "the kills landed mid-stream")
        self.assertEqual(after, TOTAL, "every published message stored exactly once")


if __name__ == "__main__":
    unittest.main(verbosity=2)
