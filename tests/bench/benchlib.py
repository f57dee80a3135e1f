"""Helpers for the benchmarks: private-memory sampling and timing."""
import os
import statistics
import threading
import time


def rss_anon_kb(pid):
    """Private anonymous memory (RssAnon): our heap and stacks, not LMDB's file-backed map
    pages, which are the page cache."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class MemorySampler:
    """Samples a process's RssAnon every `interval` seconds in a thread; .peak in KiB."""

    def __init__(self, pid, interval=0.005):
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            v = rss_anon_kb(self.pid)
            if v:
                self.peak = max(self.peak, v)
                self.samples += 1
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def median(values):
    return statistics.median(values)


def mib(kb):
    return kb / 1024.0
