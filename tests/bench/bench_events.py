"""Events benchmark (issue 15): the MQTT ingest rate with events derived, a webhook configured
(a local receiver, tests/integration/test_events.py's) and events republished on the broker,
against the same without them, in the same run (the target: within 10 %).

"with": --battery-low 50 (wl-pub's generated batteries lie in 20..99, so about every fourth
fix crosses and makes a battery_low event, far more than a phone makes), a webhook for every
user taking every kind, --event-topic on. "without": --battery-low 1 (no battery event), no
webhook, --event-topic "" (the timeline's stays and trips are derived in both: the timeline is
kept either way). The two alternate, BENCH_ROUNDS times each (default 2), each on a fresh store
and broker; the medians are compared. Also: how many events were made, and how long after the
last commit the receiver had them all. BENCH_MESSAGES (default 100000) QoS 1 messages, 8
devices. Prints figures; never fails on them.
"""
import os
import statistics
import time

import benchlib as b
import harness as h

# test_events checks answers against the API's description (contract.py reads it at import).
os.environ.setdefault("WHERELOG_OPENAPI", os.path.join(os.path.dirname(__file__), "..", "..",
                                                       "api", "openapi.yaml"))
from test_events import Receiver, metric  # noqa: E402

N = int(os.environ.get("BENCH_MESSAGES", "100000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
USERS = ["user%d" % i for i in range(1, 5)]  # wl-pub's generated users (8 devices, 2 each)


def wait_committed(storage, report):
    _, user, device = report["last_topic"].split("/")
    want = '"tst":%d' % report["last_tst"]
    while want not in h.cli(storage, "last", "--user", user, "--device", device,
                            check=False).stdout:
        time.sleep(0.005)


def run(with_events, receiver):
    work = h.Workdir()
    storage = work.file("store")
    broker = h.Broker(work, "max_inflight_messages 1000\nmax_queued_messages 0\n").start()
    args = ["--log-level", "info", "--silence-after", "0"]
    if with_events:
        args += ["--battery-low", "50"]
        for user in USERS:
            h.cli(storage, "webhook", "add", "--user", user, "--url",
                  "http://127.0.0.1:%d/hook" % receiver.port)
    else:
        args += ["--battery-low", "1", "--event-topic", ""]
    server = h.Server(work, storage, broker.port, args).start()
    before = len(receiver.received())
    t0 = time.monotonic()
    with b.MemorySampler(server.proc.pid) as mem:
        report = h.publish(broker.port, generate=N, extra=["--inflight", "1000"])
        wait_committed(storage, report)
        seconds = time.monotonic() - t0
    events = drain_s = 0
    if with_events:
        for user in USERS:
            events += len(h.cli(storage, "events", "--user", user, "--kind",
                                "battery_low").stdout.splitlines())
        t1 = time.monotonic()
        port = server.http_port
        # Every event of every kind goes to the receiver; wait until the outbox is empty.
        total = total_events(storage)  # all committed: no more will come
        h.wait_for(lambda: metric(port, "wherelog_webhook_delivered_total") >= total, 600,
                   "the receiver to have every event")
        drain_s = time.monotonic() - t1
    delivered = len(receiver.received()) - before
    server.stop()
    broker.stop()
    work.remove()
    return dict(rate=N / seconds, peak=mem.peak, events=events, delivered=delivered,
                drain_s=drain_s)


def total_events(storage):
    return sum(len(h.cli(storage, "events", "--user", u).stdout.splitlines()) for u in USERS)


def main():
    print("events benchmark: %d QoS 1 messages, 8 devices, %d rounds each" % (N, ROUNDS))
    receiver = Receiver()
    rates = {False: [], True: []}
    try:
        for r in range(ROUNDS):
            for with_events in (False, True):
                res = run(with_events, receiver)
                rates[with_events].append(res["rate"])
                print("  round %d %-8s %7.0f msg/s   peak RssAnon %.1f MiB%s" % (
                    r + 1, "with" if with_events else "without", res["rate"],
                    b.mib(res["peak"]),
                    "   %d battery events, %d requests delivered, outbox empty %.1f s after "
                    "the last commit" % (res["events"], res["delivered"], res["drain_s"])
                    if with_events else ""))
    finally:
        receiver.close()
    without, with_ = statistics.median(rates[False]), statistics.median(rates[True])
    print("  median: without %.0f msg/s, with events and a webhook %.0f msg/s: %.1f %% of "
          "without (target: at least 90 %%)" % (without, with_, 100 * with_ / without))


if __name__ == "__main__":
    main()
