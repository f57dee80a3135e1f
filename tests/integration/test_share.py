"""Share links against a real server and mosquitto: made with the CLI and the API while
`wherelog serve` runs; a link's page and API show exactly the shared device and range and
nothing else; every other route refuses the secret; revoked and expired links answer 410; the
owner's private places cut a shared track and hide a live position inside them; guessing is
throttled like sign-in."""
import json
import os
import socket
import re
import subprocess
import unittest
import urllib.parse

import contract
import harness as h

LINK = re.compile(r"^http://127\.0\.0\.1:\d+/s/(wls_[A-Za-z0-9_-]{43})$")
# A range of alice's phone: a walk north along a meridian, one fix a minute.
T0 = 1700000000
WALK = [(T0 + 60 * i, 48.80 + 0.001 * i, 2.30) for i in range(30)]
# Home: a private circle around the walk's fixes 10..14 (lat 48.810..48.814; 100 m is 0.0009°).
HOME = (48.812, 2.30, 300)


def create(storage, *args):
    """`share create` with the CLI; returns the secret from the link it prints once."""
    r = h.cli(storage, "share", "create", *args)
    m = LINK.match(r.stdout.strip())
    assert m, "not a link: %r" % r.stdout
    return m.group(1)


def listed(storage, *extra):
    lines = h.cli(storage, "share", "list", *extra).stdout.splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:]]


def iso(t):
    return h.time.strftime("%Y-%m-%dT%H:%M:%SZ", h.time.gmtime(t))


class Stream:
    """An open SSE stream; frames() yields (event, data) until the server ends it. The socket's
    timeout only guards against a hang: every wait is for a frame the test caused."""

    def __init__(self, port, path):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
                           % path).encode())
        self.f = self.sock.makefile("rb")
        status = self.f.readline().decode()
        self.status = int(status.split()[1])
        while self.f.readline() not in (b"\r\n", b""):
            pass

    def frame(self):
        """The next frame as (event, data), or None at the end of the stream. Chunked
        encoding's size lines are skipped (they are hex digits alone on a line)."""
        event = data = None
        while True:
            line = self.f.readline()
            if not line:
                return None
            line = line.decode().rstrip("\r\n")
            if re.fullmatch(r"[0-9a-fA-F]+", line):
                if line == "0":
                    return None  # the last chunk: the server ended the stream
                continue
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
            elif line == "" and (event or data):
                return event, data
            elif line.startswith("retry: "):
                event = "retry"

    def close(self):
        self.f.close()
        self.sock.close()


def walk_points(user, device, fixes):
    return [h.location(user, device, t, lat=lat, lon=lon) for t, lat, lon in fixes]


class Shares(unittest.TestCase):
    """With sign-in: mum may see dad (ACL); kid is nobody's."""

    @classmethod
    def setUpClass(cls):
        cls.dir = h.Workdir()
        htpasswd = cls.dir.file("users")
        for i, (user, password) in enumerate([("alice", "alice-pw"), ("mum", "mum-pw"),
                                              ("dad", "dad-pw"), ("kid", "kid-pw")]):
            subprocess.run(["htpasswd", "-bB", "-C", "5"] + (["-c"] if i == 0 else []) +
                           [htpasswd, user, password], check=True, capture_output=True)
        acl = cls.dir.file("acl")
        with open(acl, "w") as f:
            f.write("mum: dad\n")
        cls.stack = h.Stack(server_args=["--http-auth-file", htpasswd, "--http-acl-file", acl,
                                         "--docroot", h.WEB_DIR])
        cls.port = cls.stack.server.http_port
        cls.storage = cls.stack.storage
        cls.stack.server.wait_http()
        now = int(h.now())
        cls.now = now
        points = walk_points("alice", "phone", WALK)
        points += walk_points("alice", "tablet", [(T0 + 100, 10.0, 10.0)])
        points += walk_points("bob", "phone", [(T0 + 200, 20.0, 20.0)])
        # Outside the shared range, before and after it.
        points += walk_points("alice", "phone", [(T0 - 3600, 1.0, 1.0), (T0 + 7200, 2.0, 2.0)])
        # Live: dad's phone a minute ago; kid's phone.
        points += walk_points("dad", "phone", [(now - 120, 51.5, -0.1), (now - 60, 51.6, -0.1)])
        points += walk_points("kid", "phone", [(now - 60, 40.0, 3.0)])
        h.publish(cls.stack.broker.port, points)
        h.sync(cls.stack.broker.port, cls.storage)
        cls.range_secret = create(cls.storage, "--user", "alice", "--device", "phone", "--from",
                                  iso(T0), "--to", iso(T0 + 29 * 60), "--expires", "24h",
                                  "--label", "Sunday walk")

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()
        cls.dir.remove()

    def get(self, path, **kw):
        return h.request(self.port, path, **kw)

    def shared(self, secret, what="", **kw):
        return self.get("/api/0/shared/%s%s" % (secret, what), **kw)

    def test_a_range_link_sees_exactly_that_device_and_range(self):
        s = self.range_secret
        r = self.shared(s)
        self.assertEqual(r.status, 200, r.body)
        info = r.json()
        self.assertEqual((info["device"], info["label"], info["live"]),
                         ("phone", "Sunday walk", False))
        self.assertEqual((info["from"], info["to"]), (T0, T0 + 29 * 60))
        self.assertNotIn("alice", r.text, "the page is not told whose it is")
        track = self.shared(s, "/track").json()
        fixes = [p for line in track["lines"] for p in line]
        self.assertEqual([p[2] for p in fixes], [t for t, _, _ in WALK],
                         "every fix of the range, none before or after it, no other device")
        self.assertEqual(fixes[3][:2], [WALK[3][1], WALK[3][2]])
        # Parameters change nothing: the share says which device and range, not the caller.
        for query in ("?user=bob&device=phone", "?device=tablet", "?from=0&to=4000000000",
                      "?user=alice&device=phone&from=1600000000"):
            self.assertEqual(self.shared(s, "/track" + query).json(), track, query)
            self.assertEqual(self.shared(s, "/last" + query).json()["tst"], WALK[-1][0], query)
        self.assertEqual(self.shared(s, "/last").json()["tst"], WALK[-1][0],
                         "the newest fix within the range, not the newest of the device")
        for other in ("/other", "/track/x", "/../list", "/last/"):
            r = self.shared(s, other)
            self.assertIn(r.status, (404,), other)
        r = self.get("/s/" + s)
        self.assertEqual(r.status, 200)
        self.assertIn('src="/share.js"', r.text, "the share page")
        self.assertEqual(r.header("Referrer-Policy"), "no-referrer")
        opened = [x for x in listed(self.storage, "--user", "alice")
                  if x["LABEL"] == "Sunday walk"]
        self.assertEqual(len(opened), 1)
        self.assertNotEqual(opened[0]["LAST OPENED"], "-", "opening is recorded")
        self.assertNotIn(s, h.cli(self.storage, "share", "list").stdout)
        self.assertNotIn(s, self.stack.server.log_text(), "the secret is never logged")
        self.assertIn('path="/api/0/shared/SECRET/track"', self.stack.server.log_text())

    def test_every_other_route_refuses_the_secret(self):
        s = self.range_secret
        samples = {"/api/": "/api/0/nothing", "/vendor/leaflet/": "/vendor/leaflet/leaflet.css",
                   "/vendor/": "/vendor/x.js", "/": "/index.html"}
        checked = 0
        for row in contract.routes():
            if row["share"] or row["anyone"]:
                continue  # the share routes themselves; /healthz reads no credential at all
            path = samples.get(row["path"], row["path"]) if row["prefix"] else row["path"]
            for method in row["methods"]:
                if method in ("other", "HEAD"):
                    continue
                for headers, query in (({"Authorization": "Bearer " + s}, ""),
                                       ({}, "?token=" + s + "&secret=" + s)):
                    # A client address each: failed attempts would be throttled (429) otherwise.
                    r = self.get(path + query, method=method, headers=headers, body="",
                                 source="127.0.1.%d" % (checked + 1))
                    self.assertEqual(r.status, 401, "%s %s %s" % (method, path, headers))
                    checked += 1
        self.assertGreater(checked, 30)

    def test_the_api_makes_lists_and_revokes_within_the_acl(self):
        mum = ("mum", "mum-pw")
        body = urllib.parse.urlencode({"user": "dad", "device": "phone", "live": "1",
                                       "expires": "2h", "label": "dad now"})
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        r = self.get("/api/0/shares", method="POST", body=body, headers=form, auth=mum)
        self.assertEqual(r.status, 201, r.body)
        made = contract.check("/api/0/shares", "POST", r)
        self.assertEqual((made["share"]["user"], made["share"]["owner"]), ("mum", "dad"))
        secret = made["secret"]
        last = self.shared(secret, "/last").json()
        self.assertEqual((last["lat"], last["lon"]), (51.6, -0.1), "the live position")
        # The ACL: mum may not share kid's phone; kid may not see or revoke mum's shares.
        body_kid = body.replace("dad", "kid")
        r = self.get("/api/0/shares", method="POST", body=body_kid, headers=form, auth=mum)
        self.assertEqual(r.status, 403)
        contract.check("/api/0/shares", "POST", r)
        r = self.get("/api/0/shares?user=mum", auth=("kid", "kid-pw"))
        self.assertEqual(r.status, 403)
        r = self.get("/api/0/shares?id=%s" % made["share"]["id"], method="DELETE",
                     auth=("kid", "kid-pw"))
        self.assertEqual(r.status, 404, "kid has no such share")
        self.assertEqual(self.shared(secret).status, 200, "still valid")
        r = self.get("/api/0/shares", auth=mum)
        listing = contract.check("/api/0/shares", "GET", r)
        self.assertEqual([x["id"] for x in listing["results"]], [made["share"]["id"]])
        self.assertNotIn(secret, r.text)
        for bad in ({"device": "phone", "expires": "2h"},
                    {"device": "phone", "live": "1"},
                    {"device": "phone", "live": "1", "expires": "10s"},
                    {"device": "phone", "live": "1", "expires": "2h", "from": "2024-01-01"}):
            r = self.get("/api/0/shares", method="POST", body=urllib.parse.urlencode(bad),
                         headers=form, auth=mum)
            self.assertEqual(r.status, 400, bad)
            contract.check("/api/0/shares", "POST", r)
        r = self.get("/api/0/shares?id=%s" % made["share"]["id"], method="DELETE", auth=mum)
        self.assertEqual(r.status, 200, r.body)
        contract.check("/api/0/shares", "DELETE", r)
        r = self.shared(secret, "/last")
        self.assertEqual(r.status, 410)
        self.assertIn("revoked", r.json()["error"])

    def test_a_link_revoked_with_the_cli_answers_410_at_once(self):
        secret = create(self.storage, "--user", "kid", "--device", "phone", "--live",
                        "--expires", "30m")
        self.assertEqual(self.shared(secret, "/last").json()["lat"], 40.0)
        ident = [x["ID"] for x in listed(self.storage, "--user", "kid")][0]
        h.cli(self.storage, "share", "revoke", "--user", "kid", "--id", ident)
        for what in ("", "/track", "/last"):
            r = self.shared(secret, what)
            self.assertEqual(r.status, 410, what)
            self.assertEqual(r.json()["error"], "this share link was revoked")
        r = self.get("/s/" + secret)
        self.assertEqual(r.status, 410)
        self.assertIn("this share link was revoked", r.text)
        self.assertEqual(listed(self.storage, "--user", "kid")[0]["REVOKED"], "revoked")

    def test_an_expired_link_answers_410(self):
        """Made by a CLI whose clock is two hours behind, for an hour: expired an hour ago on
        the server's clock, whatever the machine's speed."""
        lib = h.faketime_lib()
        if not lib:
            self.skipTest("moving the CLI's clock needs libfaketime (package faketime)")
        env = dict(os.environ)
        h.preload_faketime(env, lib)
        env["FAKETIME"] = "%+d" % (h.CLOCK_OFFSET - 7200)
        r = subprocess.run([h.WHERELOG, "share", "create", "--user", "dad", "--device", "phone",
                            "--live", "--expires", "1h", "--storage", self.storage],
                           env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        secret = LINK.match(r.stdout.strip()).group(1)
        r = self.shared(secret, "/last")
        self.assertEqual(r.status, 410)
        self.assertEqual(r.json()["error"], "this share link has expired")
        r = self.get("/s/" + secret)
        self.assertEqual(r.status, 410)
        self.assertIn("expired", r.text)

    def test_private_places_cut_the_track_and_hide_the_live_position(self):
        lat, lon, radius = HOME
        h.cli(self.storage, "private", "add", "--user", "alice", "--name", "home", "--lat",
              str(lat), "--lon", str(lon), "--radius", str(radius))
        try:
            track = self.shared(self.range_secret, "/track").json()
            self.assertEqual(len(track["lines"]), 2, "the line breaks at home")
            shown = {p[2] for line in track["lines"] for p in line}
            inside = {t for t, la, lo in WALK if abs(la - lat) < 0.0027}
            self.assertTrue(inside)
            self.assertEqual(shown, {t for t, _, _ in WALK} - inside,
                             "no fix inside home, every fix outside")
        finally:
            h.cli(self.storage, "private", "remove", "--user", "alice", "--name", "home")
        h.cli(self.storage, "private", "add", "--user", "dad", "--name", "office", "--lat",
              "51.6", "--lon", "-0.1", "--radius", "100")
        try:
            secret = create(self.storage, "--user", "dad", "--device", "phone", "--live",
                            "--expires", "1h")
            last = self.shared(secret, "/last").json()
            self.assertEqual(set(last), {"tst", "private"}, "no position: %r" % last)
            self.assertTrue(last["private"])
            track = self.shared(secret, "/track").json()
            self.assertEqual([[p[:2] for p in line] for line in track["lines"]],
                             [[[51.5, -0.1]]], "the fix at the office is dropped")
        finally:
            h.cli(self.storage, "private", "remove", "--user", "dad", "--name", "office")

    def test_a_live_stream_says_update_and_ends_when_revoked(self):
        secret = create(self.storage, "--user", "kid", "--device", "phone", "--live",
                        "--expires", "1h")
        before = h.live_streams(self.port, auth=("kid", "kid-pw"))
        st = Stream(self.port, "/api/0/shared/%s/stream" % secret)
        try:
            self.assertEqual(st.status, 200)
            self.assertEqual(st.frame()[0], "retry")
            h.wait_for(lambda: h.live_streams(self.port, auth=("kid", "kid-pw")) > before,
                       what="the stream is registered")
            t = int(h.now())
            h.publish(self.stack.broker.port, walk_points("bob", "phone", [(t, 5.0, 5.0)]) +
                      walk_points("kid", "phone", [(t, 40.1, 3.0)]))
            self.assertEqual(st.frame(), ("update", "{}"), "a new fix of that device, no data")
            ident = [x["ID"] for x in listed(self.storage, "--user", "kid")
                     if x["REVOKED"] == "no"][0]
            h.cli(self.storage, "share", "revoke", "--user", "kid", "--id", ident)
            h.publish(self.stack.broker.port, walk_points("kid", "phone", [(t + 1, 40.2, 3.0)]))
            self.assertEqual(st.frame(), ("gone", "{}"), "revoked: no more updates")
            self.assertIsNone(st.frame(), "and the stream ends")
        finally:
            st.close()
        st = Stream(self.port, "/api/0/shared/%s/stream" % secret)
        self.assertEqual(st.status, 410, "a revoked share opens no stream")
        st.close()
        st = Stream(self.port, "/api/0/shared/%s/stream" % self.range_secret)
        self.assertEqual(st.status, 404, "a range share has no stream")
        st.close()

    def test_a_place_marked_private_cuts_the_track_too(self):
        """The places' own private flag (wherelog place add --private) counts like a
        private circle; a place that is not private does not."""
        lat, lon, radius = HOME
        def add(name, *extra):
            r = h.cli(self.storage, "place", "add", "--user", "alice", "--name", name, "--lat",
                      str(lat), "--lon", str(lon), "--radius", str(radius), *extra)
            return re.match(r"added place (\d+) ", r.stdout).group(1)
        public = add("the park")
        try:
            track = self.shared(self.range_secret, "/track").json()
            self.assertEqual(len(track["lines"]), 1, "a place that is not private hides nothing")
            private = add("home", "--private")
            try:
                track = self.shared(self.range_secret, "/track").json()
                self.assertEqual(len(track["lines"]), 2, "the line breaks at the private place")
                shown = {p[2] for line in track["lines"] for p in line}
                self.assertFalse(shown & {t for t, la, _ in WALK if abs(la - lat) < 0.0027})
            finally:
                h.cli(self.storage, "place", "delete", str(private))
        finally:
            h.cli(self.storage, "place", "delete", str(public))

    def test_guessing_is_throttled_like_sign_in(self):
        guess = "wls_" + "A" * 43
        for i in range(10):
            what = "/s/" if i % 2 else "/api/0/shared/"
            r = self.get(what + guess, source="127.0.0.42")
            self.assertEqual(r.status, 404, i)
        r = self.shared(self.range_secret, source="127.0.0.42")
        self.assertEqual(r.status, 429, "refused without checking, even a good secret")
        self.assertEqual(self.get("/s/" + self.range_secret, source="127.0.0.42").status, 429)
        self.assertEqual(self.shared(self.range_secret, source="127.0.0.43").status, 200,
                         "other clients go on")


class Expiry(unittest.TestCase):
    def test_an_open_stream_ends_at_expiry(self):
        """The server's clock is moved past the share's expiry (libfaketime reading a file):
        the open stream then says "gone" and ends, and the API answers 410."""
        lib = h.faketime_lib()
        if not lib:
            self.skipTest("moving wherelog's clock needs libfaketime (package faketime)")
        stack = h.Stack(start_server=False)
        st = None
        try:
            clock = stack.dir.file("clock")
            with open(clock, "w") as f:
                f.write("%+d" % h.CLOCK_OFFSET)
            env = {k: v for k, v in os.environ.items() if k != "FAKETIME"}
            h.preload_faketime(env, lib)
            env.update(FAKETIME_TIMESTAMP_FILE=clock, FAKETIME_NO_CACHE="1",
                       FAKETIME_DONT_FAKE_MONOTONIC="1")
            stack.server.env = env
            stack.server.start()
            stack.server.wait_http()
            port = stack.server.http_port
            t = int(h.now())
            h.publish(stack.broker.port, walk_points("a", "d", [(t - 30, 1.0, 2.0)]))
            h.sync(stack.broker.port, stack.storage)
            secret = create(stack.storage, "--user", "a", "--device", "d", "--live",
                            "--expires", "1h")
            st = Stream(port, "/api/0/shared/%s/stream" % secret)
            self.assertEqual(st.frame()[0], "retry")
            h.wait_for(lambda: h.live_streams(port) > 0, what="the stream is registered")
            with open(clock, "w") as f:
                f.write("%+d" % (h.CLOCK_OFFSET + 2 * 3600))
            # The live thread wakes streams past their expiry on its tick; a new fix of any
            # device wakes them at once. Either way the next frame is "gone".
            h.publish(stack.broker.port, walk_points("b", "x", [(t, 1.0, 2.0)]))
            self.assertEqual(st.frame(), ("gone", "{}"))
            self.assertIsNone(st.frame())
            r = h.request(port, "/api/0/shared/%s/last" % secret)
            self.assertEqual(r.status, 410)
            self.assertEqual(r.json()["error"], "this share link has expired")
        finally:
            if st:
                st.close()
            stack.stop()


class CommandLine(unittest.TestCase):
    def test_bad_usage_is_one_line_and_status_2(self):
        work = h.Workdir()
        try:
            store = work.file("store")
            for args in (["frob"], ["create", "--user", "a", "--device", "d", "--expires", "1h"],
                         ["create", "--user", "a", "--device", "d", "--live"],
                         ["create", "--user", "a", "--device", "d", "--live", "--from", "2024-01-01",
                          "--expires", "1h"],
                         ["create", "--user", "a", "--device", "d", "--from", "2024-01-01",
                          "--expires", "1h"],
                         ["revoke", "--user", "a"], ["list", "--id", "x"], []):
                r = h.cli(store, "share", *args, check=False)
                self.assertEqual(r.returncode, 2, args)
                self.assertEqual(len(r.stderr.strip().splitlines()), 1, (args, r.stderr))
                self.assertEqual(r.stdout, "", args)
            for args in (["add", "--user", "a", "--name", "h", "--lat", "91", "--lon", "0",
                          "--radius", "10"],
                         ["add", "--user", "a", "--name", "h", "--lat", "1", "--lon", "0"],
                         ["remove", "--user", "a"]):
                r = h.cli(store, "private", *args, check=False)
                self.assertEqual(r.returncode, 2, args)
            self.assertFalse(os.path.exists(store), "a refused command makes no store")
        finally:
            work.remove()

    def test_no_such_device_and_public_url(self):
        stack = h.Stack()
        try:
            stack.server.wait_http()
            now = int(h.now())
            h.publish(stack.broker.port, walk_points("a", "d", [(now - 90, 1.0, 2.0),
                                                                (now - 30, 1.5, 2.0)]))
            h.sync(stack.broker.port, stack.storage)
            r = h.cli(stack.storage, "share", "create", "--user", "a", "--device", "nope",
                      "--live", "--expires", "1h", check=False)
            self.assertEqual((r.returncode, r.stderr.strip()), (2, "wherelog share: no such device"))
            r = h.cli(stack.storage, "share", "create", "--user", "a", "--device", "d", "--live",
                      "--expires", "1h", "--public-url", "https://where.example.org/")
            self.assertRegex(r.stdout.strip(),
                             r"^https://where\.example\.org/s/wls_[A-Za-z0-9_-]{43}$")
            # An open server: the share routes still answer only for the share.
            secret = r.stdout.strip().rsplit("/", 1)[1]
            port = stack.server.http_port
            self.assertEqual(h.request(port, "/api/0/shared/" + secret + "/last").json()["tst"],
                             now - 30)
            r = h.request(port, "/api/0/list", headers={"Authorization": "Bearer " + secret})
            self.assertEqual(r.status, 401, "never a Bearer token, open server or not")
        finally:
            stack.stop()


if __name__ == "__main__":
    unittest.main()
