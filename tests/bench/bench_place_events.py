"""Place events at ingest (issue 15): the CPU a message costs with place_entered and
place_left derived, with 0 and 20 places, against no derivation at all, in batches of 1 and
20, and with 1000 other places in the store (what keeping a user's places between batches
saves). Runs tests/tools/wl_placebench.c on a fresh store per configuration. BENCH_FIXES
(default 20000). Prints figures; never fails on them.
"""
import os
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PLACEBENCH = os.environ.get("WL_PLACEBENCH",
                            os.path.join(ROOT, "build-release", "tests", "wl-placebench"))
FIXES = os.environ.get("BENCH_FIXES", "20000")


def main():
    with tempfile.TemporaryDirectory(prefix="wl-placebench-") as work:
        subprocess.run([PLACEBENCH, work, FIXES], check=True)


if __name__ == "__main__":
    main()
