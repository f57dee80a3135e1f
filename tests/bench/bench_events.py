"""Events benchmark (issue 15): the MQTT ingest of a server with events derived, a webhook
configured (a local receiver, tests/integration/test_events.py's) and events republished on
the broker, against the same server without them: the target is a rate within 10 % of it.

Streams:
- "days" (the target's): generated days of 8 phones of 4 users (tests/tools/dayfaker.py's
  mix, three days in four in move mode), as a phone reports them: the timeline's own stays
  and trips, a battery that drains over the day from a charge at night (the default level 20:
  a day ending below it makes one battery_low), and the phone's transition messages entering
  and leaving home and work;
- "sparse": the same with every day in significant-changes mode (the app's default): a few
  dozen fixes a day, so about one event for every two messages, the densest realistic case;
- "flood" (the worst case, not the target's): wl-pub's random walk, where nearly every fix
  opens or closes a stay or a trip, and --battery-low 50, so about every fourth fix crosses it
  too (BENCH_FLOOD messages, default half of BENCH_MESSAGES: each event is a webhook request).
Configurations (CONFIGS): "without" (--battery-low 1, no webhook, --event-topic ""; stays and
trips are derived and kept in all: the timeline is kept either way), "with" (events, a webhook
for every user, republishing on), "topic" (republishing only: its own cost).

Each run is a backlog drained by wherelog alone (benchlib.backlog: the publisher is not
timed), on a fresh store and broker; the configurations alternate, BENCH_ROUNDS rounds
(default 3). Figures: messages a second until committed; the server's CPU time a message
(utime + stime from /proc, its threads but the main one) until committed, and until every
event was delivered to the receiver and acknowledged by the broker, with wl-mqtt (the thread
that ingests, derives and republishes) and wl-webhook apart; peak RssAnon. Medians with the
spread (min-max). BENCH_MESSAGES (default 100000) messages a stream, BENCH_STREAMS
(days,sparse,flood). Prints figures; never fails on them.
"""
import collections
import json
import os
import random
import subprocess
import sys
import tempfile

import benchlib as b
import harness as h

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import dayfaker  # noqa: E402

# test_events checks answers against the API's description (contract.py reads it at import).
os.environ.setdefault("WHERELOG_OPENAPI", os.path.join(HERE, "..", "..", "api", "openapi.yaml"))
from test_events import Receiver, metric  # noqa: E402

N = int(os.environ.get("BENCH_MESSAGES", "100000"))
# The flood's webhook requests (one an event, most of its messages make one) take long.
FLOOD = int(os.environ.get("BENCH_FLOOD", str(N // 2)))
STREAMS = os.environ.get("BENCH_STREAMS", "days,sparse,flood").split(",")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
DEVICES = [("user%d" % (d // 2 + 1), "phone%d" % (d % 2 + 1)) for d in range(8)]  # wl-pub's
USERS = sorted({u for u, _ in DEVICES})
REGIONS = ("home", "work")  # the places the phones have a region for


def phone_day(messages, labels, rnd):
    """One day's messages as the phone sends them: the battery drains from its night charge,
    and entering and leaving a region (home, work) sends a transition."""
    if not messages:
        return []
    start, end = messages[0]["tst"], messages[-1]["tst"]
    full, low = rnd.randint(70, 100), rnd.randint(5, 60)
    for m in messages:
        f = (m["tst"] - start) / max(1, end - start)
        m["batt"] = round(full + (low - full) * f)
    out = list(messages)
    for s in labels["stays"]:
        if s["place"] not in REGIONS:
            continue
        for event, tst, clipped in (("enter", s["start"], s["clipped_start"]),
                                    ("leave", s["end"], s["clipped_end"])):
            if not clipped:
                out.append({"_type": "transition", "event": event, "desc": s["place"],
                            "t": "c", "tid": "fk", "lat": s["lat"], "lon": s["lon"],
                            "acc": 15, "tst": tst, "wtst": 1700000000})
    out.sort(key=lambda m: (m["tst"], m["_type"] != "transition"))
    return out


def days_stream(name, n, days_set, seed=15):
    """About n messages of generated days (dayfaker's set days_set): day i goes to phone
    i % 8, moved by whole days (so its local time stays) to follow that phone's previous
    day."""
    rnd = random.Random(seed)
    stream, day = [], 0
    chunk = len(DEVICES) * (1 if days_set == "mixed" else 32)  # days a dayfaker run
    with tempfile.TemporaryDirectory(prefix="wherelog-bench-") as out:
        while len(stream) < n:
            subprocess.run([sys.executable, dayfaker.__file__, "--seed", str(seed), "--days",
                            str(chunk), "--first", str(day), "--set", days_set, "--out",
                            out], check=True, stdout=subprocess.DEVNULL)
            for i in range(day, day + chunk):
                with open(os.path.join(out, "%04d.jsonl" % i)) as f:
                    msgs = [json.loads(line) for line in f if line.strip()]
                with open(os.path.join(out, "%04d.labels.json" % i)) as f:
                    labels = json.load(f)
                user, device = DEVICES[i % len(DEVICES)]
                shift = (i // len(DEVICES) - i) * 86400
                for m in phone_day(msgs, labels, rnd):
                    m["tst"] += shift
                    stream.append({"topic": "owntracks/%s/%s" % (user, device),
                                   "payload": m})
            day += chunk
    stream.sort(key=lambda x: x["payload"]["tst"])
    stream = stream[:n]
    while stream[-1]["payload"]["_type"] != "location":  # the last one is waited for
        stream.pop()
    last = stream[-1]
    _, user, device = last["topic"].split("/")
    lines = [{"topic": x["topic"], "payload": json.dumps(x["payload"])} for x in stream]
    kinds = collections.Counter(x["payload"]["_type"] for x in stream)
    return dict(name=name, lines=lines, last=(user, device, last["payload"]["tst"]),
                battery_low=None, describe="%d messages (%s), %d days of %d phones, %s" % (
                    len(lines), ", ".join("%d %s" % (v, k) for k, v in sorted(kinds.items())),
                    day, len(DEVICES), DESCRIBE[days_set]))


DESCRIBE = {"mixed": "dayfaker's mix: three days in four in move mode (a fix every few seconds)",
            "sparse": "significant-changes mode (the app's default): a few dozen fixes a day"}


def flood_stream(n):
    """wl-pub's walk."""
    return dict(name="flood", publish=b.publish_generated(n), last=None, battery_low="50",
                describe="%d messages of wl-pub's random walk of 8 devices, --battery-low 50"
                % n)


def events_by_kind(storage):
    kinds = collections.Counter()
    for user in USERS:
        for line in h.cli(storage, "events", "--user", user).stdout.splitlines():
            kinds[json.loads(line)["kind"]] += 1
    return kinds


# The configurations compared, in the order each round runs them.
CONFIGS = {
    "without": "no battery event, no webhook, no republishing",
    "with": "events, a webhook for every user, republished on the broker (the target's)",
    "topic": "events republished on the broker, no webhook (republishing's own cost)",
}


def run(stream, config, receiver):
    args = ["--silence-after", "0"]
    if config == "without":
        args += ["--battery-low", "1", "--event-topic", ""]
    elif stream["battery_low"]:
        args += ["--battery-low", stream["battery_low"]]
    hooks = config == "with"

    def setup(storage):
        if hooks:
            for user in USERS:
                h.cli(storage, "webhook", "add", "--user", user, "--url",
                      "http://127.0.0.1:%d/hook" % receiver.port)

    def publish(port):
        if "lines" in stream:
            h.publish(port, stream["lines"], extra=["--inflight", "1000"])
            return len(stream["lines"])
        return stream["publish"](port)

    def settled(server):
        """Every event delivered to the receiver and acknowledged by the broker."""
        port = server.http_port
        pending = metric(port, "wherelog_mqtt_publish_pending")  # None: a build without it
        if pending:
            return False
        if not hooks:
            return True
        total = sum(events_by_kind(server.storage).values())
        return (metric(port, "wherelog_webhook_delivered_total") or 0) >= total

    def report(server):
        port = server.http_port
        return dict(kinds=events_by_kind(server.storage),
                    published_dropped=metric(port, "wherelog_mqtt_publish_dropped_total") or 0)

    before = len(receiver.received())
    res = b.backlog(args, publish, stream["last"],
                    settle=settled if config != "without" else None, setup=setup, report=report)
    res["delivered"] = len(receiver.received()) - before
    return res


def main():
    streams = []
    if "days" in STREAMS:
        streams.append(days_stream("days", N, "mixed"))
    if "sparse" in STREAMS:
        streams.append(days_stream("sparse", N, "sparse"))
    if "flood" in STREAMS:
        streams.append(flood_stream(FLOOD))
    print("events benchmark, %d alternating rounds; each a backlog drained by wherelog alone"
          % ROUNDS)
    for s in streams:
        print("  %-6s: %s" % (s["name"], s["describe"]))
    for c, what in CONFIGS.items():
        print("  %-7s: %s" % (c, what))
    receiver = Receiver()
    runs = {(s["name"], c): [] for s in streams for c in CONFIGS}
    try:
        for r in range(ROUNDS):
            for s in streams:
                for config in CONFIGS:
                    res = run(s, config, receiver)
                    runs[(s["name"], config)].append(res)
                    t = res["threads_us"]
                    print("  round %d %-6s %-7s %6.0f msg/s  CPU %5.1f us/msg (%5.1f with the "
                          "deliveries: wl-mqtt %4.1f, wl-webhook %5.1f)  peak RssAnon %4.1f MiB  "
                          "events %d%s" % (
                              r + 1, s["name"], config, res["rate"], res["cpu_us"],
                              res["cpu_settled_us"], t.get("wl-mqtt", 0), t.get("wl-webhook", 0),
                              b.mib(res["peak"]), sum(res["kinds"].values()),
                              "  (%s; %d webhook requests, %d publishes dropped)" % (
                                  ", ".join("%s %d" % kv for kv in sorted(res["kinds"].items())),
                                  res["delivered"], res["published_dropped"])
                              if config != "without" else ""), flush=True)
    finally:
        receiver.close()
    print("medians (min-max) of %d rounds; ratios of medians, against \"without\":" % ROUNDS)
    for s in streams:
        label = {"days": "days, the target",
                 "sparse": "sparse days, the densest realistic events",
                 "flood": "flood, the worst case (not the target)"}[s["name"]]
        print("  %s:" % label)
        off = runs[(s["name"], "without")]

        def med(rs, k):
            return b.median([x[k] if isinstance(k, str) else k(x) for x in rs])

        def ratio(rs, k):
            base = med(off, k)  # 0: a build whose threads have no names
            return med(rs, k) / base if base else float("nan")
        for config in CONFIGS:
            rs = runs[(s["name"], config)]
            print("    %-7s rate %s msg/s (%5.1f %%)  CPU until stored %s us/msg (%.3f)  "
                  "to the end %s (%.3f): wl-mqtt %s (%.3f), wl-webhook %s  peak RssAnon "
                  "%.1f MiB" % (
                      config, b.spread([x["rate"] for x in rs]),
                      100 * ratio(rs, "rate"),
                      b.spread([x["cpu_us"] for x in rs], "%.2f"),
                      ratio(rs, "cpu_us"),
                      b.spread([x["cpu_settled_us"] for x in rs], "%.2f"),
                      ratio(rs, "cpu_settled_us"),
                      b.spread([x["threads_us"].get("wl-mqtt", 0) for x in rs], "%.2f"),
                      ratio(rs, lambda x: x["threads_us"].get("wl-mqtt", 0)),
                      b.spread([x["threads_us"].get("wl-webhook", 0) for x in rs], "%.2f"),
                      b.mib(max(x["peak"] for x in rs))))
    print("  the target: \"with\" at least 90 % of \"without\"'s rate on the days stream")


if __name__ == "__main__":
    main()
