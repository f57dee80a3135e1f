"""Timeline benchmark (issue 13): the stay/trip detector (src/timeline.c) scored on generated
labelled days (tests/tools/dayfaker.py), and its speed.

Two sets: "mixed" (three days in four in the app's move mode, the rest in significant-changes
mode) and "sparse" (all significant changes). For each it prints:
  - stays: precision, recall, F1. A detected stay matches a true one when their overlap in
    time is at least half of each (so at least half of the longer one: one detected stay
    cannot cover two true ones, nor a short true stay match a long detected one) and their
    centres lie within the stay radius of each other; each stay matches at most one, the
    pairs with the most overlap first.
    The day is read at its end (tl_pending_at: the silence after the last fix is judged as of
    then). Each day is fed to a fresh detector, so the true stay
    that the day's start clips begins, for the score, at the day's first fix.
  - arrival and departure error of matched stays (median, 90th percentile), for true
    arrivals and departures only (not the day's bounds, which clip the first and last stay).
  - trips: a detected trip matches a true one when they overlap by at least half of each;
    distance error |detected - true| / true (median, share within 5 %), and the share whose
    travel mode is right (train counts as "fast").
Targets (issue 13): mixed stay F1 >= 0.95, median arrival/departure error <= 2 min, trip
distance within 5 %; sparse stay F1 >= 0.90.

Speed: fixes per second through tl_feed (and tl_pending at the end of each day), from the
mixed set's fixes, and the time the detector takes for 50,000 points (a year of one device:
the detector's part of `timeline rebuild`).

Environment: TL_RUN (default build-release/tests/tl-run), BENCH_DAYS_MIXED (300),
BENCH_DAYS_SPARSE (200), BENCH_SEED (1). Prints figures; never fails on them.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "tools"))
import dayfaker  # noqa: E402

TL_RUN = os.environ.get("TL_RUN", os.path.join(ROOT, "build-release", "tests", "tl-run"))
RADIUS = 100.0  # the detector's default stay radius (TL_STAY_RADIUS_DEFAULT)
MODE_OF = {"walking": "walking", "cycling": "cycling", "driving": "driving", "train": "fast"}


def dist_m(lat1, lon1, lat2, lon2):
    import math
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * dayfaker.R_EARTH * math.asin(min(1.0, math.sqrt(a)))


def run_detector(days, extra_args=()):
    """Feeds each day to tl-run; returns {day name: [segments]}."""
    with tempfile.TemporaryFile("w+") as f:
        for name, day in days:
            f.write("day %s\n" % name)
            for line in day.text_lines():
                f.write(line + "\n")
            f.write("at %d\n" % day.day_end)
        f.seek(0)
        out = subprocess.run([TL_RUN, *extra_args], stdin=f, stdout=subprocess.PIPE,
                             check=True, text=True).stdout
    result, cur = {}, None
    for line in out.splitlines():
        w = line.split()
        if w[0] == "day":
            cur = result.setdefault(w[1], [])
            continue
        cur.append({"kind": w[0], "start": int(w[1]), "end": int(w[2]), "lat": float(w[3]),
                    "lon": float(w[4]), "distance": float(w[9]), "mode": w[12],
                    "points": int(w[13]), "event": w[14]})
    return result


def overlap(a0, a1, b0, b1):
    return max(0, min(a1, b1) - max(a0, b0))


def match(detected, truth, close_enough):
    """Greedy one-to-one matching by overlap: pairs that overlap by at least half of each."""
    pairs = []
    for i, d in enumerate(detected):
        for j, t in enumerate(truth):
            ov = overlap(d["start"], d["end"], t["start"], t["end"])
            need = 0.5 * max(d["end"] - d["start"], t["end"] - t["start"])
            if ov > 0 and ov >= need and close_enough(d, t):
                pairs.append((ov, i, j))
    pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
    used_d, used_t, out = set(), set(), []
    for ov, i, j in pairs:
        if i in used_d or j in used_t:
            continue
        used_d.add(i)
        used_t.add(j)
        out.append((detected[i], truth[j]))
    return out


def pct(values, q):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


def observable(stays, day):
    """The true stays as the day's data can show them: each day is fed to a fresh detector,
    so nothing before the day's first fix exists for it; the first stay, which the day's
    start clips, begins at that fix (and is left out if it ended before)."""
    if not day.fixes:
        return []
    first = day.fixes[0][0]
    out = []
    for t in stays:
        if t["clipped_start"]:
            if t["end"] <= first:
                continue
            t = dict(t, start=max(t["start"], first))
        out.append(t)
    return out


def score(days, segments):
    n_det = n_true = n_match = 0
    arrive, depart, trip_err, modes = [], [], [], []
    n_true_trips = 0
    for name, day in days:
        lab = day.labels()
        segs = segments.get(name, [])
        det_stays = [s for s in segs if s["kind"] == "stay"]
        det_trips = [s for s in segs if s["kind"] == "trip"]
        true_stays = observable(lab["stays"], day)
        n_det += len(det_stays)
        n_true += len(true_stays)
        pairs = match(det_stays, true_stays,
                      lambda d, t: dist_m(d["lat"], d["lon"], t["lat"], t["lon"]) <= RADIUS)
        n_match += len(pairs)
        for d, t in pairs:
            if not t["clipped_start"]:
                arrive.append(abs(d["start"] - t["start"]))
            if not t["clipped_end"]:
                depart.append(abs(d["end"] - t["end"]))
        n_true_trips += len(lab["trips"])
        for d, t in match(det_trips, lab["trips"], lambda d, t: True):
            trip_err.append(abs(d["distance"] - t["distance_m"]) / max(1.0, t["distance_m"]))
            modes.append(d["mode"] == MODE_OF[t["mode"]])
    p = n_match / n_det if n_det else 0.0
    r = n_match / n_true if n_true else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"days": len(days), "true_stays": n_true, "detected_stays": n_det,
            "matched": n_match, "precision": p, "recall": r, "f1": f1,
            "arrive_med": pct(arrive, 0.5), "arrive_p90": pct(arrive, 0.9),
            "depart_med": pct(depart, 0.5), "depart_p90": pct(depart, 0.9),
            "true_trips": n_true_trips, "matched_trips": len(trip_err),
            "trip_err_med": pct(trip_err, 0.5),
            "trip_within5": (sum(1 for e in trip_err if e <= 0.05) / len(trip_err)
                             if trip_err else 0.0),
            "mode_ok": sum(modes) / len(modes) if modes else 0.0,
            "fixes": sum(len(d.fixes) for _, d in days)}


def report(title, s, targets):
    print("%s: %d days, %d fixes" % (title, s["days"], s["fixes"]))
    print("  stays: %d true, %d detected, %d matched: precision %.3f recall %.3f F1 %.3f "
          "(target >= %.2f)" % (s["true_stays"], s["detected_stays"], s["matched"],
                                s["precision"], s["recall"], s["f1"], targets["f1"]))
    print("  arrival error: median %.0f s, p90 %.0f s; departure error: median %.0f s, "
          "p90 %.0f s (target: medians <= 120 s)" % (s["arrive_med"], s["arrive_p90"],
                                                     s["depart_med"], s["depart_p90"]))
    print("  trips: %d true, %d matched: distance error median %.1f %%, within 5 %%: %.0f %% "
          "of them; mode right: %.0f %%" % (s["true_trips"], s["matched_trips"],
                                            100 * s["trip_err_med"], 100 * s["trip_within5"],
                                            100 * s["mode_ok"]))


def speed(days):
    with tempfile.TemporaryFile("w+") as f:
        for name, day in days:
            f.write("day %s\n" % name)
            for line in day.text_lines():
                f.write(line + "\n")
        f.seek(0)
        out = subprocess.run([TL_RUN, "--speed", "10"], stdin=f, stdout=subprocess.PIPE,
                             check=True, text=True).stdout.split()
    return int(out[1]), float(out[3]), float(out[5])


def main():
    if not os.access(TL_RUN, os.X_OK):
        sys.exit("bench_timeline: %s not found (packaging/dev bench builds it)" % TL_RUN)
    seed = os.environ.get("BENCH_SEED", "1")
    sets = [("mixed", int(os.environ.get("BENCH_DAYS_MIXED", "300")), {"f1": 0.95}),
            ("sparse", int(os.environ.get("BENCH_DAYS_SPARSE", "200")), {"f1": 0.90})]
    generated = {}
    for set_name, n, targets in sets:
        t0 = time.monotonic()
        days = [("%04d" % i, dayfaker.make_day("bench-%s-%s" % (seed, set_name), i, set_name))
                for i in range(n)]
        gen_s = time.monotonic() - t0
        generated[set_name] = days
        segs = run_detector(days)
        report("timeline %s set (generated in %.0f s)" % (set_name, gen_s), score(days, segs),
               targets)
    n, secs, rate = speed(generated["mixed"])
    print("speed: %d fixes through tl_feed in %.3f s: %.0f fixes/s; 50,000 points (a year of "
          "one device) in %.3f s" % (n, secs, rate, 50000 / rate if rate else float("nan")))


if __name__ == "__main__":
    main()
