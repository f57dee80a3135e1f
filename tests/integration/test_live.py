"""Live updates: a point published over MQTT reaches Server-Sent Events and WebSocket
clients, a reconnecting SSE client resumes from Last-Event-ID, and the Recorder's "LAST"
command answers with the last positions."""
import http.client
import json
import socket
import unittest

import websocket

import harness as h


class SseReader:
    """A minimal Server-Sent Events reader over http.client (the test's own client)."""

    def __init__(self, port, headers=None):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        self.conn.request("GET", "/api/0/stream", headers=headers or {})
        self.resp = self.conn.getresponse()

    def event(self):
        """The next event as (id, name, data); comments are skipped."""
        ev = {"id": None, "event": "message", "data": ""}
        while True:
            line = self.resp.fp.readline().decode()
            if line == "":
                raise EOFError
            line = line.rstrip("\n")
            if line == "":
                if ev["data"] or ev["event"] != "message":
                    return ev["id"], ev["event"], ev["data"]
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(": ")
            if field in ev:
                ev[field] = value

    def close(self):
        self.conn.close()


class Live(unittest.TestCase):
    def setUp(self):
        self.stack = h.Stack()
        self.port = self.stack.server.http_port

    def tearDown(self):
        self.stack.stop()

    def wait_clients(self, n):
        h.wait_for(lambda: h.live_streams(self.port) == n, 20, "%d live streams" % n)

    def publish(self, tst, user="jane", **fields):
        h.publish(self.stack.broker.port, [h.location(user, "phone", tst, **fields)])

    def test_sse_receives_points_published_over_mqtt(self):
        sse = SseReader(self.port)
        self.assertEqual(sse.resp.status, 200)
        self.assertEqual(sse.resp.getheader("Content-Type"), "text/event-stream; charset=utf-8")
        self.wait_clients(1)
        self.publish(1733000000, tid="JD", image="x" * 1000)
        eid, name, data = sse.event()
        self.assertEqual(name, "location")
        point = json.loads(data)
        self.assertEqual((point["username"], point["device"], point["tst"]),
                         ("jane", "phone", 1733000000))
        self.assertNotIn("image", point, "blobs stay out of live events")
        self.assertEqual(point["isotst"], "2024-11-30T20:53:20Z")
        # a duplicate is not news
        self.publish(1733000000, tid="JD")
        self.publish(1733000060, tid="JD")
        eid2, _, data = sse.event()
        self.assertEqual(json.loads(data)["tst"], 1733000060)
        self.assertEqual(int(eid2), int(eid) + 1)
        sse.close()

        # Reconnecting with Last-Event-ID: what was missed is sent first.
        self.publish(1733000120)
        self.publish(1733000180)
        again = SseReader(self.port, {"Last-Event-ID": eid2})
        got = [json.loads(again.event()[2])["tst"] for _ in range(2)]
        self.assertEqual(got, [1733000120, 1733000180])
        again.close()

        # After a restart, an id from the earlier run is recognised: the client is told to
        # reload rather than resumed at a random place, then gets what is new.
        self.stack.server.stop()
        self.stack.server.start()
        after = SseReader(self.port, {"Last-Event-ID": eid2})
        self.assertEqual(after.event()[1], "reset")
        self.wait_clients(1)
        self.publish(1733000240)
        eid3, name, data = after.event()
        self.assertEqual((name, json.loads(data)["tst"]), ("location", 1733000240))
        self.assertGreater(int(eid3), int(eid2), "ids keep growing across restarts")
        after.close()

    def test_websocket_last_and_push(self):
        self.publish(1733000000, tid="JD")
        self.publish(1733000000, user="bob", tid="BB")
        h.sync(self.stack.broker.port, self.stack.storage)
        ws = websocket.create_connection("ws://127.0.0.1:%d/ws/last" % self.port, timeout=10)
        ws.send("LAST")
        users = set()
        for _ in range(3):  # jane, bob and the sync sentinel
            obj = json.loads(ws.recv())
            self.assertEqual(obj["_type"], "location")
            users.add(obj["username"])
        self.assertEqual(users, {"jane", "bob", h.SENTINEL_USER})
        self.publish(1733000600, tid="JD")
        obj = json.loads(ws.recv())
        while obj["_type"] in ("timeline", "event"):  # what the point made (a stay began)
            obj = json.loads(ws.recv())
        self.assertEqual((obj["username"], obj["tst"]), ("jane", 1733000600))
        ws.close()

    def test_cards_are_pushed(self):
        sse = SseReader(self.port)
        ws = websocket.create_connection("ws://127.0.0.1:%d/ws/last" % self.port, timeout=10)
        self.wait_clients(2)
        card = {"_type": "card", "name": "Jane Doe", "tid": "JD", "face": "iVBORw0KGgo="}
        big = dict(card, name="Jane Big", face="A" * (500 << 10))
        h.publish(self.stack.broker.port, [
            {"topic": "owntracks/jane/phone/info", "payload": json.dumps(card)},
            {"topic": "owntracks/jane/phone/info", "payload": json.dumps(big)}])
        _, name, data = sse.event()
        self.assertEqual(name, "card")
        got = json.loads(data)
        self.assertEqual({k: got[k] for k in ("_type", "username", "device", "name", "tid")},
                         {"_type": "card", "username": "jane", "device": "phone",
                          "name": "Jane Doe", "tid": "JD"})
        self.assertIsInstance(got["tst"], int)
        self.assertNotIn("face", got, "faces stay out of events, whatever their size")
        _, name, data = sse.event()
        self.assertEqual((name, json.loads(data)["name"]), ("card", "Jane Big"))
        self.assertLess(len(data), 300)
        self.assertEqual(json.loads(ws.recv())["name"], "Jane Doe", "the WebSocket gets it too")
        self.assertEqual(json.loads(ws.recv())["_type"], "card")
        sse.close()
        ws.close()

    def test_websocket_handshake_is_checked(self):
        r = h.request(self.port, "/ws/last")
        self.assertEqual(r.status, 400)
        r = h.request(self.port, "/ws/last", headers={
            "Upgrade": "websocket", "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "8"})
        self.assertEqual(r.status, 426)
        self.assertEqual(r.header("sec-websocket-version"), "13")

    def test_many_clients_and_disconnects(self):
        clients = [SseReader(self.port) for _ in range(20)]
        sockets = [websocket.create_connection("ws://127.0.0.1:%d/ws/last" % self.port)
                   for _ in range(10)]
        self.wait_clients(30)
        for s in sockets[:5]:  # some vanish without a goodbye
            s.sock.shutdown(socket.SHUT_RDWR)
            s.sock.close()
        for c in clients[:10]:
            c.close()
        self.publish(1733000000)  # the server may not have noticed the closes yet
        for c in clients[10:]:
            self.assertEqual(json.loads(c.event()[2])["tst"], 1733000000)
        for s in sockets[5:]:
            self.assertEqual(json.loads(s.recv())["tst"], 1733000000)
        self.assertEqual(h.request(self.port, "/api/0/version").status, 200)
        for c in clients[10:]:
            c.close()
        for s in sockets[5:]:
            s.close()
        self.assertEqual(self.stack.server.stop(), 0, "clean exit with live clients around")


if __name__ == "__main__":
    unittest.main(verbosity=2)
