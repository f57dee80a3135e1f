"""HTTP mode: every fixture line POSTed to /pub as the OwnTracks apps do, with its expected
outcome; the reply an app gets (friends' cards and locations, encrypted when it has a key)."""
import base64
import json
import unittest

import harness as h

SECRET = "mysecreTpass01"
SUBTOPICS = {"", "event", "info", "waypoint", "waypoints", "cmd", "step", "beacon", "dump",
             "status", "request"}


def topic_is_the_subject(topic):
    """Lines testing the topic itself have no HTTP equivalent (fixtures README)."""
    t = topic[1:] if topic.startswith("/") else topic
    levels = t.split("/")
    if len(levels) < 3 or any(lv == "" for lv in levels) or "+" in topic or "#" in topic:
        return True
    for name in levels[1:3]:
        if name in (".", "..") or "\\" in name or len(name.encode()) > 64 or \
                any(ord(c) < 0x20 or ord(c) == 0x7f for c in name):
            return True
    return "/".join(levels[3:]) not in SUBTOPICS


def too_large(port, user, device, size):
    """Announces a body over the limit and reads the answer without sending it: the server
    answers at once and closes, so a client that insists on sending gets a broken pipe."""
    import socket
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(("POST /pub HTTP/1.1\r\nHost: x\r\nX-Limit-U: %s\r\nX-Limit-D: %s\r\n"
               "Content-Length: %d\r\n\r\n" % (user, device, size)).encode())
    out = s.recv(4096)
    s.close()
    return out


class HttpMode(unittest.TestCase):
    def setUp(self):
        self.stack = h.Stack(start_server=False)
        h.cli(self.stack.storage, "key", "set", "jjolie", "iphone", stdin=SECRET + "\n")
        self.stack.server.start()
        self.port = self.stack.server.http_port

    def tearDown(self):
        self.stack.stop()

    def post(self, user, device, payload, headers=None):
        hdrs = {"Content-Type": "application/json", "X-Limit-U": user, "X-Limit-D": device}
        hdrs.update(headers or {})
        return h.request(self.port, "/pub", method="POST", body=payload, headers=hdrs)

    def test_every_fixture_line(self):
        expected = {}
        for name in ("valid.jsonl", "invalid.jsonl"):
            for row in h.load_fixtures(name):
                if topic_is_the_subject(row["topic"]):
                    continue
                user, device = h.topic_owner(row["topic"])
                if len(row["raw"]) > 1 << 20:
                    out = too_large(self.port, user, device, len(row["raw"]))
                    self.assertIn(b" 413 ", out.split(b"\r\n")[0], row["note"])
                    continue
                r = self.post(user, device, row["raw"])
                where = "%s:%d %s: %s" % (name, row["line"], row["note"], r.body[:200])
                # 200 even when refused: the apps would retry a refused message ahead of
                # everything sent after it; the reason is in a header and in the log. But a
                # message that a key set later would let in is kept by the app: 503.
                if r.status == 503:
                    self.assertEqual(row["expect"], "rejected", where)
                    self.assertTrue(r.header("X-Wherelog-Rejected").startswith(
                        "no encryption key configured"), where)
                    continue
                self.assertEqual(r.status, 200, where)
                reply = r.json()
                if isinstance(reply, dict):  # the device has a key: the reply is encrypted
                    reply = json.loads(h.decrypt(SECRET, reply["data"]))
                self.assertIsInstance(reply, list, where)
                rejected = r.header("X-Wherelog-Rejected")
                if row["expect"] == "rejected":
                    self.assertTrue(rejected, where)
                    self.assertTrue(all(0x20 <= ord(c) < 0x7f for c in rejected), rejected)
                else:
                    self.assertIsNone(rejected, where)
                if row["expect"] != "stored":
                    continue
                payload = json.loads(row["raw"])
                if payload["_type"] == "encrypted":
                    payload = json.loads(h.decrypt(SECRET, payload["data"]))
                if payload["_type"] == "location":
                    expected.setdefault((user, device), set()).add(int(float(payload["tst"])))
        for (user, device), tsts in expected.items():
            r = h.request(self.port, "/api/0/locations?user=%s&device=%s&from=0" % (user, device))
            got = r.json()["data"]
            self.assertEqual(sorted(p["tst"] for p in got), sorted(tsts), (user, device))
            self.assertTrue(all(p["_http"] is True for p in got), "marked as HTTP")

    def test_reply_lists_friends_with_cards(self):
        p = lambda tst: json.dumps({"_type": "location", "lat": 52.5, "lon": 13.4, "tst": tst,
                                    "vel": 3})
        self.assertEqual(self.post("ann", "phone", p(1733000000)).json(), [],
                         "nobody else yet (a device does not see itself)")
        self.post("ben", "phone", p(1733000100))
        self.post("ben", "phone", json.dumps({"_type": "card", "name": "Ben", "face": "QUJD"}))
        reply = self.post("ann", "phone", p(1733000200)).json()
        by_type = {}
        for obj in reply:
            by_type.setdefault((obj["_type"], obj["tid"]), obj)
        card = by_type[("card", "ne")]  # ben's phone: tid from the device name's end
        self.assertEqual((card["name"], card["face"]), ("Ben", "QUJD"))
        loc = by_type[("location", "ne")]
        self.assertEqual((loc["lat"], loc["lon"], loc["tst"], loc["vel"]), (52.5, 13.4,
                                                                            1733000100, 3))
        self.assertEqual(loc["topic"], "owntracks/ben/phone")

    def test_encrypted_reply_for_a_device_with_a_key(self):
        body = json.dumps({"_type": "location", "lat": 1, "lon": 2, "tst": 1733000300})
        r = self.post("jjolie", "iphone", body)
        reply = r.json()
        self.assertEqual(reply["_type"], "encrypted")
        plain = h.decrypt(SECRET, reply["data"])
        self.assertIsInstance(json.loads(plain), list)

    def test_encrypted_message_before_its_key_is_set_is_kept_by_the_app(self):
        body = json.dumps({"_type": "encrypted", "data": h.encrypt(
            "late key", json.dumps({"_type": "location", "lat": 1, "lon": 2,
                                    "tst": 1733000500}).encode())})
        r = self.post("kim", "phone", body)
        self.assertEqual(r.status, 503, "the app keeps it and posts it again")
        self.assertEqual(r.header("Retry-After"), "60")
        self.assertIn("no encryption key configured for kim/phone", r.json()["error"])
        h.cli(self.stack.storage, "key", "set", "kim", "phone", stdin="late key\n")
        r = self.post("kim", "phone", body)
        self.assertEqual(r.status, 200)
        self.assertIsNone(r.header("X-Wherelog-Rejected"))
        r = h.request(self.port, "/api/0/locations?user=kim&device=phone&from=0")
        self.assertEqual([p["tst"] for p in r.json()["data"]], [1733000500])
        # the reason names a user beyond ASCII: the header carries it as printable ASCII
        r = h.request(self.port, "/pub?u=j%C3%B6rg&d=phone", method="POST", body=body)
        self.assertEqual(r.status, 503)
        self.assertIn("for jörg/phone", r.json()["error"])
        self.assertEqual(r.header("X-Wherelog-Rejected"),
                         "no encryption key configured for j??rg/phone")

    def test_raw_control_characters_in_strings_are_refused_with_the_reason(self):
        raw = b'{"_type":"location","lat":1,"lon":2,"tst":1733000600,"desc":"a\tb"}'
        r = self.post("eve", "phone", raw)
        self.assertEqual(r.status, 200, "refused for good: the app must not send it again")
        self.assertEqual(r.header("X-Wherelog-Rejected"),
                         "control character 0x09 in a string (JSON needs it escaped)")
        inner = json.dumps({"_type": "location", "lat": 1, "lon": 2, "tst": 1733000600,
                            "desc": "x"}).replace('"x"', '"\x01"').encode()
        r = self.post("jjolie", "iphone", json.dumps(
            {"_type": "encrypted", "data": h.encrypt(SECRET, inner)}))
        self.assertEqual(r.header("X-Wherelog-Rejected"),
                         "control character 0x01 in a string (JSON needs it escaped)",
                         "inside an encrypted message too")
        r = self.post("eve", "phone", raw.replace(b"\t", b"\\t"))
        self.assertEqual((r.status, r.header("X-Wherelog-Rejected")), (200, None))
        r = h.request(self.port, "/api/0/locations?user=eve&device=phone&from=0")
        self.assertEqual([p["desc"] for p in r.json()["data"]], ["a\tb"], "escaped, it is text")
        self.assertIn("control character 0x09", self.stack.server.log_text())

    def test_identity_defaults_and_errors(self):
        body = json.dumps({"_type": "location", "lat": 1, "lon": 2, "tst": 1733000400})
        r = h.request(self.port, "/pub", method="POST", body=body)
        self.assertEqual(r.status, 200)
        r = h.request(self.port, "/api/0/locations?user=owntracks&device=phone&from=0")
        self.assertEqual(r.json()["count"], 1, "the Recorder's default owntracks/phone")
        r = h.request(self.port, "/pub?u=Carol&d=Watch", method="POST", body=body)
        self.assertEqual(r.status, 200)
        r = h.request(self.port, "/api/0/locations?user=carol&device=watch&from=0")
        self.assertEqual(r.json()["count"], 1, "u and d query parameters, lowercased")
        r = self.post("bad/name", "phone", body)
        self.assertEqual(r.status, 400)
        r = h.request(self.port, "/pub", method="POST", body=b"",
                      headers={"X-Limit-U": "dan", "X-Limit-D": "phone"})
        self.assertEqual(r.status, 200, "an empty body is ignored")
        self.assertIsInstance(r.json(), list)
        self.assertEqual(h.request(self.port, "/api/0/list?user=dan").json()["results"], [])
        # a form-like body never chooses the user (an OwnTracks Recorder bug)
        r = h.request(self.port, "/pub", method="POST", body=b"u=evil&d=x",
                      headers={"Content-Type": "application/x-www-form-urlencoded",
                               "X-Limit-U": "dan", "X-Limit-D": "phone"})
        self.assertEqual(r.status, 200)
        self.assertTrue(r.header("X-Wherelog-Rejected").startswith("not JSON"))
        self.assertEqual(h.request(self.port, "/api/0/list?user=evil").json()["results"], [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
