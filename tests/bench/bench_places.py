"""Names for places (issue 14), against a real `wherelog serve` and a local geocoder (the
tests' server, tests/integration/geocoders.py):
1. MQTT ingest with a geocoder configured that answers after 1 s, against no geocoder, in the
   same run (alternating, BENCH_ROUNDS rounds, default 3; medians and the spread): storing
   must not wait for it (the target: a rate within 5 %). Each run is a backlog of wl-pub's
   BENCH_MESSAGES (default 50000) random-walk messages drained by wherelog alone
   (benchlib.backlog); also the CPU time a message of the server (its threads but the main
   one; wl-geocoder's apart) and its peak RssAnon;
2. the geocoder requests for a generated year of days (home, work, the commute between them,
   weekend outings to a few dozen places, a holiday), against its points and its geohash
   cells: the goal is one request per new place, not per point;
3. a year of one device from /api/0/locations as JSON with its place members (median of 5),
   the figure to compare with a build without them;
4. the gazetteer: memory and the time of a lookup."""
import os
import random
import subprocess
import time

import benchlib as b
import harness as h
import geocoders as tp

WL_FILL = os.path.join(os.path.dirname(h.WHERELOG), "tests", "wl-fill")
N = int(os.environ.get("BENCH_MESSAGES", "50000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
YEAR = 1704067200  # 2024-01-01


def committed(storage, report):
    _, user, device = report["last_topic"].split("/")
    want = '"tst":%d' % report["last_tst"]
    while want not in h.cli(storage, "last", "--user", user, "--device", device,
                            check=False).stdout:
        time.sleep(0.005)


def ingest_run(args):
    """wherelog draining N generated points: benchlib.backlog's figures and the metrics."""
    return b.backlog(args, b.publish_generated(N),
                     report=lambda server: dict(metrics=tp.metrics(server.http_port)))


def geohash(lat, lon, precision=7):
    alphabet = "0123456789bcdefghjkmnpqrstuvwxyz"
    lo = [-90.0, -180.0]
    hi = [90.0, 180.0]
    out, bits, idx, even = "", 0, 0, True
    while len(out) < precision:
        axis, v = (1, lon) if even else (0, lat)
        mid = (lo[axis] + hi[axis]) / 2
        idx <<= 1
        if v >= mid:
            idx |= 1
            lo[axis] = mid
        else:
            hi[axis] = mid
        even = not even
        bits += 1
        if bits == 5:
            out += alphabet[idx]
            bits, idx = 0, 0
    return out


def year_of_days(seed=14):
    """A year of one phone: nights at home, weekdays at work with the same commute, weekend
    outings to 40 favourite places, a week away in August. GPS noise of about 20 m. A point
    every 10 minutes while still, every minute while moving."""
    rnd = random.Random(seed)
    home, work = (48.8400, 2.3000), (48.8790, 2.3550)
    favourites = [(48.80 + rnd.random() * 0.15, 2.20 + rnd.random() * 0.25) for _ in range(40)]
    away = (43.2965, 5.3698)  # Marseille
    points = []
    visited = {home, work}

    def jitter(p):
        return (p[0] + rnd.gauss(0, 0.0002), p[1] + rnd.gauss(0, 0.0003))

    def stay(p, t0, t1):
        for t in range(t0, t1, 600):
            points.append((t, jitter(p)))

    def move(a, b, t0, minutes):
        for i in range(minutes):
            f = i / minutes
            points.append((t0 + i * 60, jitter((a[0] + (b[0] - a[0]) * f,
                                                 a[1] + (b[1] - a[1]) * f))))
        return t0 + minutes * 60

    for day in range(366):
        t = YEAR + day * 86400
        weekday = (day + 0) % 7 < 5  # 2024-01-01 was a Monday
        if 214 <= day < 221:
            visited.add(away)
            stay(away, t, t + 86400)
            continue
        if weekday:
            stay(home, t, t + 8 * 3600)
            t2 = move(home, work, t + 8 * 3600, 35)
            stay(work, t2, t + 17 * 3600)
            t3 = move(work, home, t + 17 * 3600, 40)
            stay(home, t3, t + 86400)
        else:
            place = favourites[rnd.randrange(len(favourites))]
            visited.add(place)
            stay(home, t, t + 10 * 3600)
            t2 = move(home, place, t + 10 * 3600, 30)
            stay(place, t2, t + 16 * 3600)
            t3 = move(place, home, t + 16 * 3600, 30)
            stay(home, t3, t + 86400)
    return points, len(visited)


def requests_for_a_year():
    geo = tp.Geocoders()
    work = h.Workdir()
    storage = work.file("store")
    broker = h.Broker(work).start()
    server = h.Server(work, storage, broker.port, [
        "--log-level", "info", "--geocoder",
        "nominatim:%s,rate=1000" % geo.url("nominatim")]).start()
    points, places = year_of_days()
    lines = [{"topic": "owntracks/jane/phone",
              "payload": '{"_type":"location","lat":%.6f,"lon":%.6f,"tst":%d}' % (p[0], p[1], t)}
             for t, p in points]
    report = h.publish(broker.port, lines)
    report["last_topic"], report["last_tst"] = "owntracks/jane/phone", points[-1][0]
    committed(storage, report)
    h.wait_for(lambda: tp.metrics(server.http_port)["wherelog_geocoder_queued"] == 0 and
               len(geo.requests()) == tp.metrics(server.http_port)[
                   "wherelog_geocoder_answers_total"], 600, "the geocoder queue to drain")
    m = tp.metrics(server.http_port)
    cells = len({geohash(p[0], p[1]) for _, p in points})
    print("  a year of days: %d points in %d geohash-7 cells at %d places; %d geocoder requests "
          "(%.4f a point, %.2f a cell, %.2f a place: stays are named, not points), %d cache "
          "hits, %d queue drops"
          % (len(points), cells, places, len(geo.requests()), len(geo.requests()) / len(points),
             len(geo.requests()) / cells, len(geo.requests()) / places,
             m["wherelog_geocoder_cache_hits_total"], m["wherelog_geocoder_queue_drops_total"]))
    server.stop()
    broker.stop()
    geo.stop()
    work.remove()


def export_year():
    work = h.Workdir()
    storage = work.file("store")
    subprocess.run([WL_FILL, storage, "user1", "phone1", "50000", str(YEAR), "630"], check=True,
                   stderr=subprocess.DEVNULL)
    broker = h.Broker(work).start()
    server = h.Server(work, storage, broker.port, ["--log-level", "info"]).start()
    path = "/api/0/locations?user=user1&device=phone1&from=2024-01-01&to=2024-12-31"
    runs = []
    for _ in range(5):
        out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{time_total}",
                              "http://127.0.0.1:%d%s" % (server.http_port, path)],
                             capture_output=True, text=True, check=True).stdout
        runs.append(float(out))
    body = h.request(server.http_port, path).json()
    has = sum(1 for p in body["data"] if "ghash" in p and "cc" in p)
    print("  year as json (50,000 points, %d with ghash and cc): %.1f ms (median of 5)"
          % (has, b.median(runs) * 1000))
    server.stop()
    broker.stop()
    work.remove()


def gazetteer():
    out = subprocess.run([os.path.join(os.path.dirname(h.WHERELOG), "tests", "wl-gazetteer")],
                         capture_output=True, text=True, check=True).stdout
    g = __import__("json").loads(out)
    print("  gazetteer: %d cities in %.2f MiB, opened in %.0f ms; %.0f ns a lookup "
          "(%d random positions between 60 S and 80 N, %d near a city), %.0f ns around Paris"
          % (g["cities"], g["bytes"] / 2**20, g["open_ms"], g["ns_per_lookup"], g["lookups"],
             g["found"], g["ns_per_lookup_paris"]))


def main():
    print("places benchmark")
    gazetteer()
    slow = tp.Geocoders()
    slow.USUAL = dict(slow.USUAL, nominatim=(200, {}, tp.NOMINATIM_PARIS, 1.0))
    with_geo = ["--geocoder", "nominatim:%s,rate=1000" % slow.url("nominatim")]
    runs = {"none": [], "slow": []}
    for r in range(ROUNDS):
        for name, args in (("none", []), ("slow", with_geo)):
            res = ingest_run(args)
            runs[name].append(res)
            print("  round %d %-4s %6.0f msg/s  CPU %5.2f us/msg (wl-geocoder %4.2f)  peak RssAnon "
                  "%4.1f MiB%s" % (r + 1, name, res["rate"], res["cpu_us"],
                                   res["threads_us"].get("wl-geocoder", 0), b.mib(res["peak"]),
                                   "  %d geocoder requests, %d queue drops" % (
                                       res["metrics"]["wherelog_geocoder_requests_total"],
                                       res["metrics"]["wherelog_geocoder_queue_drops_total"])
                                   if name == "slow" else ""), flush=True)
    none, geo = runs["none"], runs["slow"]

    def med(rs, k):
        return b.median([x[k] for x in rs])
    print("  MQTT ingest of %d points, medians (min-max) of %d rounds:" % (N, ROUNDS))
    print("    rate: no geocoder %s msg/s, a geocoder answering in 1 s %s msg/s: ratio %.3f "
          "(target: at least 0.95)" % (b.spread([x["rate"] for x in none]),
                                      b.spread([x["rate"] for x in geo]),
                                      med(geo, "rate") / med(none, "rate")))
    print("    CPU until stored: no geocoder %s us/msg, with %s us/msg: ratio %.3f" % (
        b.spread([x["cpu_us"] for x in none], "%.2f"), b.spread([x["cpu_us"] for x in geo], "%.2f"),
        med(geo, "cpu_us") / med(none, "cpu_us")))
    print("    peak RssAnon: no geocoder %.1f MiB, with %.1f MiB (largest of the runs)" % (
        b.mib(max(x["peak"] for x in none)), b.mib(max(x["peak"] for x in geo))))
    slow.stop()
    requests_for_a_year()
    export_year()


if __name__ == "__main__":
    main()
