"""Export benchmark (issue 2): `wherelog export` of one device's year (at least 50,000
points) in each format, median of 3 runs, in points per second; and the private memory
(RssAnon) of the export process for a month and for the whole year, which must not grow
with the range."""
import os
import subprocess
import time

import benchlib as b
import harness as h

N = int(os.environ.get("BENCH_MESSAGES", "200000"))


def build_store(work):
    storage = work.file("store")
    broker = h.Broker(work, "max_inflight_messages 1000\nmax_queued_messages 0\n").start()
    server = h.Server(work, storage, broker.port, ["--log-level", "info"]).start()
    report = h.publish(broker.port, generate=N, extra=["--inflight", "1000"])
    _, user, device = report["last_topic"].split("/")
    want = '"tst":%d' % report["last_tst"]
    while want not in h.cli(storage, "last", "--user", user, "--device", device).stdout:
        time.sleep(0.02)
    server.stop()
    broker.stop()
    return storage


def export(storage, fmt, *args):
    """Runs one export to /dev/null; returns (seconds, peak RssAnon KiB)."""
    cmd = [h.WHERELOG, "export", "--storage", storage, "--user", "user1", "--device",
           "phone1", "--format", fmt, "--output", "/dev/null"] + list(args)
    t0 = time.monotonic()
    p = subprocess.Popen(cmd)
    with b.MemorySampler(p.pid, interval=0.0005) as mem:
        p.wait()
    took = time.monotonic() - t0
    if p.returncode:
        raise SystemExit("export failed")
    return took, mem.peak


def main():
    work = h.Workdir()
    storage = build_store(work)
    points = len(h.cli(storage, "export", "--user", "user1", "--device", "phone1", "--format",
                       "csv").stdout.splitlines()) - 1
    print("export benchmark: user1/phone1 holds %d points over a year" % points)
    for fmt in ("gpx", "json", "geojson", "csv"):
        runs = [export(storage, fmt) for _ in range(3)]
        t = b.median([r[0] for r in runs])
        print("  %-8s %6.1f ms  %5.2f M points/s  peak RssAnon %.2f MiB" % (
            fmt, t * 1000, points / t / 1e6, b.mib(max(r[1] for r in runs))))
    month = export(storage, "gpx", "--from", "2024-03-01", "--to", "2024-03-31")
    year = export(storage, "gpx")
    print("  RssAnon, gpx: one month %.2f MiB, the year %.2f MiB (the process, whole run)"
          % (b.mib(month[1]), b.mib(year[1])))
    size = os.path.getsize(os.path.join(storage, "data.mdb"))
    print("  store: %d bytes for %d points = %.1f bytes/point" % (size, N, size / N))
    work.remove()


if __name__ == "__main__":
    main()
