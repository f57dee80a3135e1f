"""Helpers for the benchmarks: private-memory sampling and timing."""
import os
import statistics
import threading
import time


def rss_anon_kb(pid):
    """Private anonymous memory (RssAnon): our heap and stacks, not LMDB's file-backed map
    pages, which are the page cache."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class MemorySampler:
    """Samples a process's RssAnon every `interval` seconds in a thread; .peak in KiB."""

    def __init__(self, pid, interval=0.005):
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            v = rss_anon_kb(self.pid)
            if v:
                self.peak = max(self.peak, v)
                self.samples += 1
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def median(values):
    return statistics.median(values)


def mib(kb):
    return kb / 1024.0


def cpu_seconds(pid):
    """User and system CPU time a process has used so far (/proc/PID/stat): on a shared
    machine it varies far less than a rate, which counts the time others take too."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_by_thread(pid):
    """CPU seconds so far of each named thread of a process (/proc/PID/task/*/stat), summed by
    name: wherelog names its threads wl-mqtt (which ingests and runs the event hook),
    wl-webhook, wl-geocoder; libmicrohttpd's are MHD-*; the others keep the process's name;
    the main thread is "main"."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                text = f.read()
        except OSError:
            continue  # ended meanwhile
        name = "main" if int(tid) == pid else text[text.index("(") + 1:text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        out[name] = out.get(name, 0) + (int(fields[11]) + int(fields[12])) / os.sysconf(
            "SC_CLK_TCK")
    return out


def publish_generated(n):
    """A backlog() publisher of wl-pub's n generated messages (8 devices' random walks)."""
    def publish(port):
        import harness as h
        report = h.publish(port, generate=n, extra=["--inflight", "1000"])
        _, user, device = report["last_topic"].split("/")
        return n, (user, device, report["last_tst"])
    return publish


def spread(values, fmt="%.0f"):
    """'median (min-max)' of a list of figures."""
    return (fmt + " (" + fmt + "-" + fmt + ")") % (statistics.median(values), min(values),
                                                   max(values))


def backlog(server_args, publish, last=None, settle=None, setup=None, report=None):
    """`wherelog serve` (server_args) draining a backlog, on a fresh store and broker: it
    subscribes once and stops; publish(broker_port) fills its persistent session and returns
    how many messages it published (or that and `last`); the server starts again and is timed until `last` (user,
    device, tst) is stored, so what is timed is wherelog alone, not the publisher; then, if
    given, until settle(server) is true (work that goes on after the commit: deliveries).
    setup(storage) runs before the first start; report(server) after the end, its dict merged
    into the result. Everything is stopped and removed on return. Returns a dict: rate
    (messages a second until stored), cpu_us (CPU microseconds of the server's threads but
    the main one, a message, until stored), cpu_settled_us (until settled), threads_us (cpu_settled_us by thread name), peak
    (RssAnon KiB until settled)."""
    import harness as h  # the benchmarks put tests/integration on the path
    work = h.Workdir()
    storage = work.file("store")
    broker = h.Broker(work, "max_inflight_messages 1000\nmax_queued_messages 0\n").start()
    server = None
    try:
        if setup:
            setup(storage)
        server = h.Server(work, storage, broker.port,
                          ["--log-level", "info"] + list(server_args)).start()
        server.stop()  # its persistent session now holds what is published
        n = publish(broker.port)
        if isinstance(n, tuple):
            n, last = n
        user, device, tst = last
        want = '"tst":%d' % tst
        t0 = time.monotonic()
        server.start(wait_subscribed=False)
        pid = server.proc.pid
        # The main thread opens the store and starts the others (some 50 ms of CPU, 3 % of
        # the run), then waits for signals: its time is left out.
        def cpu_now():
            return sum(v for k, v in cpu_by_thread(pid).items() if k != "main")
        cpu0 = cpu_now()
        threads0 = cpu_by_thread(pid)
        with MemorySampler(pid) as mem:
            while want not in h.cli(storage, "last", "--user", user, "--device", device,
                                    check=False).stdout:
                time.sleep(0.005)
            took = time.monotonic() - t0
            cpu_stored = cpu_now() - cpu0
            cpu_settled = cpu_stored
            if settle:
                h.wait_for(lambda: settle(server), 900, "the server to settle")
                cpu_settled = cpu_now() - cpu0
        threads = cpu_by_thread(pid)
        result = dict(rate=n / took, cpu_us=cpu_stored / n * 1e6,
                      cpu_settled_us=cpu_settled / n * 1e6, peak=mem.peak, n=n,
                      threads_us={k: (v - threads0.get(k, 0)) / n * 1e6
                                  for k, v in threads.items()})
        if report:
            result.update(report(server))
        return result
    finally:
        if server:
            server.stop()
        broker.stop()
        work.remove()
