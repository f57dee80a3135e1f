"""The timeline kept in the store (issue 13): what it costs at ingest and how fast it reads.

1. MQTT ingest with the timeline kept as points arrive (timeline-ingest=true, the default)
   against the same server only noting what changed (timeline-ingest=false), in this run,
   alternating, best of each. Each run is a backlog: wherelog subscribes while a stream waits
   in the broker, so what is timed is wherelog itself. Two streams:
   - "days": generated labelled days of one phone (tests/tools/dayfaker.py, move and
     significant-changes modes), what a timeline is made of;
   - "walk": wl-pub's 8 devices with a fix every 1.7 h over a year, a random walk: nearly
     every fix opens or closes a segment, the timeline's worst case.
   Peak RssAnon of wherelog while it ingests, for both settings.
2. wl-tlbench (tests/tools/wl_tlbench.c) on about 50,000 of those days' fixes: rebuilding a
   device's timeline, reading one day's timeline, reading a year of day figures, and the
   store's size with and without the timeline.

Environment: BENCH_WALK (200000 messages), BENCH_POINTS (50000), BENCH_SEED (3). Prints
figures; never fails on them.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import benchlib as b
import harness as h

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "tools"))
import dayfaker  # noqa: E402

WALK = int(os.environ.get("BENCH_WALK", "200000"))
POINTS = int(os.environ.get("BENCH_POINTS", "50000"))
SEED = os.environ.get("BENCH_SEED", "3")
TLBENCH = os.environ.get("WL_TLBENCH",
                         os.path.join(ROOT, "build-release", "tests", "wl-tlbench"))


def generated_days(workdir):
    """Consecutive mixed days of one phone until POINTS fixes: (jsonl lines, text lines)."""
    out = os.path.join(workdir, "days")
    lines, text, first = [], [], 0
    while len(lines) < POINTS:
        subprocess.run([sys.executable, dayfaker.__file__, "--seed", SEED, "--days", "10",
                        "--first", str(first), "--set", "mixed", "--out", out],
                       check=True, stdout=subprocess.DEVNULL)
        for name in sorted(os.listdir(out)):
            if name.endswith(".jsonl"):
                with open(os.path.join(out, name)) as f:
                    lines += [json.loads(line) for line in f if line.strip()]
                os.unlink(os.path.join(out, name))
        first += 10
    lines.sort(key=lambda m: m["tst"])
    seen, msgs = set(), []
    for m in lines[:POINTS]:
        if m["tst"] in seen:
            continue
        seen.add(m["tst"])
        msgs.append(m)
    for m in msgs:
        text.append("%d %.7f %.7f %s" % (m["tst"], m["lat"], m["lon"],
                                          m.get("acc", "nan") if m.get("acc") is not None
                                          else "nan"))
    return msgs, text


def sparse_year(workdir):
    """A year of significant-changes days of one phone, as wl-tlbench's text lines."""
    out = os.path.join(workdir, "year")
    subprocess.run([sys.executable, dayfaker.__file__, "--seed", SEED, "--days", "365",
                    "--set", "sparse", "--format", "text", "--out", out], check=True,
                   stdout=subprocess.DEVNULL)
    text = []
    for name in sorted(os.listdir(out)):
        if name.endswith(".txt"):
            with open(os.path.join(out, name)) as f:
                text += [line.strip() for line in f if line.strip()]
    return text


def tlbench(workdir, name, text):
    store = os.path.join(workdir, name)
    os.makedirs(store)
    r = subprocess.run([TLBENCH, store], input="\n".join(text) + "\n", text=True,
                       capture_output=True, check=True)
    return json.loads(r.stdout)


def wait_stored(storage, user, device, tst):
    want = '"tst":%d' % tst
    while want not in h.cli(storage, "last", "--user", user, "--device", device,
                            check=False).stdout:
        time.sleep(0.005)


def cpu_seconds(pid):
    """User and system CPU time a process has used so far (/proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backlog(kept, stream):
    """wherelog draining `stream` from the broker: messages a second, its peak RssAnon, and
    the CPU time it spent per message (what a loaded machine changes least)."""
    work = h.Workdir()
    storage = work.file("store")
    broker = h.Broker(work, "max_inflight_messages 1000\nmax_queued_messages 0\n")
    broker.start()
    args = ["--log-level", "info", "--timeline-ingest=%s" % ("true" if kept else "false")]
    server = h.Server(work, storage, broker.port, args).start()
    server.stop()  # its persistent session now holds what is published
    if stream["kind"] == "walk":
        report = h.publish(broker.port, generate=WALK, extra=["--inflight", "1000"])
        _, user, device = report["last_topic"].split("/")
        last, n = report["last_tst"], WALK
    else:
        lines = [dict(topic="owntracks/bench/phone", payload=json.dumps(m)) for m in stream["msgs"]]
        h.publish(broker.port, lines, extra=["--inflight", "1000"])
        user, device, last, n = "bench", "phone", stream["msgs"][-1]["tst"], len(lines)
    t0 = time.monotonic()
    server.start(wait_subscribed=False)
    cpu0 = cpu_seconds(server.proc.pid)
    with b.MemorySampler(server.proc.pid) as mem:
        wait_stored(storage, user, device, last)
        took = time.monotonic() - t0
    cpu = cpu_seconds(server.proc.pid) - cpu0
    server.stop()
    broker.stop()
    work.remove()
    return n / took, mem.peak, cpu / n


def ingest(stream, rounds=3):
    runs = {True: [], False: []}
    for _ in range(rounds):
        for kept in (True, False):
            runs[kept].append(backlog(kept, stream))
    fig = {}
    for kept, r in runs.items():
        fig[kept] = (max(x[0] for x in r), max(x[1] for x in r),
                     sorted(x[2] for x in r)[len(r) // 2] * 1e6)
    on, off = fig[True], fig[False]
    print("  %-5s timeline kept: best %6.0f msg/s, median CPU %5.1f us/msg, peak RssAnon %.1f MiB"
          % (stream["kind"], on[0], on[2], b.mib(on[1])))
    print("        only noted:    best %6.0f msg/s, median CPU %5.1f us/msg, peak RssAnon %.1f MiB"
          % (off[0], off[2], b.mib(off[1])))
    print("        kept/noted: rate %.3f, CPU per message %.3f" % (on[0] / off[0], on[2] / off[2]))


def main():
    with tempfile.TemporaryDirectory(prefix="wherelog-bench-") as tmp:
        msgs, text = generated_days(tmp)
        print("timeline in the store: %d fixes of generated days (seed %s), %d-message walk"
              % (len(msgs), SEED, WALK))
        print("MQTT ingest, backlog drained by wherelog alone, 3 alternating runs of each:")
        ingest({"kind": "days", "msgs": msgs})
        ingest({"kind": "walk"})
        f = tlbench(tmp, "tl-days", text)
        print("store level (wl-tlbench), %d points over %d days, %d segments:"
              % (f["points"], f["days"], f["segments"]))
        i = f["ingest"]
        print("  writes of %d points a commit: kept %.2f s CPU, only noted %.2f s CPU"
              % (i["batch"], i["kept_cpu_s"], i["deferred_cpu_s"]))
        print("  rebuild of the device's timeline: %.4f s (%d points)"
              % (f["rebuild_s"], f["rebuild_points"]))
        print("  a day's timeline: median %.1f us, slowest %.1f us; %d days of figures: %.1f us"
              % (f["day_us"]["median"], f["day_us"]["max"], f["day_records"],
                 f["year_us"]["median"]))
        print("  data.mdb: %d bytes with the timeline, %d without (%.1f %% more)"
              % (f["bytes"]["with_timeline"], f["bytes"]["without"],
                 100.0 * (f["bytes"]["with_timeline"] / f["bytes"]["without"] - 1)))
        y = tlbench(tmp, "tl-year", sparse_year(tmp))
        print("a year of significant-changes days (%d points, %d days, %d segments): a year of "
              "day figures %.1f us, a day's timeline median %.1f us, rebuild %.4f s"
              % (y["points"], y["days"], y["segments"], y["year_us"]["median"],
                 y["day_us"]["median"], y["rebuild_s"]))


if __name__ == "__main__":
    main()
