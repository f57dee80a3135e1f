#!/usr/bin/python3
"""Installs the wherelog .deb on this machine, tests what it installed, and purges it.

    tests/package/test_deb.py build-deb/wherelog_VERSION_ARCH.deb

Run as root (packaging/dev deb-test does, after building the package). It checks:
  - the installed files (binary, web map, conffile, unit, man pages) and that the man pages
    render without warnings;
  - /etc/wherelog/wherelog.conf lists every setting of `wherelog serve --help` with its
    built-in default, and parses with all of them uncommented; both man pages name every
    setting, flag and environment variable;
  - the system user `wherelog` and its 0700 state directory /var/lib/wherelog;
  - `systemd-analyze verify` on the installed unit, and its `systemd-analyze security`
    exposure;
  - the unit's ExecStart, run as the unit's User= with its UMask=, LimitNOFILE=,
    NoNewPrivileges= and empty CapabilityBoundingSet= (setpriv), against a mosquitto of its
    own on a free port and with HTTP on a free port: it reports READY=1 on $NOTIFY_SOCKET,
    serves the map and Leaflet, stores a message published over MQTT (`wherelog last` as the
    user), survives SIGHUP (ExecReload=), and exits 0 on SIGTERM after STOPPING=1;
  - remove keeps the store, the user and the conffile; purge removes them all.

systemd is not PID 1 here, so the unit's sandbox (ProtectSystem=, PrivateTmp=,
SystemCallFilter=, ...) is checked only statically. The machine is left as it was: the
package and anything apt installed with it are purged, and the broker and server started
here are stopped, also on failure. It refuses to run where wherelog is installed, or where
the user or /var/lib/wherelog exist, since the purge at the end would remove them.
"""

import json
import os
import pwd
import grp
import re
import resource
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request

from tap import Failed, check, not_ok, ok, plan, run  # noqa: E402 (the tests' own module)

UNIT = "/lib/systemd/system/wherelog.service"
CONF = "/etc/wherelog/wherelog.conf"
STATE = "/var/lib/wherelog"
# Made as side effects, and removed by no purge: man-db keeps formatted pages when `man` shows
# an installed page (systemd-analyze verify does, for Documentation=man:...), and
# systemd-analyze verify touches a marker of its own.
SIDE_EFFECTS = ["/var/cache/man/cat1/wherelog.1.gz", "/var/cache/man/cat5/wherelog.conf.5.gz",
                "/run/systemd/systemd-units-load"]
MAX_EXPOSURE = 2.0  # systemd-analyze security: 1.2 when written; more means lost hardening


def apt(*args):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    return run(["apt-get", "-y", "-q", *args], env=env)


def installed_packages():
    out = run(["dpkg-query", "-W", "-f", "${binary:Package} ${db:Status-Abbrev}\n"]).stdout
    return {line.split()[0] for line in out.splitlines() if line.split()[1:2] == ["ii"]}


def package_state(name):
    p = run(["dpkg-query", "-W", "-f", "${db:Status-Abbrev}", name], check_rc=False)
    return p.stdout.strip() if p.returncode == 0 else "un"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def http_get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return r.status, r.read()


def unit_settings(path):
    """[Service] and [Unit] key -> list of values (enough for this unit: no continuations)."""
    values = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith(("#", ";", "[")) and "=" in line:
                k, v = line.split("=", 1)
                values.setdefault(k, []).append(v)
    return values


def render_man(path):
    """Renders a man page as wide plain text (no line breaks inside a setting's name). From a
    copy: man-db would keep a formatted page of the installed one in /var/cache/man."""
    env = dict(os.environ, MANWIDTH="1000", MAN_KEEP_FORMATTING="", LC_ALL="C.UTF-8")
    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(tmp, os.path.basename(path))
        shutil.copyfile(path, copy)
        p = run(["man", "--warnings", "-E", "UTF-8", "-l", copy], env=env)
    text = re.sub(r".\x08", "", p.stdout).replace("\u2010", "-").replace("\u2212", "-")
    return text, p.stderr


def help_settings():
    """(name, env) of every setting, in the order of `wherelog serve --help`."""
    out = run(["/usr/bin/wherelog", "serve", "--help"]).stdout
    found = re.findall(r"^  --([a-z][a-z0-9-]*)\b.*\[(WHERELOG_[A-Z0-9_]+)\]$", out, re.M)
    if len(found) < 30:
        raise Failed(f"cannot read the settings from `wherelog serve --help`:\n{out}")
    return found


def effective(args, env=None):
    """`wherelog serve --check` as {name: [(value, source)]} and its exit status."""
    p = run(["/usr/bin/wherelog", "serve", "--check", *args], check_rc=False,
            env=env if env is not None else clean_env())
    values = {}
    for line in p.stdout.splitlines():
        if line.startswith("#") or " = " not in line:
            continue
        name, rest = line.split(" = ", 1)
        value, source = rest.rsplit(" # ", 1)
        values.setdefault(name.strip(), []).append((value.strip(), source.strip()))
    return values, p


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHERELOG_")}
    env.update(extra)
    return env


def conf_lines():
    """key -> (value, commented) for each `key = value` or `#key = value` line."""
    lines = {}
    with open(CONF) as f:
        for line in f:
            m = re.match(r"^(#?)([a-z][a-z0-9-]*) =(?: (.*))?$", line.rstrip("\n"))
            if m:
                value = (m.group(3) or "").strip()
                if len(value) >= 2 and value[0] == value[-1] == '"':
                    value = value[1:-1]  # as wherelog reads it
                lines[m.group(2)] = (value, m.group(1) == "#")
    return lines


def test_installed_files(version):
    check(package_state("wherelog") == "ii", "wherelog is installed")
    got = run(["dpkg-query", "-W", "-f", "${Version}", "wherelog"]).stdout
    check(got == version, f"installed version is {version}", got)
    for path in ["/usr/bin/wherelog", "/usr/share/wherelog/web/index.html", CONF, UNIT,
                 "/usr/share/man/man1/wherelog.1.gz", "/usr/share/man/man5/wherelog.conf.5.gz",
                 "/usr/share/doc/wherelog/copyright"]:
        check(os.path.isfile(path), f"{path} is installed")
    check(os.access("/usr/bin/wherelog", os.X_OK), "/usr/bin/wherelog is executable")
    conffiles = run(["dpkg-query", "-W", "-f", "${Conffiles}", "wherelog"]).stdout
    check(CONF in conffiles, f"{CONF} is a conffile", conffiles)
    out = run(["/usr/bin/wherelog", "--version"]).stdout
    check(out.startswith(f"wherelog {version.split('-')[0]}"), "wherelog --version", out)
    for page in ["/usr/share/man/man1/wherelog.1.gz", "/usr/share/man/man5/wherelog.conf.5.gz"]:
        _, warnings = render_man(page)
        check(warnings.strip() == "", f"{page} renders without warnings", warnings)


def test_documentation():
    settings = help_settings()
    names = {n for n, _ in settings}
    defaults, p = effective([])
    check(p.returncode == 0, "wherelog serve --check passes with the built-in defaults",
          p.stdout + p.stderr)
    conf = conf_lines()
    missing = [n for n in names - {"config"} if n not in conf]
    check(not missing, "the conffile lists every setting of `wherelog serve --help`",
          ", ".join(sorted(missing)))
    unknown = sorted(set(conf) - names)
    check(not unknown, "the conffile lists no unknown setting", ", ".join(unknown))
    with open(CONF) as f:
        check('"config"' in f.read(), "the conffile says why `config` is not in it")
    wrong = []
    for name, (value, commented) in conf.items():
        default = [v for v, _ in defaults.get(name, [])]  # a list setting may have none
        if commented and [value] != default and not (value == "" and default in ([], [""])):
            wrong.append(f"{name}: file {value!r}, built-in {default!r}")
    check(not wrong, "each commented setting shows its built-in default", "; ".join(wrong))
    check(conf.get("storage") == (STATE, False), f"the conffile sets storage = {STATE}")

    # Uncommented, every line must parse and give the built-in default from the file (a
    # list setting with no default cannot be written empty, so it stays out).
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as tmp:
        with open(CONF) as f:
            for line in f:
                m = re.match(r"^#([a-z][a-z0-9-]*) =(?: (.*))?$", line)
                if m and (m.group(2) or "") == "" and not defaults.get(m.group(1)):
                    continue
                tmp.write(line[1:] if m else line)
        tmp.flush()
        values, p = effective(["--config", tmp.name])
        check(p.returncode == 0, "the conffile with every setting uncommented passes --check",
              p.stdout + p.stderr)
        not_file = sorted(n for n, vs in values.items()
                          if n != "config" and n in conf and any(s != "file" for _, s in vs))
        check(not not_file, "every uncommented setting comes from the file",
              ", ".join(not_file))
        changed = sorted(n for n in values if n not in ("config", "storage") and
                         [v for v, _ in values[n]] != [v for v, _ in defaults.get(n, [])])
        check(not changed, "the uncommented values are the built-in defaults", ", ".join(changed))

    man1, _ = render_man("/usr/share/man/man1/wherelog.1.gz")
    man5, _ = render_man("/usr/share/man/man5/wherelog.conf.5.gz")
    lacking = [f"--{n}" for n, _ in settings if f"--{n}" not in man1]
    lacking += [e for _, e in settings if e not in man1]
    check(not lacking, "wherelog(1) names every setting's flag and environment variable",
          ", ".join(lacking))
    commands = re.findall(r"^  (\w+)  ", run(["/usr/bin/wherelog", "--help"]).stdout, re.M)
    lacking = [c for c in commands if not re.search(rf"^ {{7}}{c}\b", man1, re.M)]
    check(len(commands) >= 13 and not lacking, "wherelog(1) describes every command",
          ", ".join(lacking) or str(commands))
    lacking = [n for n in names - {"config"} if not re.search(rf"^ +{n} = ", man5, re.M)]
    check(not lacking, "wherelog.conf(5) describes every key", ", ".join(sorted(lacking)))


def test_user():
    try:
        pw = pwd.getpwnam("wherelog")
    except KeyError:
        raise Failed("there is no user wherelog")
    check(pw.pw_uid < 1000, "wherelog is a system user", str(pw.pw_uid))
    check(pw.pw_dir == STATE, f"its home is {STATE}", pw.pw_dir)
    check(pw.pw_shell in ("/usr/sbin/nologin", "/bin/false"), "it cannot log in", pw.pw_shell)
    check(grp.getgrgid(pw.pw_gid).gr_name == "wherelog", "its group is wherelog")
    st = os.stat(STATE)
    check((st.st_uid, st.st_gid) == (pw.pw_uid, pw.pw_gid), f"it owns {STATE}")
    check(stat.S_IMODE(st.st_mode) == 0o700, f"{STATE} is 0700", oct(st.st_mode))
    return pw


def package_of(path):
    """The package that ships path, or "?". dpkg knows a file by the path its package
    names (/bin/sh, not merged /usr's /usr/bin/dash), and reports diversions first."""
    real = os.path.realpath(path)
    for p in (path, real, real[4:] if real.startswith("/usr/") else "/usr" + real):
        out = run(["dpkg-query", "-S", p], check_rc=False).stdout
        for line in out.splitlines():
            if not line.startswith("diversion by ") and ": " in line:
                return line.split(":")[0].split(",")[0].strip()
    return "?"


def test_unit():
    p = run(["systemd-analyze", "verify", UNIT], check_rc=False)
    print(f"# systemd-analyze verify {UNIT}: exit {p.returncode}, output: "
          f"{(p.stdout + p.stderr).strip() or '(none)'}")
    check(p.returncode == 0 and not (p.stdout + p.stderr).strip(), "systemd-analyze verify")
    p = run(["systemd-analyze", "security", "--offline=true", "--no-pager", UNIT],
            check_rc=False)
    m = re.search(r"Overall exposure level for wherelog.service: ([0-9.]+) (\w+)", p.stdout)
    check(m is not None, "systemd-analyze security --offline=true", p.stdout + p.stderr)
    print(f"# exposure level {m.group(1)} {m.group(2)}")
    check(float(m.group(1)) <= MAX_EXPOSURE, f"exposure level at most {MAX_EXPOSURE}",
          m.group(0))
    u = unit_settings(UNIT)
    check(u.get("Type") == ["notify"], "Type=notify")
    check(u.get("User") == ["wherelog"], "User=wherelog")
    check(u.get("ExecStart") == ["/usr/bin/wherelog serve --config /etc/wherelog/wherelog.conf"],
          "ExecStart runs serve with the conffile", str(u.get("ExecStart")))
    check(u.get("StateDirectory") == ["wherelog"], "StateDirectory=wherelog")
    # Each program the unit runs comes from this package, one it depends on, or an essential
    # one (a minimal system has no /bin/kill without procps).
    depends = run(["dpkg-query", "-W", "-f", "${Depends}", "wherelog"]).stdout
    depends = {d.strip().split()[0].split(":")[0] for d in re.split(r"[,|]", depends) if d.strip()}
    for key in ("ExecStartPre", "ExecStart", "ExecStartPost", "ExecReload", "ExecStop"):
        for cmd in u.get(key, []):
            prog = shlex.split(cmd.lstrip("-@:+!"))[0]
            pkg = package_of(prog)
            essential = pkg != "?" and run(["dpkg-query", "-W", "-f", "${Essential}", pkg],
                                           check_rc=False).stdout == "yes"
            check(pkg == "wherelog" or pkg in depends or essential,
                  f"{key}'s {prog} comes from a package wherelog depends on", pkg)
    return u


def start_broker(tmp):
    port = free_port()
    conf = os.path.join(tmp, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                "log_dest stderr\n")
    os.chmod(conf, 0o644)
    log = open(os.path.join(tmp, "mosquitto.log"), "w")
    proc = subprocess.Popen(["mosquitto", "-c", conf], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    if not wait_port(port, proc):
        raise Failed(f"mosquitto did not listen on {port}")
    ok(f"a mosquitto of its own listens on 127.0.0.1:{port}")
    return proc, port


def notify_socket(tmp):
    path = os.path.join(tmp, "notify")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    os.chmod(path, 0o777)  # the service's user sends to it, as to systemd's
    return s, path


def wait_notify(sock, want, proc, seconds):
    """Reads sd_notify messages until one has the line `want`; returns all of them."""
    got = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sock.settimeout(0.2)
        try:
            got.append(sock.recv(4096).decode())
            if want in got[-1].split("\n"):
                return got
        except socket.timeout:
            if proc.poll() is not None and want != "STOPPING=1":
                break
    raise Failed(f"no {want} within {seconds} s (got {got!r})")


def as_wherelog(*args):
    return run(["runuser", "-u", "wherelog", "--", "/usr/bin/wherelog", *args,
                "--config", CONF])


def test_service(unit, pw, tmp):
    broker, mqtt_port = start_broker(tmp)
    procs = [broker]
    try:
        http_port = free_port()
        sock, sock_path = notify_socket(tmp)
        limit = int(unit["LimitNOFILE"][0])
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        if hard != resource.RLIM_INFINITY and hard < limit:
            print(f"# LimitNOFILE={limit}: this machine's hard limit is {hard}, and raising it "
                  f"needs CAP_SYS_RESOURCE, which this root may lack: using {hard}")
            limit = hard
        umask = int(unit["UMask"][0], 8)

        def service_context():  # what systemd does for these unit settings
            os.umask(umask)
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "LANG": "C.UTF-8", "HOME": pw.pw_dir, "USER": "wherelog", "LOGNAME": "wherelog",
               "SHELL": pw.pw_shell, "NOTIFY_SOCKET": sock_path,
               # as a drop-in's Environment= would; the conffile leaves these at defaults
               "WHERELOG_MQTT_HOST": "127.0.0.1", "WHERELOG_MQTT_PORT": str(mqtt_port),
               "WHERELOG_HTTP_PORT": str(http_port)}
        cmd = ["setpriv", "--reuid=wherelog", "--regid=wherelog", "--init-groups",
               "--no-new-privs", "--bounding-set=-all", "--inh-caps=-all", "--",
               *shlex.split(unit["ExecStart"][0])]
        log_path = os.path.join(tmp, "wherelog.log")
        log = open(log_path, "w")
        print(f"# {shlex.join(cmd)}  (MQTT {mqtt_port}, HTTP {http_port})")
        server = subprocess.Popen(cmd, env=env, cwd="/", stdout=log, stderr=subprocess.STDOUT,
                                  preexec_fn=service_context)
        procs.append(server)
        try:
            msgs = wait_notify(sock, "READY=1", server, 30)
            check(server.poll() is None, "the service reports READY=1 on $NOTIFY_SOCKET",
                  repr(msgs))
            status, body = http_get(http_port, "/")
            with open("/usr/share/wherelog/web/index.html", "rb") as f:
                check(status == 200 and body == f.read(), "HTTP / serves the map's index.html")
            status, body = http_get(http_port, "/vendor/leaflet/leaflet.min.js")
            check(status == 200 and len(body) > 10000, "HTTP serves Leaflet from libjs-leaflet")
            status, body = http_get(http_port, "/api/0/version")
            check(status == 200 and "version" in json.loads(body), "HTTP /api/0/version")

            tst = int(time.time()) - 60
            payload = json.dumps({"_type": "location", "lat": 52.520008, "lon": 13.404954,
                                  "tst": tst, "acc": 5, "tid": "PT"})
            found = None
            deadline = time.monotonic() + 30
            while found is None and time.monotonic() < deadline:
                # published again until stored: a message sent before the subscription is
                # in place is not kept for this client
                run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(mqtt_port), "-q", "1",
                     "-t", "owntracks/pkgtest/phone", "-m", payload])
                time.sleep(0.5)
                if not os.path.exists(os.path.join(STATE, "data.mdb")):
                    continue
                last = json.loads(as_wherelog("last").stdout)
                found = next((p for p in last if p.get("username") == "pkgtest" or
                              p.get("user") == "pkgtest"), None)
            check(found is not None and found.get("tst") == tst,
                  "a message published over MQTT is stored (`wherelog last` as wherelog)",
                  repr(found))
            status, body = http_get(http_port, "/api/0/last")
            check(status == 200 and any(p.get("tst") == tst for p in json.loads(body)),
                  "HTTP /api/0/last has it")
            for name in ("data.mdb", "lock.mdb"):
                st = os.stat(os.path.join(STATE, name))
                check(st.st_uid == pw.pw_uid and stat.S_IMODE(st.st_mode) == 0o600,
                      f"{STATE}/{name} belongs to wherelog, mode 0600", oct(st.st_mode))
            out = as_wherelog("check").stdout
            check("0 problem(s)" in out, "wherelog check passes", out)

            server.send_signal(signal.SIGHUP)  # ExecReload=
            time.sleep(1)
            with open(log_path) as f:
                reloaded = "SIGHUP" in f.read()
            check(server.poll() is None and reloaded, "SIGHUP (ExecReload=) reloads, keeps running")

            server.send_signal(signal.SIGTERM)
            msgs = wait_notify(sock, "STOPPING=1", server, 30)
            ok("SIGTERM: the service reports STOPPING=1")
            rc = server.wait(timeout=30)
            check(rc == 0, "SIGTERM: the service exits with status 0", str(rc))
        except BaseException:
            log.flush()
            with open(log_path) as f:
                print("# the service's log:\n" + "".join("#   " + l for l in f), flush=True)
            raise
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def test_remove_and_purge():
    apt("remove", "wherelog")
    check(package_state("wherelog") == "rc", "remove leaves only the configuration files",
          package_state("wherelog"))
    check(not os.path.exists("/usr/bin/wherelog") and not os.path.exists(UNIT),
          "remove takes the binary and the unit")
    check(os.path.exists(os.path.join(STATE, "data.mdb")), "remove keeps the store")
    check(os.path.exists(CONF), "remove keeps the conffile")
    check(run(["getent", "passwd", "wherelog"], check_rc=False).returncode == 0,
          "remove keeps the user")
    apt("purge", "wherelog")
    check(package_state("wherelog") == "un", "purge removes the package",
          package_state("wherelog"))
    check(not os.path.exists(STATE), f"purge removes {STATE}")
    check(not os.path.exists("/etc/wherelog"), "purge removes /etc/wherelog")
    check(run(["getent", "passwd", "wherelog"], check_rc=False).returncode != 0,
          "purge removes the user")
    check(run(["getent", "group", "wherelog"], check_rc=False).returncode != 0,
          "purge removes the group")
    check(not os.path.lexists("/etc/systemd/system/multi-user.target.wants/wherelog.service"),
          "purge removes the unit's enablement link")


def main():
    if len(sys.argv) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("test_deb.py: run as root (it installs and purges the package)", file=sys.stderr)
        return 2
    deb = os.path.abspath(sys.argv[1])
    version = run(["dpkg-deb", "-f", deb, "Version"]).stdout.strip()
    in_the_way = [what for what, there in [
        ("the package wherelog", package_state("wherelog") != "un"),
        ("the user wherelog", run(["getent", "passwd", "wherelog"], check_rc=False).returncode == 0),
        ("the group wherelog", run(["getent", "group", "wherelog"], check_rc=False).returncode == 0),
        (STATE, os.path.lexists(STATE)),
        ("/etc/wherelog", os.path.lexists("/etc/wherelog"))] if there]
    if in_the_way:
        print(f"test_deb.py: {', '.join(in_the_way)} already exist(s) here; the test would "
              "purge them at the end. Remove them first (apt-get purge wherelog).",
              file=sys.stderr)
        return 2

    before = installed_packages()
    side_effects = [p for p in SIDE_EFFECTS if not os.path.exists(p)]
    tmp = tempfile.mkdtemp(prefix="wherelog-pkgtest.")
    os.chmod(tmp, 0o755)  # the service's user reaches the notify socket in it
    failed = None
    try:
        apt("install", "--no-install-recommends", deb)
        ok(f"apt-get install {os.path.basename(deb)}")
        test_installed_files(version)
        test_documentation()
        pw = test_user()
        unit = test_unit()
        test_service(unit, pw, tmp)
        test_remove_and_purge()
    except Failed as e:
        failed = str(e)
        not_ok(failed)
    except Exception as e:  # a bug or an unexpected answer: still clean up, and say where
        failed = f"{type(e).__name__}: {e}"
        not_ok(failed)
        traceback.print_exc(file=sys.stdout)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        for path in side_effects:
            if os.path.exists(path):
                os.unlink(path)
        if package_state("wherelog") != "un":
            apt("purge", "wherelog")
        added = sorted(installed_packages() - before)
        if added:
            print(f"# purging what apt installed with it: {' '.join(added)}")
            apt("purge", *added)
        after = installed_packages()
        if after != before:
            print(f"# packages differ from before: added {sorted(after - before)}, "
                  f"removed {sorted(before - after)}")
    plan(failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
