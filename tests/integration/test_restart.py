"""Persistence across restarts: points published while wherelog is down arrive when it
comes back (persistent session, stable client id), exactly once."""
import json
import signal
import unittest

import harness as h


class Restart(unittest.TestCase):
    def setUp(self):
        self.stack = h.Stack()
        self.storage, self.broker, self.server = (self.stack.storage, self.stack.broker,
                                                  self.stack.server)

    def tearDown(self):
        self.stack.stop()

    def count(self, user, device):
        r = h.cli(self.storage, "export", "--user", user, "--device", device, check=False)
        return len(json.loads(r.stdout)) if r.returncode == 0 else 0

    def test_points_published_while_down_arrive_exactly_once(self):
        self.assertEqual(self.server.stop(), 0, "SIGTERM is a clean exit")
        batch = [h.location("walker", "phone", 1733000000 + i * 60, lat=48 + i / 1000)
                 for i in range(100)]
        h.publish(self.broker.port, batch)
        self.server.start()
        h.sync(self.broker.port, self.storage)
        self.assertEqual(self.count("walker", "phone"), 100)
        self.assertIn("session resumed", self.server.new_log())

        # Everything again (a phone's retry queue, a replay): nothing new.
        h.publish(self.broker.port, batch)
        h.sync(self.broker.port, self.storage)
        self.assertEqual(self.count("walker", "phone"), 100)

    def test_retained_messages_are_stored_once_across_restarts(self):
        h.publish(self.broker.port, [h.location("ret", "phone", 1733000000)], retain=True)
        h.sync(self.broker.port, self.storage)
        for _ in range(2):
            self.server.stop()
            self.server.start()
            h.sync(self.broker.port, self.storage)
        self.assertEqual(self.count("ret", "phone"), 1)

    def test_sigint_also_stops_cleanly(self):
        self.assertEqual(self.server.stop(signal.SIGINT), 0)
        self.assertIn("stopped; store closed", self.server.log_text())

    def test_waits_for_a_broker_that_is_not_there_yet(self):
        self.server.stop()
        self.broker.stop()
        self.server.start(wait_subscribed=False)
        h.wait_for(lambda: "cannot connect" in self.server.new_log(), 10, "a retry message")
        self.broker.start()
        h.wait_for(lambda: "subscribed to" in self.server.new_log(), 30, "reconnection")
        h.publish(self.broker.port, [h.location("late", "phone", 1733000000)])
        h.sync(self.broker.port, self.storage)
        self.assertEqual(self.count("late", "phone"), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
