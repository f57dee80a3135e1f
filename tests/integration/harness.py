"""Integration-test harness: a real mosquitto on a free loopback port, a real
`wherelog serve` on a temporary store, and helpers to publish and to run the CLI.

Environment (set by tests/meson.build): WHERELOG_BIN, WL_PUB, WHERELOG_FIXTURES.
"""
import atexit
import base64
import ctypes
import ctypes.util
import glob
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time

WHERELOG = os.environ["WHERELOG_BIN"]
WL_PUB = os.environ["WL_PUB"]
WL_FILL = os.environ.get("WL_FILL", os.path.join(os.path.dirname(WL_PUB), "wl-fill"))
FIXTURES = os.environ["WHERELOG_FIXTURES"]
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
SENTINEL_USER = "zz-sentinel"
WEB_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "web")


def preload_faketime(env, lib):
    """Sets env up so that the processes started with it load libfaketime (lib) first. An
    ASan build then runs too: only its check that it comes first must be turned off."""
    env["LD_PRELOAD"] = lib
    asan = env.get("ASAN_OPTIONS")
    env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "verify_asan_link_order=0"


# `packaging/dev test --faketime DATE` sets WHERELOG_FAKETIME_LIB (libfaketime) and FAKETIME
# (an offset in seconds): every process a test starts then sees its wall clock shifted. Python
# itself stays on the real clock, since under libfaketime 0.9.10 its sleeps fail with EINVAL
# (the library shifts clock_nanosleep's monotonic deadlines even when told to leave that
# clock alone); now() is the shifted clock.
_FAKETIME_LIB = os.environ.get("WHERELOG_FAKETIME_LIB")
if _FAKETIME_LIB:
    preload_faketime(os.environ, _FAKETIME_LIB)
CLOCK_OFFSET = int(os.environ.get("FAKETIME", "0")) if _FAKETIME_LIB else 0


def now():
    """Epoch seconds on the clock of the processes the tests start: what wherelog calls now."""
    return time.time() + CLOCK_OFFSET


def faketime_lib():
    """libfaketime's path (Debian package faketime), or None."""
    if _FAKETIME_LIB:
        return _FAKETIME_LIB
    found = glob.glob("/usr/lib/*/faketime/libfaketime.so.1")
    return found[0] if found else None


def real_clock_env():
    """The environment for a process that must see the real clock, as this one does: e.g.
    openssl making a certificate that Python's ssl module checks."""
    env = dict(os.environ)
    if _FAKETIME_LIB:
        env.pop("LD_PRELOAD", None)
    return env


# Every process started here, so that a failing test never leaves a broker or a server behind.
_children = []


@atexit.register
def _kill_children():
    for p in _children:
        if p.poll() is None:
            p.kill()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Under emulation (packaging/dev arm runs the suite under qemu-user) everything takes many
# times longer: WHERELOG_TEST_WAIT_SCALE multiplies how long a test waits for something to
# happen before giving up. Waiting longer never makes a failing test pass.
WAIT_SCALE = float(os.environ.get("WHERELOG_TEST_WAIT_SCALE", "1"))


def wait_for(predicate, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout * WAIT_SCALE
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


class Workdir:
    def __init__(self):
        self.path = tempfile.mkdtemp(prefix="wherelog-it-")

    def file(self, name):
        return os.path.join(self.path, name)

    def remove(self):
        shutil.rmtree(self.path, ignore_errors=True)


class Broker:
    """mosquitto on 127.0.0.1:<free port>, anonymous, queueing generously for offline
    persistent sessions (its default of 1000 queued messages would drop points)."""

    def __init__(self, workdir, extra_conf="", persistent=False, global_conf=""):
        self.port = free_port()
        self.conf = workdir.file("mosquitto-%d.conf" % self.port)
        self.logfile = workdir.file("mosquitto-%d.log" % self.port)
        persistence = "persistence false\n"
        if persistent:  # sessions and queued messages survive a broker restart
            db = workdir.file("mosquitto-%d-db" % self.port)
            os.makedirs(db, exist_ok=True)
            persistence = "persistence true\npersistence_location %s/\n" % db
        # Started as root, mosquitto would switch to its own user, which cannot write into
        # the test's private directory.
        user = "user root\n" if os.geteuid() == 0 else ""
        with open(self.conf, "w") as f:
            f.write(user + global_conf + "listener %d 127.0.0.1\nallow_anonymous true\n%s"
                    "max_queued_messages 1000000\n%s\n" % (self.port, persistence, extra_conf))
        self.proc = None

    def start(self):
        self.log = open(self.logfile, "a")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", self.conf], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        _children.append(self.proc)

        def accepting():
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return True
            except OSError:
                return False
        wait_for(accepting, 10, "mosquitto to listen")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


class Server:
    """`wherelog serve` on a store, logging at debug level into a file."""

    def __init__(self, workdir, storage, broker_port, extra_args=()):
        self.workdir = workdir
        self.storage = storage
        self.broker_port = broker_port
        self.http_port = free_port()
        self.extra_args = list(extra_args)
        self.logfile = workdir.file("serve.log")
        self.proc = None
        self.offset = 0
        self.preexec_fn = None  # run in the child before exec, e.g. to set a resource limit
        self.env = None  # the environment to start it with; None: this process's

    def start(self, wait_subscribed=True):
        self.log = open(self.logfile, "a")
        self.offset = os.path.getsize(self.logfile)
        # WHERELOG_WRAPPER runs the server under a tool, e.g. "valgrind --leak-check=full".
        wrapper = os.environ.get("WHERELOG_WRAPPER", "").split()
        args = wrapper + [WHERELOG, "serve", "--storage", self.storage, "--mqtt-host", "127.0.0.1",
                "--mqtt-port", str(self.broker_port), "--http-port", str(self.http_port),
                "--docroot", WEB_DIR, "--log-level", "debug",
                "--log-rejections", "0"] + self.extra_args
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     preexec_fn=self.preexec_fn, env=self.env)
        _children.append(self.proc)
        if wait_subscribed:
            # "storing into" is logged once HTTP listens too; the MQTT thread may subscribe
            # before that, and a test's first request would be refused.
            def up(log):
                return "subscribed to" in log and "serve: storing into" in log
            wait_for(lambda: up(self.new_log()) or self.proc.poll() is not None,
                     20, "wherelog to subscribe and listen")
            if self.proc.poll() is not None:
                raise AssertionError("wherelog exited:\n" + self.log_text())
        return self

    def wait_http(self, timeout=20, tls_ca=None):
        """Until the HTTP server answers (any status: it may want a sign-in)."""
        def up():
            try:
                request(self.http_port, "/api/0/version", timeout=2, tls_ca=tls_ca)
                return True
            except OSError:
                return False
        wait_for(up, timeout, "the HTTP server")

    def log_text(self):
        with open(self.logfile, encoding="utf-8", errors="replace") as f:
            return f.read()

    def new_log(self):
        """Log written since the last start."""
        with open(self.logfile, "rb") as f:
            f.seek(self.offset)
            return f.read().decode("utf-8", "replace")

    def stop(self, sig=signal.SIGTERM, timeout=None):
        if timeout is None:  # a tool wrapping the server makes it slower to stop
            timeout = 120 if os.environ.get("WHERELOG_WRAPPER") else 15
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.proc.wait(timeout * WAIT_SCALE)
        self.proc = None
        check_sanitizers("wherelog serve", self.new_log())
        return rc


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")
# valgrind (through WHERELOG_WRAPPER): any error, or memory definitely or indirectly lost.
VALGRIND_PROBLEMS = re.compile(r"ERROR SUMMARY: [1-9]|(definitely|indirectly) lost: [1-9]")


def check_sanitizers(what, output):
    """Under -Db_sanitize the suite fails on any sanitizer report, wherever it appears; under
    valgrind, on any error or leak it reports."""
    for mark in SANITIZER_MARKS:
        if mark in output:
            raise AssertionError("%s: sanitizer report:\n%s" % (what, output[-4000:]))
    if VALGRIND_PROBLEMS.search(output):
        raise AssertionError("%s: valgrind report:\n%s" % (what, output[-6000:]))


class Stack:
    """A work directory, a broker and a wherelog server on a fresh store: what most tests
    start from. stop() tears it all down."""

    def __init__(self, server_args=(), broker_conf="", start_server=True, storage=None,
                 persistent_broker=False):
        self.dir = Workdir()
        self.storage = storage or self.dir.file("store")
        self.broker = Broker(self.dir, broker_conf, persistent_broker).start()
        self.server = Server(self.dir, self.storage, self.broker.port, server_args)
        if start_server:
            self.server.start()

    def stop(self):
        self.server.stop()
        self.broker.stop()
        self.dir.remove()


class HeldRelay:
    """A TCP relay between wherelog and the broker. What wherelog sends passes at once; what
    the broker sends passes freely until hold(), then only as far as allow() says, and the
    rest waits in the broker. So a test, not the machine's speed, decides how much of a stream
    wherelog has received when something happens to it."""

    def __init__(self, broker_port):
        self.broker_port = broker_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cond = threading.Condition()
        self.passed = 0         # bytes passed from the broker to wherelog
        self.allowance = None   # None: no limit; else pass while passed < allowance
        self.closed = False
        self.sockets = []
        threading.Thread(target=self._accept, daemon=True).start()

    def hold(self):
        with self.cond:
            self.allowance = self.passed

    def allow(self, nbytes):
        with self.cond:
            self.allowance += nbytes
            self.cond.notify_all()

    def release(self):
        """Passes everything from now on."""
        with self.cond:
            self.allowance = None
            self.cond.notify_all()

    def close(self):
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        self.listener.close()
        for s in self.sockets:
            _cut(s)

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # closed
                return
            broker = socket.create_connection(("127.0.0.1", self.broker_port))
            self.sockets += [client, broker]
            threading.Thread(target=self._up, args=(client, broker), daemon=True).start()
            threading.Thread(target=self._down, args=(broker, client), daemon=True).start()

    def _up(self, client, broker):
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                broker.sendall(data)
        except OSError:
            pass
        with self.cond:  # wherelog has gone: so has its connection to the broker
            _cut(broker)
            _cut(client)
            self.cond.notify_all()

    def _down(self, broker, client):
        try:
            while True:
                with self.cond:
                    while not self.closed and client.fileno() >= 0 and (
                            self.allowance is not None and self.passed >= self.allowance):
                        self.cond.wait()
                    if self.closed or client.fileno() < 0:
                        break
                    room = 65536 if self.allowance is None else self.allowance - self.passed
                data = broker.recv(min(room, 65536))
                if not data:
                    break
                client.sendall(data)
                with self.cond:
                    self.passed += len(data)
        except OSError:
            pass
        _cut(client)  # the broker has gone: wherelog is to notice


def _cut(sock):
    """Closes a socket, waking a thread blocked reading it (close() alone does not)."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        return json.loads(self.body)

    @property
    def text(self):
        return self.body.decode("utf-8")


def basic(user, password):
    """An Authorization header value for HTTP Basic."""
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def request(port, path, method="GET", body=None, headers=None, timeout=30, auth=None,
            source=None, tls_ca=None):
    """One HTTP request to the server; never raises on an HTTP error status. auth: (user,
    password) for HTTP Basic; source: the client address to connect from (127.0.0.x);
    tls_ca: speak HTTPS, trusting this CA file."""
    headers = dict(headers or {})
    if auth:
        headers["Authorization"] = basic(*auth)
    src = (source, 0) if source else None
    if tls_ca:
        ctx = ssl.create_default_context(cafile=tls_ca)
        conn = http.client.HTTPSConnection("localhost", port, timeout=timeout, context=ctx,
                                           source_address=src)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=src)
    try:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


def live_streams(port, **request_args):
    """The live streams (SSE and WebSocket) the server counts, from /metrics: a point stored
    before a stream is registered is not news to it."""
    text = request(port, "/metrics", **request_args).text
    return int(re.search(r"^wherelog_live_clients (\d+)$", text, re.M).group(1))


def cli(storage, *args, check=True, stdin=None):
    r = subprocess.run([WHERELOG] + list(args) + ["--storage", storage], input=stdin,
                       capture_output=True, text=True, timeout=120)
    check_sanitizers("wherelog " + " ".join(args), r.stderr)
    if check and r.returncode != 0:
        raise AssertionError("wherelog %s failed (%d): %s" % (" ".join(args), r.returncode,
                                                              r.stderr))
    return r


def publish(port, lines=None, generate=None, qos=1, retain=False, extra=()):
    """Publishes fixture-format lines (dicts) or generated locations; returns wl-pub's
    report once the broker has acknowledged everything."""
    args = [WL_PUB, "--port", str(port), "--qos", str(qos)] + list(extra)
    if retain:
        args.append("--retain")
    if generate:
        args += ["--generate", str(generate)]
    data = "".join(json.dumps(l) + "\n" for l in lines) if lines is not None else ""
    r = subprocess.run(args, input=data.encode(), capture_output=True, timeout=600)
    if r.returncode != 0:
        raise AssertionError("wl-pub failed: " + r.stderr.decode())
    return json.loads(r.stdout)


def location(user, device, tst, **fields):
    payload = {"_type": "location", "lat": 48.85, "lon": 2.29, "tst": tst}
    payload.update(fields)
    return {"topic": "owntracks/%s/%s" % (user, device), "payload": json.dumps(payload)}


# The newest sentinel tst this process has published (see sync()).
_last_sentinel = 0
# Sentinels count up from here (2001-09-09): wherelog checks a tst's range, never against its
# clock, so this is a valid tst on any date.
SENTINEL_FIRST_TST = 1000000000


def newest_sentinel(storage):
    """The tst of the newest sentinel stored in storage, or 0."""
    r = cli(storage, "last", "--user", SENTINEL_USER, check=False)
    if r.returncode != 0:
        return 0
    return max((p["tst"] for p in json.loads(r.stdout)), default=0)


def sync(port, storage, timeout=60):
    """Publishes a sentinel point after everything else and waits until wherelog has stored
    it: the broker delivers in order, so everything before it is stored too.

    Each sentinel's tst is one more than both the newest sentinel in the store and any this
    process published before (one may still be on its way): the store keeps the first point
    for a tst, so a repeated tst would be found at once, and `last` shows only the newest.
    The clock plays no part, so this holds on any date."""
    global _last_sentinel
    tst = max(_last_sentinel, newest_sentinel(storage), SENTINEL_FIRST_TST - 1) + 1
    _last_sentinel = tst
    publish(port, [location(SENTINEL_USER, "sync", tst)])

    def done():
        return newest_sentinel(storage) == tst
    wait_for(done, timeout, "wherelog to catch up (sentinel tst %d)" % tst)


def export(storage, user, device, fmt="json", *extra):
    r = cli(storage, "export", "--user", user, "--device", device, "--format", fmt, *extra)
    return json.loads(r.stdout) if fmt in ("json", "geojson") else r.stdout


def load_fixtures(name):
    rows = []
    with open(os.path.join(FIXTURES, name), "rb") as f:
        for n, line in enumerate(f, 1):
            row = json.loads(line)
            row["line"] = n
            if "payload_b64" in row:
                row["raw"] = base64.b64decode(row["payload_b64"])
            else:
                row["raw"] = row["payload"].encode("utf-8", "surrogatepass")
            rows.append(row)
    return rows


def topic_owner(topic):
    t = topic[1:] if topic.startswith("/") else topic
    levels = t.split("/")
    return levels[1].lower(), levels[2].lower()


_sodium = None


def _libsodium():
    global _sodium
    if _sodium is None:
        _sodium = ctypes.CDLL(ctypes.util.find_library("sodium") or "libsodium.so.23")
        _sodium.sodium_init()
    return _sodium


def encrypt(secret, plain):
    """OwnTracks secretbox encryption (protocol §8), as an app does: base64 of nonce + box."""
    key = secret.encode()[:32].ljust(32, b"\0")
    nonce = os.urandom(24)
    out = ctypes.create_string_buffer(len(plain) + 16)
    rc = _libsodium().crypto_secretbox_easy(out, plain, ctypes.c_ulonglong(len(plain)), nonce,
                                            key)
    assert rc == 0
    return base64.b64encode(nonce + out.raw).decode()


def decrypt(secret, data):
    """OwnTracks secretbox decryption (protocol §8) through the system's libsodium."""
    _sodium = _libsodium()
    blob = base64.b64decode(data)
    key = secret.encode()[:32].ljust(32, b"\0")
    out = ctypes.create_string_buffer(len(blob) - 40)
    box = blob[24:]
    rc = _sodium.crypto_secretbox_open_easy(out, box, ctypes.c_ulonglong(len(box)), blob[:24],
                                            key)
    if rc != 0:
        return None
    return out.raw
