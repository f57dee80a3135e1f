"""Every fixture line published over a real broker to a real `wherelog serve`; what the
CLI shows afterwards must match each line's expected outcome."""
import json
import re
import unittest

import harness as h

SECRET = "mysecreTpass01"  # the fixture corpus assumes this key for jjolie/iphone


class FixturesOverMqtt(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # '#': the corpus also uses other roots ("otr/...", "/owntracks/...").
        cls.stack = h.Stack(["--topic", "#"], start_server=False)
        cls.storage, cls.broker, cls.server = (cls.stack.storage, cls.stack.broker,
                                               cls.stack.server)
        h.cli(cls.storage, "key", "set", "jjolie", "iphone", stdin=SECRET + "\n")
        cls.server.start()
        cls.rows = h.load_fixtures("valid.jsonl") + h.load_fixtures("invalid.jsonl")
        report = h.publish(cls.broker.port, [{"topic": r["topic"], **(
            {"payload_b64": r["payload_b64"]} if "payload_b64" in r else
            {"payload": r["payload"]})} for r in cls.rows])
        cls.refused = {x["line"] for x in report["refused"]}
        h.sync(cls.broker.port, cls.storage)

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()

    def expected_points(self):
        """(user, device, tst) -> the first stored location payload for it."""
        points = {}
        for row in self.rows:
            if row["expect"] != "stored":
                continue
            payload = json.loads(row["raw"])
            if payload["_type"] == "encrypted":
                payload = json.loads(h.decrypt(SECRET, payload["data"]))
            if payload["_type"] != "location":
                continue
            user, device = h.topic_owner(row["topic"])
            key = (user, device, int(float(payload["tst"])))
            points.setdefault(key, payload)
        return points

    def test_lines_the_client_cannot_publish_are_hostile_ones(self):
        for i in self.refused:
            row = self.rows[i - 1]
            self.assertEqual(row["expect"], "rejected", "line %d refused by the client library "
                             "but expected %s" % (i, row["expect"]))

    def test_every_good_point_is_stored_exactly_once_with_all_its_fields(self):
        expected = self.expected_points()
        devices = {(u, d) for (u, d, _) in expected}
        stored = 0
        for user, device in devices:
            got = h.export(self.storage, user, device)
            want = sorted(t for (u, d, t) in expected if (u, d) == (user, device))
            self.assertEqual([p["tst"] for p in got], want, "%s/%s" % (user, device))
            for point in got:
                original = expected[(user, device, point["tst"])]
                for key, value in original.items():
                    if key == "tst":
                        continue
                    self.assertIn(key, point, "%s/%s %d keeps %s" % (user, device,
                                                                    point["tst"], key))
                    if isinstance(value, float):
                        self.assertAlmostEqual(point[key], value, places=9)
                    else:
                        self.assertEqual(point[key], value)
            stored += len(got)
        self.assertEqual(stored, len(expected))

    def test_last_position_is_the_newest_point(self):
        expected = self.expected_points()
        last = json.loads(h.cli(self.storage, "last").stdout)
        by_device = {(o["username"], o["device"]): o for o in last}
        for (user, device) in {(u, d) for (u, d, _) in expected}:
            newest = max(t for (u, d, t) in expected if (u, d) == (user, device))
            self.assertEqual(by_device[(user, device)]["tst"], newest)
            self.assertIn("isotst", by_device[(user, device)])

    def test_each_rejection_is_logged_once_with_its_reason(self):
        log = self.server.log_text()
        delivered_rejections = [r for i, r in enumerate(self.rows, 1)
                                if r["expect"] == "rejected" and i not in self.refused]
        lines = [l for l in log.splitlines() if "rejected message topic=" in l]
        self.assertEqual(len(lines), len(delivered_rejections), "\n".join(lines))
        for line in lines:
            reason = re.search(r' reason="(.*)"$', line)
            self.assertTrue(reason and reason.group(1).strip(), line)
        for expect in ("lat 91 out of range", "NaN or Infinity is not JSON", "duplicate key", "not valid UTF-8",
                       "no encryption key configured for nokey/phone", "decryption failed",
                       "exceeds the 1 MiB limit", "nested deeper than 32"):
            self.assertIn(expect, log)

    def test_other_message_types_are_kept(self):
        log = self.server.log_text()
        for kind in ("transition", "waypoint", "waypoints", "card", "lwt", "status", "steps",
                     "cmd", "configuration", "beacon"):
            self.assertRegex(log, r"stored type=%s " % kind)

    def test_server_survived(self):
        self.assertIsNone(self.server.proc.poll())

    def test_list_shows_users_and_devices(self):
        points = self.expected_points()
        users = h.cli(self.storage, "list").stdout.split()
        for u in {u for (u, _, _) in points}:
            self.assertIn(u, users)
        for user in {u for (u, _, _) in points}:
            devices = h.cli(self.storage, "list", "--user", user).stdout.split()
            for device in {d for (u, d, _) in points if u == user}:
                self.assertIn(device, devices, user)


class TimesAcrossTheRange(unittest.TestCase):
    """A tst is a 64-bit integer on the way in and an unsigned 32-bit key in the store: times
    past 2038-01-19T03:14:07Z (2^31 - 1 s) are kept like any other, up to the documented
    limit 2099-12-31T23:59:59Z (src/wtime.h); a later one is refused with its reason."""

    def test_times_past_2038_are_kept_up_to_2099(self):
        stack = h.Stack()
        try:
            kept = {1: "1970-01-01T00:00:01Z", 2147483647: "2038-01-19T03:14:07Z",
                    2147483648: "2038-01-19T03:14:08Z", 4102444799: "2099-12-31T23:59:59Z"}
            h.publish(stack.broker.port, [h.location("edge", "phone", t)
                                          for t in list(kept) + [4102444800]])
            h.sync(stack.broker.port, stack.storage)
            got = h.export(stack.storage, "edge", "phone")
            self.assertEqual({p["tst"]: p["isotst"] for p in got}, kept)
            self.assertIn('reason="tst 4102444800 out of range"', stack.server.log_text())
            r = h.request(stack.server.http_port, "/api/0/locations?user=edge&device=phone"
                          "&from=2038-01-19T03:14:07Z&to=2099-12-31&fields=tst")
            self.assertEqual([p["tst"] for p in r.json()["data"]],
                             [2147483647, 2147483648, 4102444799])
        finally:
            stack.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
