"""The year at a glance and the heat grid (issue 14): how long they take and, for the grid, how
many bytes it sends.

- A year summary (GET /api/0/summary) of one device with 366 generated days of 2024
  (tests/tools/dayfaker.py, "mixed": three days in four in move mode, the rest sparse); the
  move days are thinned to every BENCH_THIN-th fix so that the year holds some 50,000 points,
  the size issue 13 calls a year of one device. Imported as a Recorder store, the timeline
  computed at the import's end. Target (issue 14): under 20 ms.
- The heat grid (GET /api/0/heat) of a year of 500,000 points (wl-fill: a random walk, a point
  every 63 s) at a few zooms, whole year, and with a city-sized bbox. Target: under 50 ms and
  under 200 KB on the wire. With BENCH_BEFORE_BIN (a wherelog built from before the counts were
  kept, e.g. main's build-release/wherelog), the same requests again from that server on the
  same store: what reading the points cost.
- wl-heatbench (tests/tools/wl_heatbench.c) on the same year in this process: the grid from the
  counts and from the points (CPU ms), the CPU a message that keeping the counts adds at ingest
  (against deferring them, in the same run), and the counts' size for the year.

Times are curl's total for one request over loopback (the server's work plus HTTP), the median
of BENCH_RUNS. Environment: WHERELOG_BIN, WL_FILL (default build-release), BENCH_THIN (40),
BENCH_RUNS (10), BENCH_KEEP (a directory: the stores are made there and kept), BENCH_BEFORE_BIN,
WL_HEATBENCH (default build-release). Prints figures; never fails on them.
"""
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "tools"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
os.environ.setdefault("WHERELOG_BIN", os.path.join(ROOT, "build-release", "wherelog"))
os.environ.setdefault("WL_FILL", os.path.join(ROOT, "build-release", "tests", "wl-fill"))
os.environ.setdefault("WL_PUB", os.path.join(ROOT, "build-release", "tests", "wl-pub"))
os.environ.setdefault("WL_HEATBENCH", os.path.join(ROOT, "build-release", "tests",
                                                   "wl-heatbench"))
os.environ.setdefault("WHERELOG_FIXTURES", os.path.join(ROOT, "tests", "fixtures", "owntracks"))
import dayfaker  # noqa: E402
import harness as h  # noqa: E402

THIN = int(os.environ.get("BENCH_THIN", "40"))
RUNS = int(os.environ.get("BENCH_RUNS", "10"))
YEAR_2024 = 1704067200


def curl_time(port, path):
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{time_total} %{size_download}",
                          "http://127.0.0.1:%d%s" % (port, path)], capture_output=True, text=True,
                         check=True).stdout.split()
    return float(out[0]), int(out[1])


SERVER_PID = None


def cpu_seconds(pid):
    """User + system CPU time of a process so far (clock ticks of /proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(port, path):
    """Median wall time and bytes of RUNS requests; and the server's CPU time a request, which
    other work on a busy machine inflates far less than the wall time."""
    curl_time(port, path)  # warm
    before = cpu_seconds(SERVER_PID)
    runs = [curl_time(port, path) for _ in range(RUNS)]
    timed.cpu = (cpu_seconds(SERVER_PID) - before) / RUNS
    return statistics.median(r[0] for r in runs), runs[0][1]


def write_recorder_store(root, user, device):
    """366 days of 2024 as a Recorder store; returns the number of points."""
    d = os.path.join(root, "rec", user, device)
    os.makedirs(d)
    files, n = {}, 0
    for i in range(366):
        day = dayfaker.make_day("bench-summary", i, "mixed")
        msgs = list(day.messages())
        if day.mode == "move":
            msgs = msgs[::THIN]
        for m in msgs:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(m["tst"]))
            f = files.get(stamp[:7])
            if f is None:
                f = files[stamp[:7]] = open(os.path.join(d, stamp[:7] + ".rec"), "w")
            f.write("%s\t*                 \t%s\n" % (stamp, json.dumps(m)))
            n += 1
    for f in files.values():
        f.close()
    return n


def main():
    keep = os.environ.get("BENCH_KEEP")
    work = keep or tempfile.mkdtemp(prefix="wherelog-bench-summary-")
    storage = os.path.join(work, "store")
    t0 = time.monotonic()
    points = write_recorder_store(os.path.join(work, "recorder"), "ann", "phone")
    made = time.monotonic() - t0
    h.cli(storage, "import", "recorder", os.path.join(work, "recorder"))
    subprocess.run([os.environ["WL_FILL"], storage, "heat", "phone", "500000", str(YEAR_2024),
                    "63"], check=True)
    print("summary and heat (issue 14): %d generated points in 366 days (made in %.0f s), "
          "500,000 filled points" % (points, made))
    stack = h.Stack(storage=storage)
    global SERVER_PID
    SERVER_PID = stack.server.proc.pid
    print("  (wall: curl's median; cpu: the server's CPU time a request, in 10 ms ticks, so"
          " +-%.0f ms)" % (1000 / os.sysconf("SC_CLK_TCK") / RUNS))
    try:
        port = stack.server.http_port
        t, size = timed(port, "/api/0/summary?user=ann&year=2024")
        body = json.loads(h.request(port, "/api/0/summary?user=ann&year=2024").body)
        print("  year summary            %6.1f ms (cpu %5.1f)  %6.1f KB  (target < 20 ms): %d days,"
              " %.0f km, %d countries, %d cities, %d stays" % (
                  t * 1000, timed.cpu * 1000, size / 1e3, body["days"], body["distance"] / 1000,
                  len(body["countries"]), len(body["cities"]), body["stays"]))
        t, size = timed(port, "/api/0/days?user=ann&device=phone&from=2024-01-01&to=2024-12-31")
        print("  (the year's day figures %6.1f ms, what the summary reads first)" % (t * 1000))
        heat_figures(port, "")
        t, size = timed(port, "/api/0/heat?user=ann&zoom=10")
        print("  heat of the generated year, zoom 10  %6.1f ms  %7.1f KB" % (t * 1000, size / 1e3))
    finally:
        stack.stop()
    try:
        before = os.environ.get("BENCH_BEFORE_BIN")
        if before:
            h.WHERELOG = before
            stack = h.Stack(storage=storage)
            SERVER_PID = stack.server.proc.pid
            try:
                heat_figures(stack.server.http_port, "before: ")
            finally:
                stack.stop()
        heatbench(work)
    finally:
        if not keep:
            subprocess.run(["rm", "-rf", work])


def heat_figures(port, label):
    """The heat grid of the filled year at a few zooms, and of a map's view."""
    for zoom in (4, 8, 12, 15):
        t, size = timed(port, "/api/0/heat?user=heat&zoom=%d&from=2024-01-01&to=2024-12-31"
                        % zoom)
        cells = len(json.loads(h.request(
            port, "/api/0/heat?user=heat&zoom=%d" % zoom).body)["cells"]) // 3
        print("  %sheat, 500,000 points, zoom %2d  %6.1f ms (cpu %5.1f)  %7.1f KB  %6d cells  "
              "(target < 50 ms, < 200 KB)" % (label, zoom, t * 1000, timed.cpu * 1000,
                                              size / 1e3, cells))
    # what the map asks for: the view's bounds (a 1600 x 1000 pixel window on the data)
    for zoom in (12, 15, 17):
        half_w = 800 / (256 * 2 ** zoom) * 360
        half_h = half_w * math.cos(math.radians(48.85)) * 1000 / 1600
        box = "%.6f,%.6f,%.6f,%.6f" % (2.29 - half_w, 48.85 - half_h, 2.29 + half_w,
                                       48.85 + half_h)
        t, size = timed(port, "/api/0/heat?user=heat&zoom=%d&bbox=%s" % (zoom, box))
        print("  %sheat, zoom %2d, a 1600x1000 view  %6.1f ms (cpu %5.1f)  %7.1f KB" % (
            label, zoom, t * 1000, timed.cpu * 1000, size / 1e3))


def heatbench(work):
    """wl-heatbench's figures: reading from the counts and from the points in one process, the
    ingest cost of keeping the counts, and their size."""
    d = os.path.join(work, "heatbench")
    os.makedirs(d)
    out = subprocess.run([os.environ["WL_HEATBENCH"], d], capture_output=True, text=True,
                         check=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    print("wl-heatbench: the same year in one process (CPU ms, median of 9)")
    for z in r["read"]:
        if z.get("too_many"):
            print("  zoom %2d  more than HEAT_CELLS_MAX cells" % z["zoom"])
            continue
        print("  zoom %2d  from the counts %6.1f ms, from the points %6.1f ms  %6d cells"
              "  %7.1f KB%s" % (z["zoom"], z["counts_ms"], z["points_ms"], z["cells"],
                                z["json_bytes"] / 1e3, "" if z["same"] else "  (DIFFER!)"))
    print("  ingest, %d messages in batches of %d: %.2f us CPU a message keeping the counts,"
          " %.2f us deferring them (+%.2f us, %+.0f%%)" % (
              r["ingest_messages"], r["ingest_batch"], r["ingest_us_kept"],
              r["ingest_us_deferred"], r["ingest_us_kept"] - r["ingest_us_deferred"],
              100 * (r["ingest_us_kept"] / r["ingest_us_deferred"] - 1)))
    print("  size for the year: heat tables %.2f MB, points %.2f MB (%.1f%%)" % (
        r["heat_bytes"] / 1e6, r["points_bytes"] / 1e6,
        100 * r["heat_bytes"] / r["points_bytes"]))


if __name__ == "__main__":
    main()
