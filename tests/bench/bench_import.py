"""Import benchmark (issue 6): an OwnTracks Recorder store of 1,000,000 points, generated in
the Recorder's format (rec/USER/DEVICE/YYYY-MM.rec lines: timestamp, padded reltopic,
JSON), imported with `wherelog import recorder`. Prints points per second and the import's
memory: peak private memory (RssAnon, sampled) and peak RSS (VmHWM, which also counts the
store's file pages that the kernel maps in). Target: at least 500,000 points/s, RSS under
50 MB."""
import json
import os
import random
import subprocess
import time

import benchlib as b
import harness as h

N = int(os.environ.get("BENCH_POINTS", "1000000"))
DEVICES = [("user%d" % u, "phone%d" % d) for u in range(1, 5) for d in (1, 2)]


def generate(root):
    rnd = random.Random(1)
    per = N // len(DEVICES)
    raw = 0
    for user, device in DEVICES:
        files = {}
        lat, lon = 48.85 + rnd.random(), 2.29 + rnd.random()
        t = 1704067200
        for i in range(per):
            t += 120
            lat += (rnd.random() - 0.5) * 0.001
            lon += (rnd.random() - 0.5) * 0.001
            payload = json.dumps({"_type": "location", "acc": rnd.randint(5, 30),
                                  "alt": rnd.randint(20, 90), "batt": rnd.randint(20, 99), "bs": 1,
                                  "conn": "w", "lat": round(lat, 6), "lon": round(lon, 6), "m": 1,
                                  "t": "p", "tid": "p1", "tst": t, "vac": 4,
                                  "vel": rnd.randint(0, 40), "tzname": "Europe/Paris"},
                                 separators=(",", ":"))
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
            month = stamp[:7]
            if month not in files:
                d = os.path.join(root, "rec", user, device)
                os.makedirs(d, exist_ok=True)
                files[month] = open(os.path.join(d, month + ".rec"), "w")
            line = "%s\t%-18s\t%s\n" % (stamp, "*", payload)
            raw += len(payload)
            files[month].write(line)
        for f in files.values():
            f.close()
    return raw / (per * len(DEVICES))


def vm_hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main():
    work = h.Workdir()
    rec = work.file("recorder")
    t0 = time.monotonic()
    avg = generate(rec)
    size = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(rec) for f in fs)
    print("import benchmark: %d points in %d devices, %.0f MB of .rec files (payload %.0f B "
          "on average), generated in %.0f s" % (N, len(DEVICES), size / 1e6, avg,
                                                 time.monotonic() - t0))
    for attempt in ("first", "again (all duplicates)"):
        storage = work.file("store")
        cmd = [h.WHERELOG, "import", "recorder", rec, "--storage", storage, "--json"]
        start = time.monotonic()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        hwm = 0
        with b.MemorySampler(p.pid, 0.01) as mem:
            while p.poll() is None:
                try:
                    hwm = max(hwm, vm_hwm_kb(p.pid))
                except OSError:
                    pass
                time.sleep(0.01)
        out = p.stdout.read()
        took = time.monotonic() - start
        summary = json.loads(out)
        stored = sum(d["stored"] for d in summary["devices"])
        dup = sum(d["duplicate"] for d in summary["devices"])
        print("  %-24s %6.2f s  %8.0f points/s  stored %d, duplicates %d;  RssAnon peak %.1f MiB,"
              "  RSS peak %.1f MiB" % (attempt, took, N / took, stored, dup, b.mib(mem.peak),
                                        b.mib(hwm)))
    data = os.path.getsize(os.path.join(work.file("store"), "data.mdb"))
    print("  store: %.1f MB for %d points: %.1f bytes/point (the .rec files: %.1f)"
          % (data / 1e6, N, data / N, size / N))
    work.remove()


if __name__ == "__main__":
    main()
