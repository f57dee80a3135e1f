"""Faults around wherelog: the broker restarting under it, SIGTERM during heavy ingest, and
the disk filling up (a small tmpfs made by the test; needs root, otherwise skipped with the
reason). Each time: HTTP keeps serving, nothing the broker kept is lost, nothing is stored
twice, and the store checks clean."""
import os
import signal
import subprocess
import threading
import time
import unittest

import harness as h


def count(storage, skip=(h.SENTINEL_USER,)):
    """Stored points, asserting that none is there twice."""
    total = 0
    for user in h.cli(storage, "list").stdout.split():
        if user in skip:
            continue
        for device in h.cli(storage, "list", "--user", user).stdout.split():
            r = h.cli(storage, "export", "--user", user, "--device", device, "--format", "csv",
                      "--fields", "tst")
            tsts = r.stdout.split()[1:]
            assert len(tsts) == len(set(tsts)), "a point stored twice"
            total += len(tsts)
    return total


class BrokerRestart(unittest.TestCase):
    def setUp(self):
        self.stack = h.Stack(persistent_broker=True)
        self.server, self.broker = self.stack.server, self.stack.broker

    def tearDown(self):
        self.stack.stop()

    def test_http_serves_while_the_broker_is_away_and_nothing_it_kept_is_lost(self):
        h.publish(self.broker.port, [h.location("ann", "phone", 1733000000 + i)
                                      for i in range(100)])
        h.sync(self.broker.port, self.stack.storage)
        self.broker.stop()
        h.wait_for(lambda: "connection lost" in self.server.new_log() or
                   "cannot connect" in self.server.new_log(), 10, "wherelog to notice")
        r = h.request(self.server.http_port, "/api/0/last?user=ann")
        self.assertEqual(r.status, 200, "HTTP serves while the broker is away")
        self.assertEqual(r.json()[0]["tst"], 1733000099)
        # The broker comes back with wherelog's persistent session: what is published before
        # wherelog reconnects (it is backing off) waits there for it.
        self.broker.start()
        h.publish(self.broker.port, [h.location("ann", "phone", 1733001000 + i)
                                      for i in range(1000)])
        h.wait_for(lambda: self.server.new_log().count("subscribed to") >= 2, 60,
                   "wherelog to reconnect")
        h.sync(self.broker.port, self.stack.storage)
        self.assertEqual(count(self.stack.storage), 1100)
        log = self.server.new_log()
        self.assertIn("retrying in", log, "reconnects with back-off")


class Sigterm(unittest.TestCase):
    def test_sigterm_during_heavy_ingest_stops_quickly_and_loses_nothing(self):
        stack = h.Stack(["--log-level", "info"], "max_inflight_messages 1000")
        try:
            total = 50000
            report = {}
            pub = threading.Thread(target=lambda: report.update(
                h.publish(stack.broker.port, generate=total, extra=["--inflight", "1000"])))
            pub.start()
            h.wait_for(lambda: "stored" in h.cli(stack.storage, "stats", check=False).stdout
                       or h.cli(stack.storage, "list", check=False).stdout.strip(), 30,
                       "ingest to start")
            time.sleep(0.5)
            t0 = time.monotonic()
            rc = stack.server.stop(signal.SIGTERM)
            took = time.monotonic() - t0
            self.assertEqual(rc, 0)
            self.assertIn("stopped; store closed", stack.server.log_text())
            stored_at_stop = count(stack.storage)
            stack.server.start()
            pub.join()
            h.sync(stack.broker.port, stack.storage, timeout=120)
            self.assertEqual(count(stack.storage), total)
            print("SIGTERM during a %d-message stream with %d stored: exited 0 in %.2f s; after "
                  "restart all %d stored exactly once" % (total, stored_at_stop, took, total))
            self.assertLess(took, 5.0, "a clean stop within a few seconds")
        finally:
            stack.stop()


@unittest.skipUnless(os.geteuid() == 0, "mounting a small tmpfs needs root")
class DiskFull(unittest.TestCase):
    def setUp(self):
        self.dir = h.Workdir()
        self.mnt = self.dir.file("small")
        os.makedirs(self.mnt)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", self.mnt], check=True)
        self.storage = os.path.join(self.mnt, "store")
        self.filler = os.path.join(self.mnt, "filler")

    def tearDown(self):
        try:
            if hasattr(self, "stack"):
                self.stack.stop()
        finally:
            subprocess.run(["umount", "-l", self.mnt], check=False)
            self.dir.remove()

    def free_bytes(self):
        st = os.statvfs(self.mnt)
        return st.f_bavail * st.f_frsize

    def test_disk_full_stops_acks_keeps_reads_and_resumes(self):
        self.stack = h.Stack(storage=self.storage)
        server, broker = self.stack.server, self.stack.broker
        h.publish(broker.port, [h.location("dee", "phone", 1733000000 + i) for i in range(10)])
        h.sync(broker.port, self.storage)
        # Leave room for a little more, then fill the rest.
        with open(self.filler, "wb") as f:
            try:
                f.write(b"\0" * max(self.free_bytes() - (256 << 10), 0))
            except OSError:
                pass
        total = 20000
        report = h.publish(broker.port, generate=total, extra=["--inflight", "100"])
        self.assertEqual(report["published"], total)
        h.wait_for(lambda: "disk full" in server.new_log(), 60, "wherelog to hit the full disk")
        r = h.request(server.http_port, "/api/0/last?user=dee")
        self.assertEqual(r.status, 200, "reads go on while the disk is full")
        self.assertEqual(r.json()[0]["tst"], 1733000009)
        self.assertIsNone(server.proc.poll(), "still running")
        # Space returns: wherelog's reconnect back-off brings the broker's copies in.
        os.unlink(self.filler)
        h.sync(broker.port, self.storage, timeout=120)
        self.assertEqual(count(self.storage, skip=(h.SENTINEL_USER, "dee")), total)
        server.stop()
        r = h.cli(self.storage, "check", check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        print("disk full during a %d-message stream: logged, reads served, nothing "
              "acknowledged was dropped; after freeing space all %d stored once, check clean"
              % (total, total))


if __name__ == "__main__":
    unittest.main(verbosity=2)
