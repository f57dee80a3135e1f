#!/usr/bin/python3
"""Boots a throwaway Debian 12 with systemd as PID 1 in a container, with the wherelog .deb
installed, and checks the real unit under the real sandbox.

    tests/package/test_boot.py build-deb/wherelog_VERSION_ARCH.deb

Run as root, with mmdebstrap and systemd-container (systemd-nspawn) installed
(`packaging/dev deb-test --boot` does both). Where systemd is not PID 1, test_deb.py can only
check the unit statically; this test makes a root file system with mmdebstrap (from the Debian
mirror), boots it with systemd-nspawn on a private network (its mosquitto on 1883 and wherelog
on 8083 touch nothing outside), and checks through nsenter that:
  - the package's unit started at boot: Type=notify readiness, its status text, running as
    the user wherelog without capabilities, with no_new_privs and a seccomp filter;
  - it serves the map and stores a message published to the container's mosquitto;
  - sign-in with an htpasswd file root:wherelog 0640 works under PrivateUsers=;
  - `systemd-analyze verify` of the unit there (procps, /bin/kill, is not needed);
  - systemctl reload (ExecReload=), Restart=on-failure after SIGKILL, systemctl stop
    (status 0); and with SystemCallErrorNumber=kill (a drop-in), so that a system call the
    filter refuses would kill it, none was refused;
  - purge inside the container removes the store and the user.
Everything is removed at the end, also on failure.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

from tap import Failed, check, not_ok, plan, run  # noqa: E402 (the tests' own module)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # fine for a test's password file
    import crypt

MIRRORS = ["deb http://deb.debian.org/debian bookworm main",
           "deb http://deb.debian.org/debian bookworm-updates main",
           "deb http://deb.debian.org/debian-security bookworm-security main"]
NSPAWN_RUN = "/run/systemd/nspawn"  # nspawn's own state, left behind without a host systemd


class Container:
    def __init__(self, root, log):
        self.proc = subprocess.Popen(
            ["systemd-nspawn", "-D", root, "--boot", "--private-network", "--register=no",
             "--keep-unit", "--machine=wherelog-boottest"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        self.pid = None
        deadline = time.monotonic() + 30
        while self.pid is None and time.monotonic() < deadline and self.proc.poll() is None:
            kids = run(["ps", "-o", "pid=,comm=", "--ppid", str(self.proc.pid)],
                       check_rc=False).stdout.split()
            if len(kids) >= 2 and kids[1] == "systemd":
                self.pid = kids[0]
            else:
                time.sleep(0.2)
        if self.pid is None:
            raise Failed("the container's systemd did not start (see the log)")

    def sh(self, script, check_rc=True):
        return run(["nsenter", "-t", self.pid, "-a", "/bin/sh", "-c", script], check_rc)

    def poweroff(self):
        if self.proc.poll() is None and self.pid:
            run(["nsenter", "-t", self.pid, "-a", "systemctl", "poweroff"], check_rc=False)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def bcrypt_line(user, password):
    return f"{user}:{crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))}\n"


def test(c, root):
    state, deadline = "", time.monotonic() + 90
    while state not in ("running", "degraded") and time.monotonic() < deadline:
        time.sleep(0.5)  # until its bus is up, systemctl has nothing to ask
        state = c.sh("systemctl is-system-running --wait", check_rc=False).stdout.strip()
    check(state in ("running", "degraded"), "the container's systemd finished booting", state)
    if state == "degraded":
        print("# failed units (not wherelog's business): " +
              c.sh("systemctl --failed --no-legend --plain", check_rc=False).stdout.strip())
    show = c.sh("systemctl show wherelog -p ActiveState -p Type -p StatusText -p MainPID "
                "-p NRestarts").stdout
    check("ActiveState=active" in show and "Type=notify" in show,
          "wherelog.service is active after boot (Type=notify)", show)
    check("StatusText=storing into /var/lib/wherelog" in show,
          "its sd_notify status says where it stores", show)
    main = re.search(r"MainPID=(\d+)", show).group(1)
    status = c.sh(f"cat /proc/{main}/status").stdout
    uid = c.sh("id -u wherelog").stdout.strip()
    check(re.search(rf"^Uid:\s+{uid}\s", status, re.M) is not None, "it runs as wherelog")
    check(re.search(r"^CapEff:\s+0+$", status, re.M) and re.search(r"^CapBnd:\s+0+$", status, re.M),
          "it has no capabilities, not even in its bounding set")
    check(re.search(r"^NoNewPrivs:\s+1$", status, re.M) and re.search(r"^Seccomp:\s+2$", status, re.M),
          "no_new_privs and a seccomp filter are set")

    # The unit runs nothing outside wherelog's dependencies and essential packages: where
    # procps (/bin/kill) is missing, as in this root unless something pulled it in, it
    # verifies and reloads all the same.
    has_kill = c.sh("test -e /bin/kill", check_rc=False).returncode == 0
    print(f"# /bin/kill (procps) is {'' if has_kill else 'not '}installed in the container")
    v = c.sh("systemd-analyze verify --man=no wherelog.service 2>&1", check_rc=False)
    check(v.returncode == 0 and not v.stdout.strip(), "systemd-analyze verify in the container",
          v.stdout)

    # From here on a system call outside SystemCallFilter= kills the service (SIGSYS) instead
    # of failing with EPERM, which the checks below, and the journal, would then show.
    c.sh("mkdir -p /etc/systemd/system/wherelog.service.d && printf '[Service]\\n"
         "SystemCallErrorNumber=kill\\n' > /etc/systemd/system/wherelog.service.d/sigsys.conf"
         " && systemctl daemon-reload && systemctl restart wherelog")
    errno = c.sh("systemctl show -p SystemCallErrorNumber wherelog").stdout.strip()
    check(errno.split("=")[1] in ("kill", "", "2147483646"),  # 252 shows kill as INT_MAX - 1
          "a drop-in makes a refused system call kill it", errno)
    code = c.sh("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8083/").stdout
    check(code == "200", "it serves the map on 127.0.0.1:8083", code)
    tst = int(time.time()) - 30
    found = False
    for _ in range(30):
        c.sh("mosquitto_pub -h localhost -q 1 -t owntracks/boottest/phone -m "
             f"'{{\"_type\":\"location\",\"lat\":48.1,\"lon\":11.5,\"tst\":{tst}}}'")
        time.sleep(0.5)
        out = c.sh("runuser -u wherelog -- wherelog last --config /etc/wherelog/wherelog.conf",
                   check_rc=False).stdout
        if f'"tst":{tst}' in out:
            found = True
            break
    check(found, "a message published to the container's mosquitto is stored")

    c.sh("systemctl reload wherelog")
    time.sleep(1)
    log = c.sh("journalctl -u wherelog -o cat --no-pager").stdout
    check("SIGHUP" in log and c.sh("systemctl is-active wherelog").stdout.strip() == "active",
          "systemctl reload (ExecReload=) reloads it", log[-500:])

    with open(os.path.join(root, "etc/wherelog/htpasswd"), "w") as f:
        f.write(bcrypt_line("jane", "s3cret"))
    c.sh("chown root:wherelog /etc/wherelog/htpasswd && chmod 0640 /etc/wherelog/htpasswd && "
         "mkdir -p /etc/systemd/system/wherelog.service.d && printf '[Service]\\n"
         "Environment=WHERELOG_HTTP_HOST=0.0.0.0 WHERELOG_HTTP_AUTH_FILE=/etc/wherelog/htpasswd\\n'"
         " > /etc/systemd/system/wherelog.service.d/signin.conf && systemctl daemon-reload && "
         "systemctl restart wherelog")
    anon = c.sh("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8083/api/0/list").stdout
    jane = c.sh("curl -s -o /dev/null -w '%{http_code}' -u jane:s3cret "
                "http://127.0.0.1:8083/api/0/list").stdout
    check((anon, jane) == ("401", "200"),
          "sign-in from an htpasswd file root:wherelog 0640 (PrivateUsers=)", f"{anon} {jane}")

    c.sh("systemctl kill -s KILL wherelog")
    time.sleep(7)  # RestartSec=5s
    show = c.sh("systemctl show wherelog -p ActiveState -p NRestarts").stdout
    check("ActiveState=active" in show and "NRestarts=1" in show,
          "Restart=on-failure brings it back after SIGKILL", show)
    c.sh("systemctl stop wherelog")
    show = c.sh("systemctl show wherelog -p Result -p ExecMainStatus").stdout
    check("Result=success" in show and "ExecMainStatus=0" in show,
          "systemctl stop: it exits with status 0", show)
    journal = c.sh("journalctl -o cat --no-pager").stdout
    refused = [l for l in journal.splitlines()
               if re.search(r"SIGSYS|31/SYS|Bad system call|core-dump|dumped core", l, re.I)]
    check(not refused, "no system call was refused (SystemCallErrorNumber=kill)",
          "\n".join(refused))
    exposure = c.sh("systemd-analyze security --no-pager wherelog | tail -n 1").stdout.strip()
    print(f"# {exposure}")

    c.sh("DEBIAN_FRONTEND=noninteractive apt-get purge -y -q wherelog")
    gone = c.sh("test ! -e /var/lib/wherelog && ! getent passwd wherelog && "
                "! getent group wherelog", check_rc=False).returncode == 0
    check(gone, "purge in the container removes the store, the user and the group")


def main():
    if len(sys.argv) != 2 or os.geteuid() != 0:
        print(__doc__.split("\n\n")[1] + "\n(as root)", file=sys.stderr)
        return 2
    deb = os.path.abspath(sys.argv[1])
    had_nspawn_run = os.path.exists(NSPAWN_RUN)
    tmp = tempfile.mkdtemp(prefix="wherelog-boottest.")
    root = os.path.join(tmp, "root")
    log_path = os.path.join(tmp, "container.log")
    container, failed = None, None
    try:
        print(f"# mmdebstrap bookworm with systemd, mosquitto and {os.path.basename(deb)}")
        run(["mmdebstrap", "--variant=apt", "--include=systemd,systemd-sysv,dbus,mosquitto,"
             f"mosquitto-clients,curl,{deb}",
             # dpkg inside sees the .deb at the same path as apt outside
             f"--setup-hook=mkdir -p \"$1{os.path.dirname(deb)}\" && cp {deb} \"$1{deb}\"",
             f"--customize-hook=rm -f \"$1{deb}\"",
             "--customize-hook=printf '127.0.0.1 localhost\\n::1 localhost\\n' > \"$1/etc/hosts\"",
             "--customize-hook=echo wherelog-boottest > \"$1/etc/hostname\"",
             "bookworm", root, *MIRRORS])
        with open(log_path, "w") as log:
            container = Container(root, log)
            test(container, root)
    except Exception as e:
        failed = f"{type(e).__name__}: {e}"
        not_ok(failed)
        if os.path.exists(log_path):
            with open(log_path, errors="replace") as f:
                print("# the container's console (last lines):\n" +
                      "".join("#   " + l for l in f.readlines()[-30:]))
    finally:
        if container:
            container.poweroff()
        shutil.rmtree(tmp, ignore_errors=True)
        if not had_nspawn_run:
            shutil.rmtree(NSPAWN_RUN, ignore_errors=True)
    plan(failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
