"""The LMDB map at the edge of the address space (issue 16), reproduced with an address-space
limit (RLIMIT_AS, what `ulimit -v` sets) on `wherelog serve`:

- growing the map under the limit: the server used to crash once the system refused a larger
  map; now the map stops at what fits, ingest stops acknowledging (the broker keeps the
  messages), /healthz, /metrics and the log say so, and reads go on;
- reopening a store larger than half of what the process can map: it used to fail with
  "Cannot allocate memory" (twice the file was asked for); now it opens;
- when the limit goes, the broker's copies come in and nothing is lost.

AddressSanitizer reserves terabytes of address space for its shadow memory and cannot run
under such a limit: under `packaging/dev test --sanitize` this test is skipped (it runs in the
normal build, as CI does both).
"""
import json
import os
import re
import resource
import unittest

import harness as h

CARD_FACE = 512 << 10  # each card carries a 512 KiB face: 2 of them per MiB
MiB = 1 << 20
ROOM = 160 * MiB  # what the server may map beyond its own needs
ROUND = 40  # cards (20 MiB) published at a time


def built_with_asan():
    with open(h.WHERELOG, "rb") as f:
        return b"__asan_init" in f.read()


def vm_size(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"^VmSize:\s+(\d+) kB", f.read(), re.M).group(1)) << 10


def metric(port, name):
    text = h.request(port, "/metrics").text
    m = re.search(r"^%s (\S+)$" % name, text, re.M)
    return float(m.group(1)) if m else None


def card(i):
    payload = {"_type": "card", "name": "Device %d" % i, "face": "A" * CARD_FACE}
    return {"topic": "owntracks/jane/d%d" % i, "payload": json.dumps(payload)}


def cards_stored(storage):
    r = h.cli(storage, "list", "--user", "jane", check=False)
    return len(r.stdout.split()) if r.returncode == 0 else 0


def limit_address_space(limit):
    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return apply


@unittest.skipIf(built_with_asan(), "built with AddressSanitizer, which cannot run under an "
                 "address-space limit (RLIMIT_AS): this test runs in the normal build")
class MapFull(unittest.TestCase):
    def setUp(self):
        self.stack = h.Stack()

    def tearDown(self):
        self.stack.stop()

    def test_full_map_stops_acks_keeps_reads_reopens_and_loses_nothing(self):
        server, broker, storage = self.stack.server, self.stack.broker, self.stack.storage
        h.publish(broker.port, [h.location("dee", "phone", 1733000000 + i) for i in range(10)])
        h.sync(broker.port, storage)
        # What the server maps besides the store, measured without a limit.
        server.wait_http()
        h.request(server.http_port, "/healthz")
        other = vm_size(server.proc.pid) - int(metric(server.http_port,
                                                      "wherelog_store_map_bytes"))
        server.stop()

        limit = other + ROOM
        server.preexec_fn = limit_address_space(limit)
        server.start()
        server.wait_http()
        # Rounds of cards until the map is full, however much the server's other mappings
        # left it (malloc arenas come and go).
        total = 0
        while "map full" not in server.new_log():
            self.assertLess(total, 3 * ROOM // CARD_FACE, "the map fills within the limit")
            h.publish(broker.port, [card(total + i) for i in range(ROUND)],
                      extra=["--inflight", "20"])
            total += ROUND
            h.wait_for(lambda: "map full" in server.new_log() or server.proc.poll() is not None
                       or cards_stored(storage) == total, 180, "the round to be stored")
            self.assertIsNone(server.proc.poll(), "the server keeps running:\n" +
                              server.new_log()[-3000:])
        log = server.new_log()
        self.assertIn("cannot store received messages (map full)", log,
                      "the MQTT side says why it does not acknowledge")
        # "Map full" says what the last write found, and a later write that fits clears it:
        # a lone card (the tail of a burst, read as the connection went, or the first one
        # the broker sends again) may still fit where the batch did not. Each such card
        # takes room, and the cards not stored are more than the room left (the batch that
        # failed was), so the state settles at full: wait for /healthz and /metrics to say so.
        seen = []

        def reported_full():
            r = h.request(server.http_port, "/healthz")
            seen.append("%d %s" % (r.status, r.text.strip()))
            return (r.status == 503 and r.json()["store"].startswith("map full")
                    and metric(server.http_port, "wherelog_store_map_full") == 1)
        try:
            h.wait_for(reported_full, 180, "/healthz (503, map full) and /metrics to report it")
        except AssertionError as e:
            self.fail("%s; /healthz said last: %s; the log:\n%s"
                      % (e, seen[-3:], server.new_log()[-3000:]))
        map_max = metric(server.http_port, "wherelog_store_map_max_bytes")
        self.assertLess(map_max, limit, "the map stays within the limit")
        r = h.request(server.http_port, "/api/0/last?user=dee")
        self.assertEqual(r.status, 200, "reads go on while the map is full")
        self.assertEqual(r.json()[0]["tst"], 1733000009)
        stored_full = cards_stored(storage)
        self.assertGreater(stored_full, 0)
        self.assertLess(stored_full, total, "not everything fitted")
        file_bytes = os.path.getsize(os.path.join(storage, "data.mdb"))
        self.assertGreater(2 * file_bytes, ROOM, "twice the store does not fit in the room")

        # Reopening under the same limit: the store is over half of what the server can map.
        server.stop()
        server.start()
        server.wait_http()
        r = h.request(server.http_port, "/api/0/last?user=dee")
        self.assertEqual(r.status, 200, "the reopened store is read")
        self.assertGreaterEqual(cards_stored(storage), stored_full, "nothing lost by the restart")
        server.stop()

        # Without the limit, the broker's copies come in: every card is stored, once.
        server.preexec_fn = None
        server.start()
        h.sync(broker.port, storage, timeout=180)
        self.assertEqual(cards_stored(storage), total)
        self.assertEqual(metric(server.http_port, "wherelog_store_map_full"), 0)
        r = h.request(server.http_port, "/healthz")
        self.assertEqual(r.status, 200, r.text)
        server.stop()
        r = h.cli(storage, "check", check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        print("map full at %.0f MiB under a %.0f MiB limit with %d of %d cards stored: the "
              "server kept running and reading, reopened a %.0f MiB store under the same "
              "limit, and stored all %d once the limit went"
              % (map_max / MiB, limit / MiB, stored_full, total, file_bytes / MiB, total))


if __name__ == "__main__":
    unittest.main(verbosity=2)
