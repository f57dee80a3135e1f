#!/usr/bin/python3
"""Builds the container image from the Dockerfile with podman, runs what is inside with
buildah, and checks compose.yaml.

    tests/package/test_container.py

Run as root, with podman, buildah, mmdebstrap, mosquitto, mosquitto-clients and
docker-compose installed (`packaging/dev container` installs them and runs it). No image
registry is reachable here, so the base image is a Debian 12 root made by packaging/root
(mmdebstrap, from the Debian mirror; WHERELOG_ROOT_CACHE keeps it for a week) and imported
with `podman import`; the Dockerfile takes it as --build-arg BASE. Container runtimes cannot
set resource limits on these machines, so the image's entrypoint runs under
`buildah run --isolation chroot`, which shares the host's network: its broker is a mosquitto
on a free loopback port, run with compose.yaml's broker configuration. It checks that:
  - compose.yaml passes `docker-compose config` (docker-compose 1.29 validates it against
    the Compose schema, offline) and agrees with the image and with the broker's
    configuration: volume path, port, secrets, the broker's password file and data path;
  - the image builds (multi-stage), and holds no compiler and no headers; its size is
    printed;
  - its entrypoint, with compose.yaml's environment and secrets, serves the map and the API
    (with sign-in), stores a point published to the broker, and runs as a non-root user
    without capabilities;
  - the image's health check answers healthy while it runs and unhealthy once it stopped;
  - it exits 0 on SIGTERM; a new container from the image, given the same volume, has the
    point, and gets what was published while it was stopped (same MQTT session).
Everything happens in a private container storage in a temporary directory, removed at the
end, also on failure; the machine's own podman storage is not touched.
"""

import base64
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings

import yaml

from tap import Failed, check, not_ok, plan, run  # noqa: E402 (the tests' own module)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # fine for a test's password file
    import crypt

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BASE_TAG = "localhost/wherelog-test-base:bookworm"
IMAGE_TAG = "localhost/wherelog:test"
APP_UID = 10001  # the Dockerfile's user; compose.yaml's files must be readable by it
# How long to wait for something that should happen (a server to answer, a message to
# arrive): only a bound for a hung test, never a measure of speed.
PATIENCE = 180


def wait_for(predicate, what):
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise Failed(f"gave up waiting for {what} after {PATIENCE} s")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path, auth=None):
    """(status, body); status 0 when nothing answers."""
    headers = {}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        return r.status, r.read()
    except OSError:
        return 0, b""
    finally:
        conn.close()


class Storage:
    """podman and buildah on a container storage of their own. overlay where the kernel
    mounts it here (it does on ext4 as root), vfs otherwise: vfs copies every layer, slower
    and bigger, but works anywhere."""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "storage")
        root, runroot = os.path.join(self.dir, "root"), os.path.join(self.dir, "run")
        for driver in ("overlay", "vfs"):
            self.opts = ["--root", root, "--runroot", runroot, "--storage-driver", driver]
            if run(["podman", *self.opts, "info"], check_rc=False).returncode == 0:
                self.driver = driver
                return
            shutil.rmtree(self.dir, ignore_errors=True)
        raise Failed("podman works with neither the overlay nor the vfs storage driver here")

    def podman(self, *args, **kw):
        return run(["podman", *self.opts, *args], **kw)

    def buildah(self, *args, **kw):
        return run(["buildah", *self.opts, *args], **kw)

    def remove(self):
        if not os.path.isdir(self.dir):
            return
        self.buildah("rm", "--all", check_rc=False)
        self.podman("rmi", "--all", "--force", check_rc=False)
        # What a failed run may have left mounted; rm -rf must not go through a mount.
        with open("/proc/self/mountinfo") as f:
            mounts = [l.split()[4] for l in f if l.split()[4].startswith(self.dir + "/")]
        for m in sorted(mounts, key=len, reverse=True):
            run(["umount", "-l", m], check_rc=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def descendants(pid):
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                pass  # gone meanwhile
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        kids = [p for p, pp in parents.items() if pp == parent]
        found += kids
        todo += kids
    return found


def proc_status(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return dict(l.rstrip("\n").split(":\t", 1) for l in f if ":\t" in l)
    except OSError:
        return {}


class Container:
    """The image's entrypoint in a new buildah container from it, under chroot isolation."""

    def __init__(self, storage, image, name, entrypoint, mounts, env, log_path):
        self.storage, self.name = storage, name
        storage.buildah("from", "--name", name, image)
        # buildah 1.28 mounts a volume of its own at each path the image declares a VOLUME,
        # and where a --volume names the same path, one of the two wins at random (a Go map's
        # order): the store landed in buildah's volume in 4 runs of 12. So the container
        # forgets the declaration, and the --volume is the one mount there.
        for m in mounts:
            storage.buildah("config", "--volume", m.split(":")[1] + "-", name)
        self.log = open(log_path, "a")
        opts = [a for m in mounts for a in ("--volume", m)]
        opts += [a for k, v in env.items() for a in ("--env", f"{k}={v}")]
        self.proc = subprocess.Popen(
            ["buildah", *storage.opts, "run", "--isolation", "chroot", *opts, name, "--",
             *entrypoint], stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        self.run_opts = opts

    def server_pid(self):
        """The entrypoint's process, once buildah has started it."""
        def find():
            if self.proc.poll() is not None:
                raise Failed(f"buildah run exited {self.proc.returncode} (see the log below)")
            for pid in descendants(self.proc.pid):
                try:
                    if os.readlink(f"/proc/{pid}/exe").endswith("/usr/bin/wherelog"):
                        return pid
                except OSError:
                    pass
            return None
        return wait_for(find, "the entrypoint to start")

    def exec(self, *cmd):
        """Runs a command in the same container (its files, user, environment)."""
        return self.storage.buildah("run", "--isolation", "chroot", *self.run_opts, self.name,
                                    "--", *cmd, check_rc=False)

    def stop(self):
        """SIGTERM to the server, as `docker stop` sends; returns buildah run's status."""
        if self.proc.poll() is None:
            for pid in descendants(self.proc.pid):
                if proc_status(pid).get("Name") == "wherelog":
                    os.kill(pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=PATIENCE)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            for pid in descendants(self.proc.pid) + [self.proc.pid]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.wait()
        self.log.close()

    def remove(self):
        self.storage.buildah("rm", self.name, check_rc=False)


def check_compose(image_config):
    """compose.yaml: valid for docker-compose, and consistent with the image and the broker's
    configuration. Returns (the wherelog service, the broker's configuration file)."""
    p = run(["docker-compose", "--project-directory", REPO, "-f",
             os.path.join(REPO, "compose.yaml"), "config"], check_rc=False, cwd=REPO)
    check(p.returncode == 0, "compose.yaml passes docker-compose config", p.stderr)
    compose = yaml.safe_load(p.stdout)
    services = compose.get("services", {})
    check(set(services) == {"mosquitto", "wherelog"},
          "compose.yaml has the services mosquitto and wherelog", sorted(services))
    app, broker = services["wherelog"], services["mosquitto"]
    check(all(s.get("restart") == "unless-stopped" for s in (app, broker)),
          "both restart unless stopped")
    check(os.path.realpath(app["build"]["context"]) == REPO,
          "wherelog is built from this repository's Dockerfile", app["build"])
    named = set(compose.get("volumes", {}))
    app_volumes = {v.split(":")[1]: v.split(":")[0] for v in app["volumes"]}
    declared = set(image_config.get("Volumes") or {})
    check(declared and all(app_volumes.get(d) in named for d in declared),
          "compose.yaml keeps the image's volumes on named volumes", (declared, app_volumes))
    exposed = {int(p.split("/")[0]) for p in image_config.get("ExposedPorts") or {}}
    targets = {int(p["target"]) for p in app.get("ports", [])}
    check(exposed and exposed == targets, "it publishes the port the image exposes",
          (exposed, targets))
    env = app["environment"]
    check(env.get("WHERELOG_MQTT_HOST") == "mosquitto", "wherelog's broker is the mosquitto service")
    secrets = {s["source"] for s in app.get("secrets", [])}
    for key in ("WHERELOG_MQTT_PASSWORD_FILE", "WHERELOG_HTTP_AUTH_FILE"):
        name = env.get(key, "").removeprefix("/run/secrets/")
        check(name in secrets and name in compose.get("secrets", {}),
              f"{key} names a secret of compose.yaml", env.get(key))
    check("healthcheck" in app and "test" not in app["healthcheck"],
          "wherelog keeps the image's health check")

    mounts = {v.split(":")[1]: v.split(":")[0] for v in broker["volumes"]}
    conf_path = mounts.get("/mosquitto/config/mosquitto.conf", "")
    check(os.path.isfile(conf_path), "the broker's configuration is in the repository", conf_path)
    with open(conf_path) as f:
        conf = dict(l.split(None, 1) for l in f.read().splitlines()
                    if l.strip() and not l.startswith("#"))
    check(conf.get("allow_anonymous") == "false" and conf.get("password_file") in mounts,
          "the broker wants a password, from a file compose.yaml mounts", conf)
    check(mounts.get(conf.get("persistence_location", "").rstrip("/")) in named,
          "the broker keeps its sessions on a named volume", conf.get("persistence_location"))
    return app, conf_path


def start_broker(tmp, conf_path, users):
    """Debian's mosquitto with compose.yaml's configuration, on a free loopback port."""
    port = free_port()
    passwd = os.path.join(tmp, "mosquitto.passwd")
    for i, (user, password) in enumerate(users.items()):
        run(["mosquitto_passwd", *(["-c"] if i == 0 else []), "-b", passwd, user, password])
    data = os.path.join(tmp, "mosquitto-data")
    os.makedirs(data)
    conf = []
    with open(conf_path) as f:
        for line in f.read().splitlines():
            key = line.split(None, 1)[0] if line.strip() else ""
            if key == "listener":
                line = f"listener {port} 127.0.0.1"
            elif key == "password_file":
                line = f"password_file {passwd}"
            elif key == "persistence_location":
                line = f"persistence_location {data}/"
            conf.append(line)
    # Started as root, mosquitto would switch to its own user, which cannot read the test's
    # private directory.
    conf_file = os.path.join(tmp, "mosquitto.conf")
    with open(conf_file, "w") as f:
        f.write("user root\n" + "\n".join(conf) + "\n")
    log = open(os.path.join(tmp, "mosquitto.log"), "w")
    proc = subprocess.Popen(["mosquitto", "-c", conf_file], stdout=log, stderr=subprocess.STDOUT)

    def listening():
        if proc.poll() is not None:
            raise Failed(f"mosquitto exited {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False
    wait_for(listening, "mosquitto to listen")
    return proc, port


def publish(port, user, password, topic, payload):
    run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-u", user, "-P", password,
         "-q", "1", "-t", topic, "-m", payload])


def last_tsts(port, auth):
    status, body = http_get(port, "/api/0/last", auth)
    return {p.get("tst") for p in json.loads(body)} if status == 200 else set()


def test(tmp, storage):
    root = os.path.join(tmp, "root")
    print("# making the base image: a Debian 12 root (packaging/root make), podman import")
    run([os.path.join(REPO, "packaging", "root"), "make", root, "--slim"])
    tar = subprocess.Popen(["tar", "-C", root, "-cf", "-", "."], stdout=subprocess.PIPE)
    storage.podman("import", "-", BASE_TAG, stdin=tar.stdout)
    tar.stdout.close()
    check(tar.wait() == 0, f"the base image {BASE_TAG} is imported ({storage.driver} storage)")
    run([os.path.join(REPO, "packaging", "root"), "remove", root])

    print("# podman build (the whole build log is printed if it fails)")
    storage.podman("build", "--isolation", "chroot", "--format", "docker", "--build-arg",
                   f"BASE={BASE_TAG}", "--tag", IMAGE_TAG, REPO)
    check(True, "podman build --isolation chroot --format docker builds the Dockerfile")
    info = json.loads(storage.podman("image", "inspect", IMAGE_TAG).stdout)[0]
    config = info["Config"]
    sizes = {}
    for tag in (BASE_TAG, IMAGE_TAG):
        sizes[tag] = int(storage.podman("image", "inspect", "--format", "{{.Size}}", tag).stdout)
    print(f"# image size: {sizes[IMAGE_TAG] / 1e6:.1f} MB, of which the base "
          f"{sizes[BASE_TAG] / 1e6:.1f} MB and wherelog's layers "
          f"{(sizes[IMAGE_TAG] - sizes[BASE_TAG]) / 1e6:.1f} MB")
    print("# its layers:\n" + "".join(
        f"#   {l}\n" for l in storage.podman("history", "--format", "{{.Size}}\t{{.CreatedBy}}",
                                            IMAGE_TAG).stdout.splitlines()))
    check(config.get("User") not in (None, "", "root", "0"), "the image runs as a user, not root",
          config.get("User"))
    env = dict(e.split("=", 1) for e in config.get("Env", []))
    volumes = list(config.get("Volumes") or {})
    check(volumes == [env.get("WHERELOG_STORAGE")], "its one volume is the store",
          (volumes, env.get("WHERELOG_STORAGE")))
    health = (info.get("Healthcheck") or {}).get("Test") or []
    check(health[:1] in (["CMD"], ["CMD-SHELL"]), "it has a health check (kept by --format docker)",
          health)
    entrypoint = config.get("Entrypoint") or []
    check(entrypoint, "it has an entrypoint", entrypoint)

    probe = "probe"
    storage.buildah("from", "--name", probe, IMAGE_TAG)
    top = storage.buildah("mount", probe).stdout.strip()
    leftovers = [p for p in ("usr/bin/gcc", "usr/bin/cc", "usr/bin/meson", "usr/bin/ninja",
                             "usr/include/mosquitto.h", "usr/include/lmdb.h",
                             "usr/include/stdio.h")
                 if os.path.lexists(os.path.join(top, p))]
    check(not leftovers, "the image holds no compiler, build tool or header", leftovers)
    storage.buildah("umount", probe)
    storage.buildah("rm", probe)

    app, conf_path = check_compose(config)

    # The broker as compose.yaml configures it, with a user for wherelog and one for a phone.
    mqtt_password, phone_password = "wherelog-secret", "phone-secret"
    broker, broker_port = start_broker(tmp, conf_path, {app["environment"]["WHERELOG_MQTT_USER"]:
                                                        mqtt_password, "jane": phone_password})
    try:
        run_app(tmp, storage, config, entrypoint, app, broker_port, mqtt_password,
                phone_password, health)
    finally:
        broker.terminate()
        broker.wait()


def run_app(tmp, storage, config, entrypoint, app, broker_port, mqtt_password, phone_password,
            health):
    # compose.yaml's secrets, as Compose mounts them (/run/secrets/NAME), readable by the
    # image's user only.
    secrets = os.path.join(tmp, "secrets")
    os.makedirs(secrets)
    with open(os.path.join(secrets, "mqtt-password"), "w") as f:
        f.write(mqtt_password + "\n")
    with open(os.path.join(secrets, "htpasswd"), "w") as f:
        f.write(f"jane:{crypt.crypt('map-secret', crypt.mksalt(crypt.METHOD_BLOWFISH))}\n")
    for name in os.listdir(secrets):
        os.chown(os.path.join(secrets, name), APP_UID, APP_UID)
        os.chmod(os.path.join(secrets, name), 0o400)
    # A bind-mounted store belongs to the image's user (the README says so).
    volume_path = list(config["Volumes"])[0]
    volume = os.path.join(tmp, "volume")
    os.makedirs(volume)
    os.chown(volume, APP_UID, APP_UID)
    os.chmod(volume, 0o700)

    http_port = free_port()
    env = dict(app["environment"])
    env.update(WHERELOG_MQTT_HOST="127.0.0.1", WHERELOG_MQTT_PORT=str(broker_port),
               WHERELOG_HTTP_PORT=str(http_port))
    mounts = [f"{volume}:{volume_path}", f"{secrets}:/run/secrets:ro"]
    log_path = os.path.join(tmp, "container.log")
    auth = ("jane", "map-secret")
    topic = "owntracks/jane/phone"
    tst = int(time.time()) - 60

    def healthy():
        return http_get(http_port, "/healthz")[0] == 200

    def health_check(c):
        cmd = health[1:] if health[0] == "CMD" else ["/bin/sh", "-c", health[1]]
        return c.exec(*cmd)

    c = Container(storage, IMAGE_TAG, "first", entrypoint, mounts, env, log_path)
    try:
        pid = c.server_pid()
        wait_for(healthy, "GET /healthz to answer 200 (store writable, MQTT connected)")
        check(True, f"the entrypoint serves on 0.0.0.0:{http_port}, connected to the broker")
        status = proc_status(pid)
        uids = status.get("Uid", "").split()
        check(uids and all(int(u) == APP_UID for u in uids), f"it runs as uid {APP_UID}",
              status.get("Uid"))
        check(int(status.get("CapEff", "1"), 16) == 0, "it has no capabilities",
              status.get("CapEff"))
        data = os.path.join(volume, "data.mdb")
        fds = os.listdir(f"/proc/{pid}/fd")
        in_volume = os.path.exists(data) and any(
            os.path.samestat(os.stat(f"/proc/{pid}/fd/{fd}"), os.stat(data)) for fd in fds)
        check(in_volume, f"its store is the volume mounted at {volume_path}",
              [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in fds])
        with open(os.path.join(REPO, "web", "index.html"), "rb") as f:
            index = f.read()
        check(http_get(http_port, "/", auth) == (200, index), "it serves the map")
        code, body = http_get(http_port, "/vendor/leaflet/leaflet.js", auth)
        check(code == 200 and b"Leaflet" in body[:2000], "and Leaflet, from libjs-leaflet", code)
        check(http_get(http_port, "/api/0/list")[0] == 401, "the API wants sign-in")
        code, body = http_get(http_port, "/api/0/version", auth)
        check(code == 200 and "version" in json.loads(body), "it answers the API signed in",
              body[:200])

        def stored():
            publish(broker_port, "jane", phone_password, topic,
                    json.dumps({"_type": "location", "lat": 48.1, "lon": 11.5, "tst": tst}))
            return tst in last_tsts(http_port, auth)
        wait_for(stored, "a published point to show in /api/0/last")
        check(True, "a point published to the broker is stored and served")

        p = health_check(c)
        check(p.returncode == 0, "the image's health check says healthy", p.stdout + p.stderr)
        rc = c.stop()
        check(rc == 0, "SIGTERM stops it with status 0", rc)
        p = health_check(c)
        check(p.returncode != 0, "the health check says unhealthy once it has stopped")
    finally:
        c.kill()
        c.remove()

    check(os.path.exists(os.path.join(volume, "data.mdb")),
          "the store stays in the volume when the container is removed", os.listdir(volume))

    # Published while wherelog is away: the broker keeps it for wherelog's persistent session,
    # whose client id comes from the store.
    publish(broker_port, "jane", phone_password, topic,
            json.dumps({"_type": "location", "lat": 48.2, "lon": 11.6, "tst": tst + 30}))
    c = Container(storage, IMAGE_TAG, "second", entrypoint, mounts, env, log_path)
    try:
        c.server_pid()
        wait_for(healthy, "GET /healthz to answer 200 after the restart")
        code, body = http_get(http_port, "/api/0/locations?user=jane&device=phone", auth)
        kept = code == 200 and tst in {p.get("tst") for p in json.loads(body).get("data", [])}
        check(kept, "a new container on the same volume has the point", body[:300])
        wait_for(lambda: tst + 30 in last_tsts(http_port, auth),
                 "the point published while it was stopped")
        check(True, "and gets what was published while it was stopped (same MQTT session)")
        check(c.stop() == 0, "the second container stops cleanly too")
    finally:
        c.kill()
        c.remove()


def main():
    if len(sys.argv) != 1 or os.geteuid() != 0:
        print(__doc__.split("\n\n")[1] + "\n(as root)", file=sys.stderr)
        return 2
    tmp = tempfile.mkdtemp(prefix="wherelog-containertest.")
    os.chmod(tmp, 0o755)  # the image's user reaches the volume and secrets below it
    storage, failed = None, None
    try:
        storage = Storage(tmp)
        test(tmp, storage)
    except Exception as e:
        failed = f"{type(e).__name__}: {e}"
        not_ok(failed)
        for log in ("container.log", "mosquitto.log"):
            path = os.path.join(tmp, log)
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    print(f"# {log} (last lines):\n" +
                          "".join("#   " + l for l in f.readlines()[-30:]))
    finally:
        if storage:
            storage.remove()
        if os.path.isdir(os.path.join(tmp, "root")):
            run([os.path.join(REPO, "packaging", "root"), "remove", os.path.join(tmp, "root")],
                check_rc=False)
        shutil.rmtree(tmp, ignore_errors=True)
    plan(failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
