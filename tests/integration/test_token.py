"""API tokens for scripts against a real server: made, listed and revoked with the CLI while
`wherelog serve` runs, sent as `Authorization: Bearer`; a token acts as its user (what the ACL
grants), even on an open loopback server; read-only ones cannot delete or publish; a wrong,
revoked or expired token is 401, never anonymous; guessing is throttled; the log names tokens,
never their secrets."""
import json
import os
import re
import signal
import subprocess
import unittest

import contract
import harness as h

SECRET = re.compile(r"^wlt_[A-Za-z0-9_-]{43}$")


def create(storage, user, name, *extra):
    """Makes a token with the CLI; returns its secret (printed once, alone on stdout)."""
    r = h.cli(storage, "token", "create", "--user", user, "--name", name, *extra)
    secret = r.stdout.strip()
    assert SECRET.match(secret), "not a token: %r" % r.stdout
    return secret


def bearer(secret):
    return {"Authorization": "Bearer " + secret}


def listed(storage, *extra):
    """`token list` as dicts by its header's columns."""
    lines = h.cli(storage, "token", "list", *extra).stdout.splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:]]


def users_in(r):
    return set(r.json()["results"]) - {h.SENTINEL_USER}


class OpenServer(unittest.TestCase):
    """Loopback without a password file: anonymous requests see everything, as before tokens;
    a token still acts as its user."""

    @classmethod
    def setUpClass(cls):
        cls.stack = h.Stack()
        cls.port = cls.stack.server.http_port
        cls.storage = cls.stack.storage
        cls.stack.server.wait_http()
        h.publish(cls.stack.broker.port, [h.location("alice", "phone", 1700000000),
                                          h.location("alice", "old", 1600000000),
                                          h.location("bob", "phone", 1700000001)])
        h.sync(cls.stack.broker.port, cls.storage)

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()

    def get(self, path, secret=None, **kw):
        headers = dict(kw.pop("headers", {}))
        if secret:
            headers.update(bearer(secret))
        return h.request(self.port, path, headers=headers, **kw)

    def test_a_token_made_while_serving_acts_as_its_user(self):
        self.assertEqual(users_in(self.get("/api/0/list")), {"alice", "bob"},
                         "anonymous on an open server sees everyone")
        secret = create(self.storage, "alice", "homeassistant", "--read-only")
        r = self.get("/api/0/list", secret)
        self.assertEqual(r.status, 200, r.body)
        contract.check("/api/0/list", "GET", r)
        self.assertEqual(users_in(r), {"alice"}, "a token sees what its user may see")
        r = self.get("/api/0/last", secret)
        self.assertEqual(contract.check("/api/0/last", "GET", r) and
                         {p["username"] for p in r.json()}, {"alice"})
        r = self.get("/api/0/locations?user=bob&device=phone&from=1600000000", secret)
        self.assertEqual(r.status, 403)
        contract.check("/api/0/locations", "GET", r)
        r = self.get("/api/0/locations?user=alice&device=phone&from=1600000000", secret)
        self.assertEqual([p["tst"] for p in r.json()["data"]], [1700000000])

    def test_a_wrong_token_is_refused_never_taken_as_anonymous(self):
        create(self.storage, "alice", "wrong-test")
        guess = "wlt_" + "A" * 43
        for value in ("Bearer " + guess, "Bearer not-a-token", "Bearer", "bearer " + guess):
            r = self.get("/api/0/list", headers={"Authorization": value}, source="127.0.0.20")
            self.assertEqual(r.status, 401, value)
            self.assertEqual(r.header("WWW-Authenticate"),
                             'Bearer realm="wherelog", error="invalid_token"')
            contract.check("/api/0/list", "GET", r)
        self.assertIn('token refused client=127.0.0.20 reason="unknown or revoked token"',
                      self.stack.server.log_text())
        self.assertNotIn(guess, self.stack.server.log_text())

    def test_a_read_only_token_neither_deletes_nor_publishes(self):
        ro = create(self.storage, "alice", "reader", "--read-only")
        rw = create(self.storage, "alice", "writer")
        url = "/api/0/locations?user=alice&device=old"
        r = self.get(url, ro, method="DELETE")
        self.assertEqual(r.status, 403, r.body)
        self.assertIn("read-only", r.json()["error"])
        contract.check("/api/0/locations", "DELETE", r)
        self.assertEqual(self.get(url + "&from=1500000000", ro).json()["data"][0]["tst"],
                         1600000000, "nothing was deleted")
        body = json.dumps({"_type": "location", "lat": 1.0, "lon": 2.0, "tst": 1700003000})
        pub = {"Content-Type": "application/json", "X-Limit-D": "tablet"}
        r = self.get("/pub", ro, method="POST", body=body, headers=pub)
        self.assertEqual(r.status, 403)
        contract.check("/pub", "POST", r)
        self.assertNotIn("tablet", h.cli(self.storage, "list", "--user", "alice").stdout)

        # A read-write token may do both, as its user.
        r = self.get("/pub", rw, method="POST", body=body, headers=pub)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual([p["tst"] for p in h.export(self.storage, "alice", "tablet")],
                         [1700003000], "filed under the token's user")
        r = self.get("/pub", rw, method="POST", body=body,
                     headers={"X-Limit-U": "bob", "X-Limit-D": "tablet"})
        self.assertEqual(r.status, 403, "a token cannot publish as another user")
        r = self.get("/api/0/locations?user=bob&device=phone", rw, method="DELETE")
        self.assertEqual(r.status, 403, "nor delete another user's data")
        r = self.get(url, rw, method="DELETE")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(contract.check("/api/0/locations", "DELETE", r)["deleted"]["points"], 1)

    def test_revoking_while_serving_refuses_the_next_request(self):
        secret = create(self.storage, "bob", "cron")
        self.assertEqual(self.get("/api/0/last", secret).status, 200)
        self.assertEqual(self.get("/api/0/last", secret).status, 200)
        r = h.cli(self.storage, "token", "revoke", "--user", "bob", "--name", "cron")
        self.assertIn("revoked", r.stderr)
        r = self.get("/api/0/last", secret)
        self.assertEqual(r.status, 401, "revoked: refused at once, with no wait")
        self.assertNotIn("cron", [t["NAME"] for t in listed(self.storage, "--user", "bob")])
        r = h.cli(self.storage, "token", "revoke", "--user", "bob", "--name", "cron",
                  check=False)
        self.assertEqual(r.returncode, 1)

    def test_use_is_listed_and_logged_by_name_never_by_secret(self):
        secret = create(self.storage, "bob", "grafana", "--expires", "30d")
        before = [t for t in listed(self.storage) if t["NAME"] == "grafana"]
        self.assertEqual(len(before), 1)
        self.assertEqual(before[0]["LAST USED"], "never")
        self.assertEqual(before[0]["ACCESS"], "read-write")
        self.assertNotEqual(before[0]["EXPIRES"], "never")
        self.assertEqual(self.get("/api/0/version", secret).status, 200)
        after = [t for t in listed(self.storage, "--user", "bob") if t["NAME"] == "grafana"]
        self.assertRegex(after[0]["LAST USED"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$",
                         "the first use is recorded at once")
        # The request's own line is written once it has been answered: wait for it.
        line = re.compile(r'request method=GET path="/api/0/version" status=200 .* '
                          r'user=bob token="grafana"$', re.M)
        h.wait_for(lambda: line.search(self.stack.server.log_text()), 10, "the request's line")
        log = self.stack.server.log_text()
        self.assertIn('token used user=bob token="grafana"', log)
        self.assertNotIn(secret, log)
        self.assertNotIn(secret[4:], log)
        self.assertNotIn(secret, h.cli(self.storage, "token", "list").stdout)

    def test_guessing_is_throttled_like_sign_in(self):
        secret = create(self.storage, "alice", "throttle-test")
        src = "127.0.0.21"
        for i in range(10):
            r = self.get("/api/0/last", "wlt_" + ("%043d" % i), source=src)
            self.assertEqual(r.status, 401)
        r = self.get("/api/0/last", secret, source=src)
        self.assertEqual(r.status, 429, "refused without checking, even the right token")
        self.assertEqual(r.header("Retry-After"), "60")
        contract.check("/api/0/last", "GET", r)
        self.assertEqual(self.get("/api/0/last", secret, source="127.0.0.22").status, 200,
                         "other addresses go on")


class Expiry(unittest.TestCase):
    def test_an_expired_token_is_refused(self):
        """The server's clock is moved past the token's expiry (libfaketime reading a file),
        so the test decides when it expires, not the machine's speed."""
        lib = h.faketime_lib()
        if not lib:
            self.skipTest("moving wherelog's clock needs libfaketime (package faketime)")
        stack = h.Stack(start_server=False)
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
            secret = create(stack.storage, "alice", "shortlived", "--expires", "1h")
            port = stack.server.http_port
            self.assertEqual(h.request(port, "/api/0/list", headers=bearer(secret)).status, 200)
            with open(clock, "w") as f:
                f.write("%+d" % (h.CLOCK_OFFSET + 2 * 3600))
            r = h.request(port, "/api/0/list", headers=bearer(secret))
            self.assertEqual(r.status, 401, "expired: refused, never anonymous")
            self.assertIn('token refused user=alice token="shortlived" client=127.0.0.1 '
                          'reason="expired"', stack.server.new_log())
            listing = subprocess.run([h.WHERELOG, "token", "list", "--storage", stack.storage],
                                     env=env, capture_output=True, text=True, timeout=60)
            self.assertIn("(expired)", listing.stdout, "on the server's clock")
        finally:
            stack.stop()

    def test_an_expiry_in_the_past_is_refused_when_made(self):
        work = h.Workdir()
        try:
            r = h.cli(work.file("store"), "token", "create", "--user", "a", "--name", "b",
                      "--expires", "2001-01-01", check=False)
            self.assertEqual(r.returncode, 2)
            self.assertIn("--expires: that time has passed already", r.stderr)
            self.assertEqual(r.stdout, "", "no secret printed")
            self.assertFalse(os.path.exists(work.file("store")), "nothing made")
        finally:
            work.remove()


class CommandLine(unittest.TestCase):
    def test_bad_usage_is_one_line_and_status_2(self):
        work = h.Workdir()
        try:
            store = work.file("store")
            for args in (["frob"], ["create", "--user", "a"], ["create", "--name", "b"],
                         ["revoke", "--user", "a"], ["list", "--name", "b"],
                         ["revoke", "--user", "a", "--name", "b", "--read-only"],
                         ["create", "--user", "a", "--name", "b", "--expires", "soon"],
                         ["create", "--user", "a/b", "--name", "b"], []):
                r = h.cli(store, "token", *args, check=False)
                self.assertEqual(r.returncode, 2, args)
                self.assertEqual(len(r.stderr.strip().splitlines()), 1, (args, r.stderr))
                self.assertEqual(r.stdout, "", args)
            self.assertFalse(os.path.exists(store), "a refused command makes no store")
            secret = create(store, "a", "b")
            r = h.cli(store, "token", "create", "--user", "A", "--name", "B", check=False)
            self.assertEqual(r.returncode, 1, "names are lowercased: a/b exists")
            self.assertIn("already has a token named b", r.stderr)
            self.assertEqual(r.stdout, "")
            self.assertEqual([(t["USER"], t["NAME"]) for t in listed(store)], [("a", "b")])
            self.assertNotIn(secret, h.cli(store, "token", "list").stdout)
        finally:
            work.remove()


class SignedIn(unittest.TestCase):
    """With a password file: a token stands in for the password, scoped by the ACL."""

    @classmethod
    def setUpClass(cls):
        cls.dir = h.Workdir()
        cls.htpasswd = htpasswd = cls.dir.file("users")
        for i, (user, password) in enumerate([("mum", "mum-pw"), ("dad", "dad-pw"),
                                              ("kid", "kid-pw")]):
            subprocess.run(["htpasswd", "-bB", "-C", "5"] + (["-c"] if i == 0 else []) +
                           [htpasswd, user, password], check=True, capture_output=True)
        acl = cls.dir.file("acl")
        with open(acl, "w") as f:
            f.write("mum: dad\n")
        cls.stack = h.Stack(server_args=["--http-auth-file", htpasswd, "--http-acl-file", acl])
        cls.port = cls.stack.server.http_port
        cls.stack.server.wait_http()
        h.publish(cls.stack.broker.port, [h.location(u, "phone", 1700000000 + i)
                                          for i, u in enumerate(["mum", "dad", "kid"])])
        h.sync(cls.stack.broker.port, cls.stack.storage)

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()
        cls.dir.remove()

    def test_a_token_signs_in_as_its_user_within_the_acl(self):
        secret = create(self.stack.storage, "mum", "script")
        r = h.request(self.port, "/api/0/list", headers=bearer(secret))
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(users_in(r), {"mum", "dad"})
        r = h.request(self.port, "/api/0/list")
        self.assertEqual(r.status, 401, "without credentials: as before")
        self.assertEqual(r.header("WWW-Authenticate"), 'Basic realm="wherelog", charset="UTF-8"')
        r = h.request(self.port, "/api/0/list", headers=bearer("wlt_" + "B" * 43))
        self.assertEqual(r.status, 401)
        r = h.request(self.port, "/api/0/list", auth=("mum", "mum-pw"))
        self.assertEqual(users_in(r), {"mum", "dad"}, "the password still works")

    def test_a_user_removed_from_the_password_file_loses_their_tokens(self):
        secret = create(self.stack.storage, "kid", "game")
        self.assertEqual(h.request(self.port, "/api/0/last", headers=bearer(secret)).status, 200)
        subprocess.run(["htpasswd", "-D", self.htpasswd, "kid"], check=True,
                       capture_output=True)
        reloads = self.stack.server.log_text().count("auth: reloaded")
        self.stack.server.proc.send_signal(signal.SIGHUP)
        h.wait_for(lambda: self.stack.server.log_text().count("auth: reloaded") > reloads, 20,
                   "the reload")
        r = h.request(self.port, "/api/0/last", headers=bearer(secret))
        self.assertEqual(r.status, 401)
        self.assertIn('token refused user=kid token="game" client=127.0.0.1 reason="its user is '
                      'not in the password file"', self.stack.server.log_text())


if __name__ == "__main__":
    unittest.main()
