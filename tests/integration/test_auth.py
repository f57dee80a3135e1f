"""Sign-in and access control over HTTP: htpasswd users (bcrypt made by `htpasswd -B`,
yescrypt by `mkpasswd`), the ACL file, what each user sees through every door (list, last,
locations, stats, monitor, SSE, WebSocket, /pub friends), deletion rights, throttling of
failed sign-ins, reload on SIGHUP, the non-loopback default, and HTTPS."""
import json
import os
import signal
import socket
import subprocess
import threading
import time
import unittest

import contract
import harness as h

USERS = {"mum": "mum-secret", "dad": "dad secret:with colon", "kid": "kid-pw",
         "grandpa": "gp", "root": "root-pw", "stranger": "str-pw"}
ACL = """# who sees whom
mum: dad, kid   # parents see the family
grandpa: *
root: @admin
"""


def make_htpasswd(path, users):
    """bcrypt through apache2-utils' htpasswd for most; yescrypt through mkpasswd for dad."""
    if os.path.exists(path):
        os.unlink(path)
    for user, password in users.items():
        if user == "dad":
            hashed = subprocess.run(["mkpasswd", "-m", "yescrypt", "--stdin"], input=password,
                                    capture_output=True, text=True, check=True).stdout.strip()
            with open(path, "a") as f:
                f.write("%s:%s\n" % (user, hashed))
        else:
            create = [] if os.path.exists(path) else ["-c"]
            subprocess.run(["htpasswd", "-bB", "-C", "5"] + create + [path, user, password],
                           check=True, capture_output=True)


class Auth(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = h.Workdir()
        cls.htpasswd = cls.dir.file("users.htpasswd")
        cls.acl = cls.dir.file("acl")
        make_htpasswd(cls.htpasswd, USERS)
        with open(cls.acl, "w") as f:
            f.write(ACL)
        cls.stack = h.Stack(server_args=["--http-auth-file", cls.htpasswd,
                                         "--http-acl-file", cls.acl])
        cls.port = cls.stack.server.http_port
        cls.stack.server.wait_http()
        for i, user in enumerate(["mum", "dad", "kid", "grandpa", "stranger"]):
            h.publish(cls.stack.broker.port, [h.location(user, "phone", 1700000000 + i)])
        h.sync(cls.stack.broker.port, cls.stack.storage)

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()
        cls.dir.remove()

    def get(self, path, user=None, **kw):
        auth = (user, USERS[user]) if user else None
        return h.request(self.port, path, auth=auth, **kw)

    def users_seen(self, user):
        r = self.get("/api/0/list", user)
        self.assertEqual(r.status, 200)
        return set(r.json()["results"]) - {h.SENTINEL_USER}

    def test_nothing_is_served_without_credentials(self):
        for path in ("/", "/index.html", "/api/0/version", "/api/0/last", "/api/0/stream",
                     "/vendor/leaflet/leaflet.js"):
            r = self.get(path)
            self.assertEqual(r.status, 401, path)
            self.assertEqual(r.header("WWW-Authenticate"),
                             'Basic realm="wherelog", charset="UTF-8"')
        contract.check("/api/0/last", "GET", self.get("/api/0/last"))
        r = self.get("/pub", method="POST", body=b"{}")
        self.assertEqual(r.status, 401)
        # a CORS preflight carries no credentials and reveals nothing
        self.assertEqual(self.get("/api/0/last", method="OPTIONS").status, 204)

    def test_bcrypt_and_yescrypt_users_sign_in(self):
        for user in ("mum", "dad"):
            r = self.get("/api/0/config", user)
            self.assertEqual(r.status, 200, user)
            self.assertEqual(contract.check("/api/0/config", "GET", r)["user"], user)
        self.assertEqual(self.get("/", "kid").status, 200)
        # the login is compared case-blind, as store user names are
        self.assertEqual(h.request(self.port, "/api/0/version", auth=("MUM", USERS["mum"]))
                         .status, 200)

    def test_wrong_passwords_are_refused_and_logged_without_the_password(self):
        r = h.request(self.port, "/api/0/last", auth=("mum", "guess-one"), source="127.0.0.3")
        self.assertEqual(r.status, 401)
        r = h.request(self.port, "/api/0/last", auth=("nobody", "guess-two"), source="127.0.0.3")
        self.assertEqual(r.status, 401)
        r = h.request(self.port, "/api/0/last", headers={"Authorization": "Basic !!!"},
                      source="127.0.0.3")
        self.assertEqual(r.status, 401)
        h.wait_for(lambda: "unknown user" in self.stack.server.log_text(), 5, "the log line")
        log = self.stack.server.log_text()
        self.assertIn('sign-in refused user="mum" client=127.0.0.3 reason="wrong password"', log)
        self.assertIn('sign-in refused user="nobody" client=127.0.0.3 reason="unknown user"',
                      log)
        self.assertNotIn("guess-one", log)
        self.assertNotIn("guess-two", log)

    def test_repeated_failures_from_one_address_are_throttled(self):
        src = "127.0.0.4"
        for _ in range(10):
            r = h.request(self.port, "/api/0/last", auth=("kid", "wrong"), source=src)
            self.assertEqual(r.status, 401)
        r = h.request(self.port, "/api/0/last", auth=("kid", USERS["kid"]), source=src)
        self.assertEqual(r.status, 429, "refused without checking, even the right password")
        self.assertEqual(r.header("Retry-After"), "60")
        contract.check("/api/0/last", "GET", r)
        # others go on
        r = h.request(self.port, "/api/0/last", auth=("kid", USERS["kid"]), source="127.0.0.5")
        self.assertEqual(r.status, 200)

    def test_each_user_sees_what_the_acl_grants(self):
        self.assertEqual(self.users_seen("kid"), {"kid"})
        self.assertEqual(self.users_seen("mum"), {"mum", "dad", "kid"})
        self.assertEqual(self.users_seen("grandpa"), {"mum", "dad", "kid", "grandpa", "stranger"})
        self.assertEqual(self.users_seen("root"), {"mum", "dad", "kid", "grandpa", "stranger"})
        self.assertEqual(self.users_seen("stranger"), {"stranger"})
        last = self.get("/api/0/last", "mum").json()
        self.assertEqual({p["username"] for p in last}, {"mum", "dad", "kid"})
        self.assertEqual(self.get("/api/0/last?user=stranger", "mum").json(), [])
        self.assertEqual(self.get("/api/0/list?user=stranger", "mum").json(), {"results": []})
        r = self.get("/api/0/locations?user=stranger&device=phone", "mum")
        self.assertEqual(r.status, 403)
        contract.check("/api/0/locations", "GET", r)
        r = self.get("/api/0/locations?user=dad&device=phone&from=1700000001&to=1700000001",
                     "mum")
        self.assertEqual(r.status, 200)
        self.assertEqual([p["tst"] for p in r.json()["data"]], [1700000001])
        stats = contract.check("/api/0/stats", "GET", self.get("/api/0/stats", "kid"))
        self.assertEqual({d["user"] for d in stats["devices"]}, {"kid"})
        # dad sees only himself: nobody granted him more
        r = self.get("/api/0/locations?user=mum&device=phone&format=gpx", "dad")
        self.assertEqual(r.status, 403)
        # Events: the same rule as the locations.
        r = self.get("/api/0/events?user=stranger", "mum")
        self.assertEqual(r.status, 403)
        contract.check("/api/0/events", "GET", r)
        r = self.get("/api/0/events?user=dad", "mum")
        self.assertEqual(r.status, 200)
        contract.check("/api/0/events", "GET", r)
        self.assertEqual(self.get("/api/0/events?user=mum", "dad").status, 403)

    def test_monitor_shows_the_last_message_only_to_who_may_see_it(self):
        h.publish(self.stack.broker.port, [h.location("stranger", "phone", 1700001000)])
        h.wait_for(lambda: "stranger" in self.get("/api/0/monitor", "root").text, 10,
                   "the monitor to show the message")
        self.assertEqual(self.get("/api/0/monitor", "mum").text, "not available\n")
        self.assertIn("owntracks/stranger/phone", self.get("/api/0/monitor", "grandpa").text)

    def test_pub_files_under_the_signed_in_user_and_returns_visible_friends(self):
        body = json.dumps({"_type": "location", "lat": 48.1, "lon": 11.5, "tst": 1700002000})
        r = self.get("/pub", "mum", method="POST", body=body,
                     headers={"Content-Type": "application/json", "X-Limit-D": "tablet"})
        self.assertEqual(r.status, 200, r.body)
        pts = h.export(self.stack.storage, "mum", "tablet")
        self.assertEqual([p["tst"] for p in pts], [1700002000])
        # the friends are the users the ACL lets mum see, never the stranger
        topics = {f["topic"] for f in r.json() if f.get("_type") == "location"}
        self.assertIn("owntracks/dad/phone", topics)
        self.assertIn("owntracks/kid/phone", topics)
        self.assertFalse(any("stranger" in t or "grandpa" in t for t in topics), r.body)
        r = self.get("/pub", "mum", method="POST", body=body,
                     headers={"X-Limit-U": "dad", "X-Limit-D": "phone"})
        self.assertEqual(r.status, 403)
        r = self.get("/pub?u=dad&d=phone", "mum", method="POST", body=body)
        self.assertEqual(r.status, 403)
        self.assertNotIn(1700002000, [p["tst"] for p in h.export(self.stack.storage, "dad",
                                                                   "phone")])

    def test_deleting_needs_the_owner_or_an_admin(self):
        h.publish(self.stack.broker.port, [h.location("kid", "old", 1600000000),
                                           h.location("kid", "old", 1600000060)])
        h.sync(self.stack.broker.port, self.stack.storage)
        url = "/api/0/locations?user=kid&device=old&from=1600000000&to=1600000000"
        r = self.get(url, "mum", method="DELETE")
        self.assertEqual(r.status, 403, "seeing is not deleting")
        contract.check("/api/0/locations", "DELETE", r)
        r = self.get(url, "kid", method="DELETE")
        self.assertEqual(r.status, 200)
        self.assertEqual(contract.check("/api/0/locations", "DELETE", r)["deleted"]["points"], 1)
        url = "/api/0/locations?user=kid&device=old"
        self.assertEqual(self.get(url, "root", method="DELETE").status, 200)
        r = self.get("/api/0/locations?user=kid&device=old&from=1500000000", "kid")
        self.assertEqual(r.json()["data"], [])

    def test_live_streams_carry_only_visible_users(self):
        got = {"mum": [], "kid": []}
        ready = {u: threading.Event() for u in got}

        def read_sse(user):
            conn = h.http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            conn.request("GET", "/api/0/stream",
                         headers={"Authorization": h.basic(user, USERS[user])})
            r = conn.getresponse()
            if r.status != 200:
                return
            r.fp.readline()  # "retry: 3000": the stream is open
            ready[user].set()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                line = r.fp.readline().decode()
                if line.startswith("data: {") and '"username"' in line:
                    ev = json.loads(line[6:])
                    got[user].append(ev["username"])
                    if ev["username"] == "kid":  # published last
                        break
            conn.close()

        threads = [threading.Thread(target=read_sse, args=(u,)) for u in got]
        for t in threads:
            t.start()
        for u in got:
            self.assertTrue(ready[u].wait(10), "the stream of %s opens" % u)
        h.publish(self.stack.broker.port, [h.location("stranger", "phone", 1700003000),
                                           h.location("dad", "phone", 1700003001),
                                           h.location("kid", "phone", 1700003002)])
        for t in threads:
            t.join(15)
        self.assertEqual(got["mum"], ["dad", "kid"])
        self.assertEqual(got["kid"], ["kid"])

    def test_websocket_needs_credentials_and_filters(self):
        import websocket  # python3-websocket
        url = "ws://127.0.0.1:%d/ws/last" % self.port
        with self.assertRaises(websocket.WebSocketBadStatusException):
            websocket.create_connection(url, timeout=5)
        ws = websocket.create_connection(url, timeout=5,
                                         header=["Authorization: " + h.basic("kid", USERS["kid"])])
        ws.send("LAST")
        seen = set()
        ws.settimeout(2)
        try:
            while True:
                msg = json.loads(ws.recv())
                seen.add(msg.get("username"))
        except websocket.WebSocketTimeoutException:
            pass
        ws.close()
        self.assertEqual(seen, {"kid"})


class AuthReloadAndDefaults(unittest.TestCase):
    def setUp(self):
        self.dir = h.Workdir()
        self.htpasswd = self.dir.file("users")
        make_htpasswd(self.htpasswd, {"mum": "one"})

    def tearDown(self):
        self.dir.remove()

    def test_sighup_reloads_users_and_acl_and_keeps_live_streams(self):
        stack = h.Stack(server_args=["--http-auth-file", self.htpasswd])
        try:
            port = stack.server.http_port
            stack.server.wait_http()
            conn = h.http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/api/0/stream", headers={"Authorization": h.basic("mum", "one")})
            stream = conn.getresponse()
            self.assertEqual(stream.status, 200)
            self.assertEqual(h.request(port, "/api/0/last", auth=("neo", "two")).status, 401)
            subprocess.run(["htpasswd", "-bB", self.htpasswd, "neo", "two"], check=True,
                           capture_output=True)
            subprocess.run(["htpasswd", "-bB", self.htpasswd, "mum", "changed"], check=True,
                           capture_output=True)
            stack.server.proc.send_signal(signal.SIGHUP)
            h.wait_for(lambda: "reloaded: 2 user(s)" in stack.server.log_text(), 10, "reload")
            self.assertEqual(h.request(port, "/api/0/last", auth=("neo", "two")).status, 200)
            self.assertEqual(h.request(port, "/api/0/last", auth=("mum", "one")).status, 401,
                             "an old password no longer works, remembered or not")
            # a broken file keeps the users in force
            with open(self.htpasswd, "a") as f:
                f.write("broken line\n")
            stack.server.proc.send_signal(signal.SIGHUP)
            h.wait_for(lambda: "reload failed" in stack.server.log_text(), 10, "failed reload")
            self.assertEqual(h.request(port, "/api/0/last", auth=("neo", "two")).status, 200)
            # the stream opened before the reloads still delivers
            h.publish(stack.broker.port, [h.location("mum", "phone", 1700000000)])
            deadline = time.monotonic() + 10
            line = ""
            while time.monotonic() < deadline and '"username":"mum"' not in line:
                line = stream.fp.readline().decode()
            self.assertIn('"username":"mum"', line)
            conn.close()
        finally:
            stack.stop()

    def test_a_server_reachable_from_other_machines_requires_sign_in(self):
        storage = self.dir.file("store")
        r = subprocess.run([h.WHERELOG, "serve", "--storage", storage, "--http-host", "0.0.0.0",
                            "--http-port", str(h.free_port()), "--mqtt=false"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no --http-auth-file", r.stdout + r.stderr)
        r = subprocess.run([h.WHERELOG, "serve", "--check", "--storage", storage,
                            "--http-host", "0.0.0.0", "--http-auth", "off"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout)
        r = subprocess.run([h.WHERELOG, "serve", "--check", "--storage", storage,
                            "--http-auth", "maybe"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("auto, on or off", r.stdout)

    def test_unsupported_hashes_are_refused_at_start(self):
        with open(self.htpasswd, "w") as f:
            f.write("old:$apr1$abc$0123456789abcdefghijkl\n")
        r = subprocess.run([h.WHERELOG, "serve", "--storage", self.dir.file("s"),
                            "--http-port", str(h.free_port()), "--mqtt=false",
                            "--http-auth-file", self.htpasswd],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("unsupported hash (bcrypt or yescrypt only", r.stderr)


class Https(unittest.TestCase):
    def setUp(self):
        self.dir = h.Workdir()
        self.cert, self.key = self.dir.file("cert.pem"), self.dir.file("key.pem")
        # a throwaway self-signed certificate for localhost, made here, never committed;
        # dated by the clock of this process, whose ssl module checks it
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                        "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                        "-keyout", self.key, "-out", self.cert], check=True,
                       capture_output=True, env=h.real_clock_env())
        self.htpasswd = self.dir.file("users")
        make_htpasswd(self.htpasswd, {"mum": "one"})

    def tearDown(self):
        self.dir.remove()

    def test_https_with_sign_in_and_live_updates(self):
        stack = h.Stack(server_args=["--http-tls-cert", self.cert, "--http-tls-key", self.key,
                                     "--http-auth-file", self.htpasswd])
        try:
            port = stack.server.http_port
            stack.server.wait_http(tls_ca=self.cert)
            r = h.request(port, "/api/0/version", auth=("mum", "one"), tls_ca=self.cert)
            self.assertEqual(r.status, 200)
            self.assertEqual(h.request(port, "/", tls_ca=self.cert).status, 401)
            self.assertIn("listening on https://", stack.server.log_text())
            # plain HTTP on the TLS port gets no answer
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /api/0/version HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                data = s.recv(100)
            except OSError:
                data = b""
            s.close()
            self.assertNotIn(b"HTTP/1.1 200", data)
            # a WebSocket through TLS
            import ssl
            import websocket
            ws = websocket.create_connection(
                "wss://localhost:%d/ws/last" % port, timeout=5,
                header=["Authorization: " + h.basic("mum", "one")],
                sslopt={"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": self.cert})
            # published as soon as the handshake is read, with no wait: the server counts the
            # client from its 101 on, however late libmicrohttpd hands the connection over
            h.publish(stack.broker.port, [h.location("mum", "phone", 1700000000)])
            msg = json.loads(ws.recv())
            self.assertEqual((msg["username"], msg["tst"]), ("mum", 1700000000))
            ws.close()
        finally:
            stack.stop()

    def test_a_key_that_does_not_match_stops_the_start(self):
        other = self.dir.file("other.pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-out", other], check=True,
                       capture_output=True)
        r = subprocess.run([h.WHERELOG, "serve", "--storage", self.dir.file("s"), "--mqtt=false",
                            "--http-port", str(h.free_port()), "--http-tls-cert", self.cert,
                            "--http-tls-key", other, "--http-auth", "off"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("do not match", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
