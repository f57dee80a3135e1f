"""Faults around wherelog: the broker restarting under it (also with wherelog's clock stepped
back meanwhile), SIGTERM in the middle of a stream, and the disk filling up (a small tmpfs
made by the test; needs root, otherwise skipped with the reason). Each time: HTTP keeps
serving, nothing the broker kept is lost, nothing is stored twice, and the store checks
clean."""
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


class ClockStep(unittest.TestCase):
    def test_a_clock_stepped_back_does_not_delay_reconnecting(self):
        """A board without a real-time clock may step its clock back (NTP correcting a time
        restored at boot); wherelog's back-off must not wait for the clock to catch up."""
        lib = h.faketime_lib()
        if not lib:
            self.skipTest("stepping wherelog's clock needs libfaketime (package faketime)")
        stack = h.Stack(start_server=False)
        try:
            clock = stack.dir.file("clock")  # libfaketime reads the offset from it each time
            with open(clock, "w") as f:
                f.write("%+d" % h.CLOCK_OFFSET)
            env = {k: v for k, v in os.environ.items() if k != "FAKETIME"}
            h.preload_faketime(env, lib)
            env.update(FAKETIME_TIMESTAMP_FILE=clock, FAKETIME_NO_CACHE="1",
                       FAKETIME_DONT_FAKE_MONOTONIC="1")
            stack.server.env = env
            stack.server.start()
            stack.broker.stop()
            h.wait_for(lambda: "retrying in" in stack.server.new_log(), 30,
                       "wherelog to back off")
            with open(clock, "w") as f:
                f.write("%+d" % (h.CLOCK_OFFSET - 3600))
            stack.broker.start()
            h.wait_for(lambda: stack.server.new_log().count("subscribed to") >= 2, 120,
                       "wherelog to reconnect (its back-off is at most 60 s)")
        finally:
            stack.stop()


class Sigterm(unittest.TestCase):
    def test_sigterm_mid_stream_stops_cleanly_and_loses_nothing(self):
        stack = h.Stack(["--log-level", "info"], "max_inflight_messages 1000",
                        start_server=False)
        relay = h.HeldRelay(stack.broker.port)
        try:
            stack.server.broker_port = relay.port
            stack.server.start()
            relay.hold()
            total = 20000
            report = h.publish(stack.broker.port, generate=total, extra=["--inflight", "1000"])
            self.assertEqual(report["acked"], total, "the broker has the whole stream")
            # Half the payload bytes: fewer than half the messages, whatever MQTT adds.
            relay.allow(report["bytes"] // 2)
            h.wait_for(lambda: count(stack.storage) > 0, 60, "wherelog to store some")
            t0 = time.monotonic()
            rc = stack.server.stop(signal.SIGTERM)
            took = time.monotonic() - t0
            self.assertEqual(rc, 0)
            self.assertIn("stopped; store closed", stack.server.log_text())
            stored_at_stop = count(stack.storage)
            self.assertTrue(0 < stored_at_stop < total,
                            "the signal came mid-stream (%d of %d stored)"
                            % (stored_at_stop, total))
            # What wherelog did not acknowledge, the broker delivers after the restart.
            relay.close()
            stack.server.broker_port = stack.broker.port
            stack.server.start()
            h.sync(stack.broker.port, stack.storage, timeout=120)
            self.assertEqual(count(stack.storage), total)
            print("SIGTERM after %d of a %d-message stream were stored (the rest held in the "
                  "broker): exited 0 in %.2f s; after restart all %d stored exactly once"
                  % (stored_at_stop, total, took, total))
        finally:
            relay.close()
            stack.stop()


@unittest.skipUnless(os.geteuid() == 0, "mounting a small tmpfs needs root")
class DiskFull(unittest.TestCase):
    def setUp(self):
        self.dir = h.Workdir()
        self.mnt = self.dir.file("small")
        os.makedirs(self.mnt)
        # Room for the 20000-message stream below once the filler is gone: its points, timeline
        # and derived events (wl-pub's jittery walks make a stay or trip event every few
        # fixes: about 7.5 MB in all).
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=10m", "tmpfs", self.mnt], check=True)
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
