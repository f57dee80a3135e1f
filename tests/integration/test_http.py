"""The HTTP server itself: static files (and attempts to escape the document root), caching
validators, MIME types, CORS, and what hostile or broken clients get."""
import gzip
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import unittest

import harness as h


def raw(port, data, read=True, timeout=5):
    """Sends raw bytes, returns what comes back (until the server closes or times out)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        if not read:
            return b""
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()


class StaticFiles(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = h.Workdir()
        root = cls.dir.file("www")
        os.makedirs(os.path.join(root, "sub"))
        with open(os.path.join(root, "index.html"), "w") as f:
            f.write("<!doctype html><title>map</title>")
        with open(os.path.join(root, "app.js"), "w") as f:
            f.write("console.log(1)")
        with open(os.path.join(root, "sub", "style.css"), "w") as f:
            f.write("body{}")
        with open(cls.dir.file("secret.txt"), "w") as f:
            f.write("outside the docroot")
        cls.big_js = b"var x = 'wherelog';\n" * 400
        with open(os.path.join(root, "big.js"), "wb") as f:
            f.write(cls.big_js)
        with gzip.open(os.path.join(root, "big.js.gz"), "wb") as f:
            f.write(cls.big_js)
        with open(os.path.join(root, "stale.js"), "w") as f:
            f.write("new()")
        with gzip.open(os.path.join(root, "stale.js.gz"), "wb") as f:
            f.write(b"old()")
        os.utime(os.path.join(root, "stale.js.gz"), (1, 1))  # older than stale.js: not used
        with gzip.open(cls.dir.file("secret.txt.gz"), "wb") as f:
            f.write(b"outside the docroot")
        os.symlink(cls.dir.file("secret.txt.gz"), os.path.join(root, "app.js.gz"))
        os.symlink(cls.dir.file("secret.txt"), os.path.join(root, "escape.txt"))
        os.symlink("/etc", os.path.join(root, "etc"))
        cls.stack = h.Stack(["--docroot", root, "--http-cors", "https://map.example"])
        cls.port = cls.stack.server.http_port

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()
        cls.dir.remove()

    def test_serves_files_with_their_types(self):
        for path, ctype, body in (("/", "text/html; charset=utf-8", b"<!doctype html>"),
                                  ("/index.html", "text/html; charset=utf-8", b"<!doctype"),
                                  ("/app.js", "text/javascript; charset=utf-8", b"console"),
                                  ("/sub/style.css", "text/css; charset=utf-8", b"body")):
            r = h.request(self.port, path)
            self.assertEqual(r.status, 200, path)
            self.assertEqual(r.header("content-type"), ctype, path)
            self.assertTrue(r.body.startswith(body), path)
            self.assertEqual(r.header("x-content-type-options"), "nosniff")

    def test_never_leaves_the_document_root(self):
        attempts = [b"/../secret.txt", b"/%2e%2e/secret.txt", b"/%2E%2E%2Fsecret.txt",
                    b"/sub/../../secret.txt", b"/escape.txt", b"/etc/passwd",
                    b"/index.html%00.png", b"/..%5csecret.txt", b"/sub/%2e%2e/%2e%2e/secret.txt",
                    b"//etc/passwd", b"/./index.html"]
        for path in attempts:
            out = raw(self.port, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close"
                                                  b"\r\n\r\n")
            status = out.split(b"\r\n", 1)[0]
            self.assertNotIn(b"outside the docroot", out, path)
            self.assertNotIn(b"root:", out, path)
            self.assertTrue(status.endswith(b"404 Not Found") or b" 400 " in status, (path, status))

    def test_validators_give_304(self):
        r = h.request(self.port, "/app.js")
        etag, modified = r.header("etag"), r.header("last-modified")
        self.assertTrue(etag and modified)
        self.assertEqual(h.request(self.port, "/app.js", headers={"If-None-Match": etag}).status,
                         304)
        self.assertEqual(h.request(self.port, "/app.js",
                                   headers={"If-Modified-Since": modified}).status, 304)
        self.assertEqual(h.request(self.port, "/app.js",
                                   headers={"If-None-Match": '"other"'}).status, 200)

    def test_precompressed_files_for_clients_that_accept_gzip(self):
        plain = h.request(self.port, "/big.js")
        self.assertEqual(plain.body, self.big_js)
        self.assertIsNone(plain.header("content-encoding"))
        self.assertEqual(plain.header("vary"), "Accept-Encoding")
        for ae in ("gzip", "deflate, gzip;q=0.5", "GZIP", "br;q=1, gzip ; x=y ; q=0.001"):
            r = h.request(self.port, "/big.js", headers={"Accept-Encoding": ae})
            self.assertEqual(r.header("content-encoding"), "gzip", ae)
            self.assertEqual(r.header("content-type"), "text/javascript; charset=utf-8")
            self.assertLess(len(r.body), len(self.big_js) // 10, ae)
            self.assertEqual(gzip.decompress(r.body), self.big_js, ae)
            self.assertNotEqual(r.header("etag"), plain.header("etag"), "each variant its tag")
        tagged = h.request(self.port, "/big.js", headers={"Accept-Encoding": "gzip",
                                                          "If-None-Match": r.header("etag")})
        self.assertEqual(tagged.status, 304)
        self.assertEqual(tagged.header("vary"), "Accept-Encoding")
        head = h.request(self.port, "/big.js", method="HEAD", headers={"Accept-Encoding": "gzip"})
        self.assertEqual((head.status, head.header("content-encoding"), head.body), (200, "gzip", b""))
        for ae in ("gzip;q=0", "gzip;Q=0", "gzip; level=1; q=0.0", "deflate", "br, identity",
                   "x-gzip2", "gzipx", ";;,,;gzip=1"):
            r = h.request(self.port, "/big.js", headers={"Accept-Encoding": ae})
            self.assertEqual((r.header("content-encoding"), r.body), (None, self.big_js), ae)
        r = h.request(self.port, "/stale.js", headers={"Accept-Encoding": "gzip"})
        self.assertEqual((r.header("content-encoding"), r.body), (None, b"new()"),
                         "a .gz older than its file is not served")
        r = h.request(self.port, "/app.js", headers={"Accept-Encoding": "gzip"})
        self.assertEqual((r.header("content-encoding"), r.body), (None, b"console.log(1)"),
                         "a .gz that leads out of the document root is not served")

    def test_cors(self):
        r = h.request(self.port, "/api/0/version")
        self.assertEqual(r.header("access-control-allow-origin"), "https://map.example")
        r = h.request(self.port, "/api/0/last", method="OPTIONS",
                      headers={"Origin": "https://map.example",
                               "Access-Control-Request-Method": "GET"})
        self.assertEqual(r.status, 204)
        self.assertIn("GET", r.header("access-control-allow-methods"))
        self.assertIn("X-Limit-User", r.header("access-control-allow-headers"))

    def test_static_files_are_read_only(self):
        r = h.request(self.port, "/index.html", method="POST", body=b"x")
        self.assertEqual(r.status, 405)


class HostileClients(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = h.Stack(["--http-timeout", "2", "--http-per-ip", "6",
                             "--http-max-body", "4096"])
        cls.port = cls.stack.server.http_port

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()

    def alive(self):
        r = h.request(self.port, "/api/0/version")
        self.assertEqual(r.status, 200, "the server keeps serving")

    def served(self):
        try:
            return h.request(self.port, "/api/0/version").status == 200
        except OSError:
            return False

    def test_oversized_body(self):
        r = h.request(self.port, "/pub", method="POST", body=b"x" * 5000)
        self.assertEqual(r.status, 413)
        self.assertIn("4096", r.json()["error"])
        out = raw(self.port, b"POST /pub HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                             b"Connection: close\r\n\r\n" +
                  b"".join(b"400\r\n" + b"y" * 1024 + b"\r\n" for _ in range(8)) + b"0\r\n\r\n")
        self.assertIn(b" 413 ", out.split(b"\r\n", 1)[0])
        self.alive()

    def test_oversized_headers(self):
        out = raw(self.port, b"GET /api/0/version HTTP/1.1\r\nHost: x\r\nX-Big: " +
                  b"a" * 100000 + b"\r\nConnection: close\r\n\r\n")
        status = out.split(b"\r\n", 1)[0]
        self.assertTrue(status == b"" or b" 431 " in status or b" 413 " in status or
                        b" 400 " in status, status)
        self.alive()

    def test_garbage_requests(self):
        for junk in (b"\x00\x01\x02\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                     b"GET /api/0/last?user=%% HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                     b"GET /api/0/last?user=%C0%AF HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"):
            raw(self.port, junk)
        out = raw(self.port, b"GET /api/0/last?user=%C0%AF HTTP/1.1\r\nHost: x\r\nConnection: close"
                             b"\r\n\r\n")
        self.assertIn(b" 400 ", out.split(b"\r\n", 1)[0], "invalid UTF-8 in a parameter")
        self.alive()

    def test_slow_clients_are_cut_off(self):
        s = socket.create_connection(("127.0.0.1", self.port))
        s.sendall(b"GET /api/0/version HTTP/1.1\r\nHost: x\r\n")  # and then nothing
        s.settimeout(120)  # a bound on the wait, not the measure: the server's is 2 s
        start = time.monotonic()
        self.assertEqual(s.recv(100), b"", "the server closes an idle half request")
        print("an idle half request (--http-timeout 2) was closed after %.2f s"
              % (time.monotonic() - start))
        s.close()
        self.alive()

    def test_connections_per_address_are_limited(self):
        held = [socket.create_connection(("127.0.0.1", self.port)) for _ in range(6)]
        try:
            extra = socket.create_connection(("127.0.0.1", self.port))
            extra.settimeout(5)
            extra.sendall(b"GET /api/0/version HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                got = extra.recv(100)
            except (ConnectionResetError, socket.timeout):
                got = b""
            self.assertFalse(got.startswith(b"HTTP/1.1 200"), "the 7th connection is refused")
            extra.close()
        finally:
            for s in held:
                s.close()
        # Served again once the server has seen the six go (not at once: it closes them in
        # its own time).
        h.wait_for(self.served, 20, "the address to be served again")


def wrk(port, path, connections, seconds=3):
    """Runs wrk (Debian's package); returns (requests, non-2xx, socket errors)."""
    out = subprocess.run(["wrk", "-t2", "-c%d" % connections, "-d%ds" % seconds, "--timeout",
                          "5s", "http://127.0.0.1:%d%s" % (port, path)],
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       out)
    return requests, int(non2xx.group(1)) if non2xx else 0, (
        sum(int(x) for x in errors.groups()) if errors else 0), out


def established_from(port, address):
    """Established TCP connections to port from address, as the kernel lists them (IPv4)."""
    want = "%08X" % int.from_bytes(socket.inet_aton(address), "little")
    n = 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            local, remote, state = line.split()[1:4]
            if state == "01" and int(local.split(":")[1], 16) == port and \
                    remote.split(":")[0] == want:
                n += 1
    return n


# packaging/dev arm leaves wrk out on armhf, where Debian's wrk dies with a bus error under
# qemu-user; everywhere else packaging/dev installs it.
@unittest.skipUnless(shutil.which("wrk"), "no wrk here (on armhf under qemu-user Debian's "
                     "wrk dies with a bus error, so packaging/dev arm leaves it out)")
class ManyConnections(unittest.TestCase):
    def test_thousands_of_connections_are_served(self):
        # Limits raised for the test: 2,000 clients at once from one address.
        stack = h.Stack(["--http-connections", "4000", "--http-per-ip", "0",
                         "--log-level", "info"])
        try:
            h.publish(stack.broker.port, [h.location("w", "phone", 1733000000)])
            h.sync(stack.broker.port, stack.storage)
            port = stack.server.http_port
            requests, non2xx, errors, out = wrk(port, "/api/0/last", 2000)
            print("wrk -c2000 -d3s /api/0/last: %d requests, %d non-2xx, %d socket errors"
                  % (requests, non2xx, errors))
            self.assertGreater(requests, 2000, out)
            self.assertEqual(non2xx, 0, out)
            self.assertEqual(h.request(port, "/api/0/version").status, 200)
        finally:
            stack.stop()

    def test_a_flood_from_one_address_leaves_room_for_others(self):
        # Default limits: 64 connections per address. wrk opens 1,000 from 127.0.0.1;
        # a client from 127.0.0.2 is still served meanwhile.
        stack = h.Stack(["--log-level", "info"])
        try:
            port = stack.server.http_port
            result = {}
            flood = threading.Thread(target=lambda: result.update(
                zip(("requests", "non2xx", "errors", "out"), wrk(port, "/api/0/last", 1000, 4))))
            flood.start()
            h.wait_for(lambda: established_from(port, "127.0.0.1") >= 64, 60,
                       "the flood to reach the per-address limit")
            t0 = time.monotonic()
            r = h.request(port, "/api/0/version", source="127.0.0.2", timeout=10)
            took = time.monotonic() - t0
            flood_went_on = flood.is_alive()
            flood.join()
            self.assertEqual(r.status, 200)
            self.assertTrue(flood_went_on, "the other address was served during the flood")
            print("wrk -c1000 from one address: %d served, %d refused or reset; another "
                  "address answered in %.3f s" % (result["requests"], result["errors"], took))
            self.assertGreater(result["errors"], 0, "connections beyond the limit are refused")

            # The flooding address is served again once the server has closed wrk's
            # connections (which takes a moment, longer under the sanitizers).
            def served():
                try:
                    return h.request(port, "/api/0/version").status == 200
                except OSError:
                    return False
            h.wait_for(served, 10, "the flooding address to be served again")
        finally:
            stack.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
