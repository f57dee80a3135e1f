"""HTTP API benchmark (issue 3), against a real `wherelog serve`:
- a year of one device (50,000 points) from /api/0/locations in each format, median of 3;
- /api/0/last for 8 devices, and its throughput with `wrk -t2 -c16`;
- MQTT ingest rate while full-year GPX downloads run in a loop, against the idle rate;
- the server's private memory (RssAnon) throughout, and for a 10-point versus a
  1,000,000-point download.
The store is filled directly (tests/tools/wl-fill) with 200,000 points on 8 devices.
Reference (OwnTracks Recorder on the same workload, from the issue): 0.21 s for the year as
GPX, 0.28 s as JSON, 190 MB RSS; /api/0/last at about 1,100 requests/s."""
import os
import re
import subprocess
import threading
import time

import benchlib as b
import harness as h

WL_FILL = os.path.join(os.path.dirname(h.WHERELOG), "tests", "wl-fill")
YEAR = 1704067200  # 2024-01-01


def fill(storage, user, device, count, start=YEAR, step=60):
    subprocess.run([WL_FILL, storage, user, device, str(count), str(start), str(step)],
                   check=True, stderr=subprocess.DEVNULL)


def curl_time(port, path):
    """Seconds and bytes for one download (curl, body discarded)."""
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{time_total} %{size_download}",
                          "http://127.0.0.1:%d%s" % (port, path)], capture_output=True, text=True,
                         check=True).stdout.split()
    return float(out[0]), int(out[1])


def ingest_rate(broker_port, storage, n, start):
    """Publishes n new points and returns messages per second until all are committed."""
    t0 = time.monotonic()
    report = h.publish(broker_port, generate=n, extra=["--inflight", "1000", "--start",
                                                       str(start), "--seed", str(start)])
    _, user, device = report["last_topic"].split("/")
    want = '"tst":%d' % report["last_tst"]
    while want not in h.cli(storage, "last", "--user", user, "--device", device).stdout:
        time.sleep(0.005)
    return n / (time.monotonic() - t0)


def main():
    work = h.Workdir()
    storage = work.file("store")
    fill(storage, "user1", "phone1", 50000, YEAR, 630)  # a year, every 10.5 minutes
    for i in range(2, 9):
        fill(storage, "user%d" % i, "phone", 150000 // 7, YEAR, 1470)
    broker = h.Broker(work, "max_inflight_messages 1000\nmax_queued_messages 0\n").start()
    server = h.Server(work, storage, broker.port, ["--log-level", "warn"])
    server.start(wait_subscribed=False)
    port = server.http_port
    server.wait_http()

    with b.MemorySampler(server.proc.pid, 0.01) as mem:
        print("API benchmark: 200,000 points, user1/phone1 holds 50,000 over 2024")
        year = "/api/0/locations?user=user1&device=phone1&from=2024-01-01&to=2024-12-31"
        ref = {"gpx": 0.21, "json": 0.28}
        for fmt in ("gpx", "json", "geojson", "csv"):
            runs = [curl_time(port, year + "&format=" + fmt) for _ in range(3)]
            t = b.median([r[0] for r in runs])
            vs = "  %.0fx faster than the Recorder" % (ref[fmt] / t) if fmt in ref else ""
            print("  year as %-8s %6.1f ms  %5.1f MB%s" % (fmt, t * 1000, runs[0][1] / 1e6, vs))
        # The timeline's read side (issue 13: a day's timeline and a year of day figures in
        # under 5 ms each from a warm store; curl's time includes the connection).
        day = "/api/0/timeline?user=user1&device=phone1&from=2024-06-12&to=2024-06-12"
        for what, path in (
                ("a day's timeline", day),
                ("the day as GeoJSON", day + "&format=geojson"),
                ("a year of day figures", "/api/0/days?user=user1&device=phone1&from=2024-01-01"
                 "&to=2024-12-31"),
                ("the year by month", "/api/0/days?user=user1&device=phone1&group=month"),
                ("where at T", "/api/0/at?user=user1&device=phone1&t=2024-06-12T12:00Z")):
            curl_time(port, path)  # warm
            runs = [curl_time(port, path) for _ in range(5)]
            print("  %-22s %6.2f ms  %7d bytes" % (what, b.median([r[0] for r in runs]) * 1000,
                                                   runs[0][1]))
        runs = [curl_time(port, "/api/0/last") for _ in range(3)]
        print("  /api/0/last       %6.2f ms  (8 devices)" % (b.median([r[0] for r in runs]) * 1000))

        out = subprocess.run(["wrk", "-t2", "-c16", "-d5s", "http://127.0.0.1:%d/api/0/last" % port],
                             capture_output=True, text=True).stdout
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        print("  wrk -t2 -c16 /api/0/last: %.0f requests/s (%.0fx the Recorder's 1,100)"
              % (rps, rps / 1100))

        idle = ingest_rate(broker.port, storage, 50000, 1735689600)
        stop = threading.Event()
        downloads = [0]

        def download_loop():
            while not stop.is_set():
                curl_time(port, year + "&format=gpx")
                downloads[0] += 1
        loops = [threading.Thread(target=download_loop)]
        for t in loops:
            t.start()
        time.sleep(0.5)
        busy = ingest_rate(broker.port, storage, 50000, 1767225600)
        stop.set()
        for t in loops:
            t.join()
        print("  MQTT ingest idle %.0f msg/s; during %d full-year GPX downloads in a loop "
              "%.0f msg/s: ratio %.2f" % (idle, downloads[0], busy, busy / idle))
    print("  server RssAnon peak over all of the above: %.1f MiB" % b.mib(mem.peak))

    fill(storage, "big", "phone", 1000000, YEAR, 30)
    fill(storage, "small", "phone", 10, YEAR, 30)
    for who, n in (("small", 10), ("big", 1000000)):
        with b.MemorySampler(server.proc.pid, 0.005) as m:
            t, size = curl_time(port, "/api/0/locations?user=%s&device=phone&from=0&format=gpx"
                                % who)
        print("  %7d points as GPX: %6.0f ms, %6.1f MB, server RssAnon peak %.1f MiB"
              % (n, t * 1000, size / 1e6, b.mib(m.peak)))
    server.stop()
    broker.stop()
    work.remove()


if __name__ == "__main__":
    main()
