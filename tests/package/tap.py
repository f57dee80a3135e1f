"""The checks of the package tests (test_deb, test_boot, test_container) as TAP lines:
`ok N - what` for each check that held, one `not ok N - why` for the one that did not, and the
plan `1..N` at the end."""

import shlex
import subprocess

passed = 0


class Failed(Exception):
    pass


def ok(what):
    global passed
    passed += 1
    print(f"ok {passed} - {what}", flush=True)


def check(cond, what, detail=""):
    if not cond:
        raise Failed(f"{what}{': ' + str(detail) if detail else ''}")
    ok(what)


def not_ok(why):
    print(f"not ok {passed + 1} - {why}", flush=True)


def plan(failed):
    print(f"1..{passed + (1 if failed else 0)}")


def run(cmd, check_rc=True, **kw):
    """Runs cmd, capturing its output; Failed (with that output) if it exits non-zero."""
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check_rc and p.returncode != 0:
        raise Failed(f"{shlex.join(cmd)} exited {p.returncode}:\n{p.stdout}{p.stderr}")
    return p
