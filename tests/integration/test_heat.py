"""The heat counts kept in the store (store.h, "heat"), through a real server, broker and CLI:
points published out of order and twice, a Recorder import beside the server, a deletion across
midnight and hidden points from the command line, a restart; after each, /api/0/heat for whole
days and for ranges that cut days is the count of the visible points, computed here."""
import json
import os
import random
import time
import unittest
import urllib.parse

import contract
import harness as h
from test_summary import cell

DAY = 1714694400  # 2024-05-03T00:00:00Z; the tests' server zone is UTC
DAYS = 4


def walk(seed, start, n):
    """n fixes of a walk around Paris from start, 1..400 s apart, now and then a jump."""
    rnd = random.Random(seed)
    lat, lon, t, out = 48.85, 2.35, start, []
    for _ in range(n):
        if rnd.random() < 0.02:
            lat += rnd.uniform(-0.02, 0.02)
            lon += rnd.uniform(-0.02, 0.02)
        elif rnd.random() < 0.8:
            lat += rnd.uniform(-1e-4, 1e-4)
            lon += rnd.uniform(-1e-4, 1e-4)
        t += rnd.randint(1, 400)
        out.append({"_type": "location", "lat": round(lat, 7), "lon": round(lon, 7), "tst": t})
    return out


def query(**params):
    return urllib.parse.urlencode(params)


class HeatKept(unittest.TestCase):
    def setUp(self):
        self.stack = h.Stack()
        self.port = self.stack.server.http_port
        self.storage = self.stack.storage
        self.points = {}  # device -> {tst: message}, the first stored for a tst
        self.hidden = set()  # (device, tst)

    def tearDown(self):
        self.stack.stop()

    def publish(self, device, msgs):
        h.publish(self.stack.broker.port, [
            {"topic": "owntracks/jane/" + device, "payload": json.dumps(m)} for m in msgs])
        h.sync(self.stack.broker.port, self.storage)
        for m in msgs:
            self.points.setdefault(device, {}).setdefault(m["tst"], m)

    def import_recorder(self, device, msgs):
        d = os.path.join(self.stack.dir.file("rec"), "rec", "jane", device)
        os.makedirs(d)
        with open(os.path.join(d, "2024-05.rec"), "w") as f:
            for m in msgs:
                stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(m["tst"]))
                f.write("%s\t*                 \t%s\n" % (stamp, json.dumps(m)))
        h.cli(self.storage, "import", "recorder", self.stack.dir.file("rec"), "--no-progress")
        for m in msgs:
            self.points.setdefault(device, {}).setdefault(m["tst"], m)

    def want(self, zoom, t0, t1):
        counts = {}
        for device, pts in self.points.items():
            for tst, m in pts.items():
                if t0 <= tst <= t1 and (device, tst) not in self.hidden:
                    c = cell(m["lat"], m["lon"], zoom)
                    counts[c] = counts.get(c, 0) + 1
        return counts

    def check(self, what):
        ranges = [("2024-05-03", "2024-05-06", DAY, DAY + 4 * 86400 - 1),
                  ("2024-05-04", "2024-05-04", DAY + 86400, DAY + 2 * 86400 - 1),
                  (str(DAY + 3 * 3600 + 17), str(DAY + 2 * 86400 + 5 * 3600),
                   DAY + 3 * 3600 + 17, DAY + 2 * 86400 + 5 * 3600),
                  (str(DAY + 86400 + 100), str(DAY + 86400 + 9000),
                   DAY + 86400 + 100, DAY + 86400 + 9000)]
        for zoom in (3, 12, 18, 19):
            for f, t, t0, t1 in ranges:
                r = h.request(self.port, "/api/0/heat?" + query(
                    user="jane", zoom=zoom, **{"from": f, "to": t}))
                self.assertEqual(r.status, 200, r.body)
                g = contract.check("/api/0/heat", "GET", r)
                c = g["cells"]
                got = {(g["x0"] + c[k], g["y0"] + c[k + 1]): c[k + 2]
                       for k in range(0, len(c), 3)}
                want = self.want(zoom, t0, t1)
                self.assertEqual(g["points"], sum(want.values()), (what, zoom, f, t))
                self.assertEqual(got, want, (what, zoom, f, t))

    def test_the_heat_grid_is_the_visible_points_counted(self):
        phone = walk(1, DAY - 3 * 3600, 1500)
        tablet = walk(2, DAY + 7 * 3600, 700)
        late = phone[:]
        random.Random(3).shuffle(late)
        self.publish("phone", late[:900])
        self.publish("tablet", tablet)
        self.publish("phone", late[900:] + phone[:200])  # late, and some twice
        self.check("published")
        self.import_recorder("import", walk(4, DAY + 12 * 3600, 600))
        self.check("imported beside the server")
        h.cli(self.storage, "delete", "--user", "jane", "--device", "phone", "--from",
              str(DAY + 86400 - 5000), "--to", str(DAY + 86400 + 7000))
        self.points["phone"] = {t: m for t, m in self.points["phone"].items()
                                if not DAY + 86400 - 5000 <= t <= DAY + 86400 + 7000}
        self.check("after deleting across midnight")
        for m in tablet[::25]:
            h.cli(self.storage, "hide", "jane", "tablet", str(m["tst"]))
            self.hidden.add(("tablet", m["tst"]))
        h.cli(self.storage, "unhide", "jane", "tablet", str(tablet[0]["tst"]))
        self.hidden.discard(("tablet", tablet[0]["tst"]))
        self.check("after hiding points")
        self.stack.server.stop()
        self.stack.server.start()
        self.port = self.stack.server.http_port
        self.check("after a restart")


if __name__ == "__main__":
    unittest.main()
