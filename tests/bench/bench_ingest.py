"""Ingest benchmark (issue 2): 200,000 QoS 1 locations from 8 devices over a year, through a
real mosquitto.

1. live: wherelog and the reference, `mosquitto_sub -q 1 -t 'owntracks/#' > /dev/null`, are
   subscribed while the stream is published; each one's rate is messages / (first publish
   until it has the last message; for wherelog: until the last one is committed).
2. backlog: both were away while the stream was published (persistent sessions); each then
   drains the broker's queue alone. Here the broker is not shared, so this shows what a
   consumer itself can take.

Also wherelog's peak private memory (RssAnon, sampled) and bytes per stored point on disk.
"""
import os
import subprocess
import threading
import time

import benchlib as b
import harness as h

N = int(os.environ.get("BENCH_MESSAGES", "200000"))


def wait_committed(storage, report):
    """Until the last generated message is in the store."""
    _, user, device = report["last_topic"].split("/")
    want = '"tst":%d' % report["last_tst"]
    while want not in h.cli(storage, "last", "--user", user, "--device", device,
                            check=False).stdout:
        time.sleep(0.005)


def ref_sub(port, extra=()):
    return subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-q", "1",
                             "-t", "owntracks/#"] + list(extra), stdout=subprocess.DEVNULL)


def disk(storage, published):
    size = os.path.getsize(os.path.join(storage, "data.mdb"))
    return size, size / published


def live(inflight):
    work = h.Workdir()
    storage = work.file("store")
    broker = h.Broker(work, "max_inflight_messages %d\nmax_queued_messages 0\n" % inflight)
    broker.start()
    server = h.Server(work, storage, broker.port, ["--log-level", "info"]).start()
    ref = ref_sub(broker.port, ["-C", str(N)])
    time.sleep(0.5)
    report, ref_time = {}, {}
    t0 = time.monotonic()
    waiter = threading.Thread(target=lambda: (ref.wait(), ref_time.update(
        t=time.monotonic() - t0)))
    waiter.start()
    with b.MemorySampler(server.proc.pid) as mem:
        report.update(h.publish(broker.port, generate=N, extra=["--inflight", "1000"]))
        wait_committed(storage, report)
        t_wl = time.monotonic() - t0
    waiter.join()
    size, per_point = disk(storage, report["published"])
    server.stop()
    broker.stop()
    work.remove()
    return dict(ref_s=ref_time["t"], wl_s=t_wl, peak=mem.peak, samples=mem.samples,
                raw=report["bytes"] / report["published"], size=size, per_point=per_point)


def backlog(inflight):
    work = h.Workdir()
    storage = work.file("store")
    broker = h.Broker(work, "max_inflight_messages %d\nmax_queued_messages 0\n" % inflight)
    broker.start()
    server = h.Server(work, storage, broker.port, ["--log-level", "info"]).start()
    server.stop()
    ref = ref_sub(broker.port, ["-c", "-i", "bench-ref"])  # make the persistent session
    time.sleep(0.5)
    ref.terminate()
    ref.wait()
    report = h.publish(broker.port, generate=N, extra=["--inflight", "1000"])

    t0 = time.monotonic()
    ref = ref_sub(broker.port, ["-c", "-i", "bench-ref", "-C", str(N)])
    ref.wait()
    ref_s = time.monotonic() - t0

    t0 = time.monotonic()
    server.start(wait_subscribed=False)
    with b.MemorySampler(server.proc.pid) as mem:
        wait_committed(storage, report)
        wl_s = time.monotonic() - t0
    server.stop()
    broker.stop()
    work.remove()
    return dict(ref_s=ref_s, wl_s=wl_s, peak=mem.peak, samples=mem.samples)


def main():
    print("ingest benchmark: %d QoS 1 messages, 8 devices, a year of timestamps" % N)
    for inflight in (20, 1000):
        print("  broker max_inflight_messages %d" % inflight)
        r = live(inflight)
        ref, wl = N / r["ref_s"], N / r["wl_s"]
        print("    live     reference %7.0f msg/s   wherelog %7.0f msg/s   ratio %.2f   "
              "peak RssAnon %.1f MiB (%d samples)" % (ref, wl, wl / ref, b.mib(r["peak"]),
                                                     r["samples"]))
        print("             raw payload %.1f B/point; data.mdb %d bytes = %.1f B/point"
              % (r["raw"], r["size"], r["per_point"]))
        r = backlog(inflight)
        ref, wl = N / r["ref_s"], N / r["wl_s"]
        print("    backlog  reference %7.0f msg/s   wherelog %7.0f msg/s   ratio %.2f   "
              "peak RssAnon %.1f MiB (%d samples)" % (ref, wl, wl / ref, b.mib(r["peak"]),
                                                     r["samples"]))


if __name__ == "__main__":
    main()
