"""Events against a real server and a real mosquitto: derived at ingest and shown by the API,
the CLI and the live stream; delivered to a webhook receiver this test runs (across a kill -9
between commit and delivery, a receiver that is down, and one that answers 500), in order per
device, at least once, signed; republished on the broker; and Home Assistant's discovery
messages, checked against the documented schema."""
import hashlib
import hmac
import http.server
import json
import os
import re
import signal
import socket
import subprocess
import threading
import unittest

import contract
import harness as h

MOSQUITTO_SUB = "mosquitto_sub"
MOSQUITTO_PUB = "mosquitto_pub"


class Receiver:
    """A webhook receiver on a free loopback port. It records every request (headers and
    body). Its behaviour is set by the test: answer 200, answer 500 to the next n requests,
    or hold requests unanswered until released; and it can be taken down and brought back
    on the same port."""

    def __init__(self):
        self.port = h.free_port()
        self.cond = threading.Condition()
        self.requests = []     # (headers dict, body bytes, status answered or None)
        self.fail_next = 0
        self.holding = False
        self.held = 0          # requests waiting in hold
        self.server = None
        self.up()

    def up(self):
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver.cond:
                    entry = [headers, body, None]
                    receiver.requests.append(entry)
                    receiver.cond.notify_all()
                    while receiver.holding:
                        receiver.held += 1
                        receiver.cond.notify_all()
                        receiver.cond.wait()
                        receiver.held -= 1
                    status = 200
                    if receiver.fail_next > 0:
                        receiver.fail_next -= 1
                        status = 500
                    entry[2] = status
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    # One request per connection: down() then leaves no open one behind.
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.close_connection = True
                except OSError:
                    pass  # the sender is gone (killed while we held it)

            def log_message(self, *args):
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self):
        self.server.shutdown()
        self.server.server_close()
        self.server = None

    def hold(self):
        with self.cond:
            self.holding = True

    def release(self):
        with self.cond:
            self.holding = False
            self.cond.notify_all()

    def wait_held(self):
        def held():
            with self.cond:
                return self.held > 0
        h.wait_for(held, 30, "a webhook request to be held")

    def received(self):
        with self.cond:
            return [(hd, body, st) for hd, body, st in self.requests]

    def close(self):
        self.release()
        if self.server:
            self.down()


def battery_walk(user, device, tst, levels):
    """Locations with these battery levels, a minute apart, from tst on."""
    return [h.location(user, device, tst + i * 60, batt=b, acc=10) for i, b in enumerate(levels)]


def stored_events(storage, user, *extra):
    out = h.cli(storage, "events", "--user", user, *extra).stdout
    return [json.loads(line) for line in out.splitlines() if line]


def metric(port, name):
    text = h.request(port, "/metrics").text
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if m else None


class Webhooks(unittest.TestCase):
    def setUp(self):
        self.receiver = Receiver()
        self.stack = h.Stack(server_args=["--webhook-backoff-max", "1", "--silence-after", "0"])
        self.secret = b"s3cret-for-the-test"
        path = self.stack.dir.file("secret")
        with open(path, "wb") as f:
            f.write(self.secret + b"\n")
        r = h.cli(self.stack.storage, "webhook", "add", "--user", "jane", "--url",
                  "http://127.0.0.1:%d/hook" % self.receiver.port, "--events",
                  "battery_low,transition", "--secret-file", path)
        self.webhook_id = int(r.stdout)

    def tearDown(self):
        self.receiver.close()
        self.stack.stop()

    def publish(self, lines):
        h.publish(self.stack.broker.port, lines)

    def check_all_delivered(self):
        """Every stored battery or transition event of jane reached the receiver, signed, in
        order per device at least once; duplicates carry the same id."""
        h.sync(self.stack.broker.port, self.stack.storage)  # all published is committed
        want = stored_events(self.stack.storage, "jane", "--kind", "battery_low,transition")
        self.assertTrue(want, "the test made events")
        want_ids = {e["id"] for e in want}

        def all_arrived():
            got = {json.loads(b)["id"] for _, b, st in self.receiver.received() if st == 200}
            return want_ids <= got
        h.wait_for(all_arrived, 60, "every event to be delivered")

        first_seen = {}
        by_id = {e["id"]: e for e in want}
        for headers, body, _ in self.receiver.received():
            ts = headers["x-wherelog-timestamp"]
            expect = "sha256=" + hmac.new(self.secret, ts.encode() + b"." + body,
                                          hashlib.sha256).hexdigest()
            self.assertEqual(headers.get("x-wherelog-signature"), expect, "a valid signature")
            ev = json.loads(body)
            self.assertEqual(int(headers["x-wherelog-event-id"]), ev["id"])
            self.assertEqual(ev, by_id[ev["id"]], "a duplicate is the same event, same id")
            first_seen.setdefault(ev["id"], len(first_seen))
        for device in {e["device"] for e in want}:
            ids = [e["id"] for e in want if e["device"] == device]
            order = sorted(ids, key=lambda i: first_seen[i])
            self.assertEqual(order, sorted(ids), "%s's events arrive in commit order" % device)
        return want

    def test_delivered_across_a_crash_a_receiver_down_and_errors(self):
        port = self.stack.broker.port
        t0 = 1714694400
        # 1. The receiver holds the first request; wherelog is killed while it waits.
        self.receiver.hold()
        self.publish(battery_walk("jane", "phone", t0, [50, 15, 40]) +
                     battery_walk("jane", "watch", t0, [60, 10]))
        self.receiver.wait_held()
        committed = stored_events(self.stack.storage, "jane", "--kind", "battery_low")
        self.assertEqual(len(committed), 2, "both crossings were committed")
        self.stack.server.stop(signal.SIGKILL)
        self.receiver.release()
        self.stack.server.start()

        # 2. The receiver is down while more events are committed.
        h.wait_for(lambda: len({json.loads(b)["id"] for _, b, st in self.receiver.received()
                                if st == 200}) >= 2, 60, "the first events after the restart")
        self.receiver.down()
        self.publish(battery_walk("jane", "phone", t0 + 600, [50, 12, 45, 9]) +
                     [{"topic": "owntracks/jane/phone/event",
                       "payload": json.dumps({"_type": "transition", "event": "leave",
                                              "desc": "Work", "t": "c", "lat": 48.86,
                                              "lon": 2.35, "tst": t0 + 900, "wtst": t0,
                                              "acc": 10})}])
        h.sync(port, self.stack.storage)
        http_port = self.stack.server.http_port
        h.wait_for(lambda: (metric(http_port, "wherelog_webhook_failures_total") or 0) > 0, 60,
                   "failed attempts to show in /metrics")
        self.assertIn("webhook %d (user jane)" % self.webhook_id, self.stack.server.new_log())
        self.receiver.up()

        # 3. The receiver answers 500 a few times.
        self.receiver.fail_next = 3
        self.publish(battery_walk("jane", "watch", t0 + 600, [70, 5]))
        want = self.check_all_delivered()
        self.assertEqual(len([e for e in want if e["kind"] == "battery_low"]), 5)
        self.assertEqual(len([e for e in want if e["kind"] == "transition"]), 1)
        self.assertTrue(any(st == 500 for _, _, st in self.receiver.received()))
        self.assertGreaterEqual(metric(http_port, "wherelog_webhook_delivered_total"), 1)

    def test_a_receiver_that_hangs_delays_only_its_own_events(self):
        """Receivers are posted to side by side: while the first webhook's receiver holds its
        request unanswered, a second webhook of jane's gets every event. wherelog gives up on a
        request after 10 s (WEBHOOK_TIMEOUT_S), far more than a loopback POST takes: no failed
        attempt by then shows that the second did not wait for the first."""
        other = Receiver()
        self.addCleanup(other.close)
        h.cli(self.stack.storage, "webhook", "add", "--user", "jane", "--url",
              "http://127.0.0.1:%d/hook" % other.port, "--events", "battery_low")
        self.receiver.hold()
        # The first crossing, and its request held; then the others, committed while it hangs
        # (the second webhook must take them up without waiting for the first's attempt).
        walk = battery_walk("jane", "phone", 1714694400, [50, 15, 40, 12, 60, 9])
        self.publish(walk[:2])
        self.receiver.wait_held()
        for i in range(2, len(walk), 2):
            self.publish(walk[i:i + 2])
            h.sync(self.stack.broker.port, self.stack.storage)
        want = [e["id"] for e in stored_events(self.stack.storage, "jane", "--kind",
                                                 "battery_low")]
        self.assertEqual(len(want), 3)

        def other_has_all():
            return [json.loads(b)["id"] for _, b, st in other.received() if st == 200] == want
        h.wait_for(other_has_all, 30, "the second receiver to get every event")
        http_port = self.stack.server.http_port
        self.assertEqual(metric(http_port, "wherelog_webhook_failures_total") or 0, 0,
                         "the held request had not failed yet")
        self.assertEqual(len(self.receiver.received()), 1, "the held receiver got the first only")
        self.receiver.release()
        self.check_all_delivered()

    def test_webhook_list_delete_and_kinds(self):
        r = h.cli(self.stack.storage, "webhook", "list", "--user", "jane")
        self.assertIn("battery_low,transition", r.stdout)
        self.assertIn("signed", r.stdout)
        bad = h.cli(self.stack.storage, "webhook", "add", "--user", "jane", "--url",
                    "ftp://x", check=False)
        self.assertEqual(bad.returncode, 2)
        bad = h.cli(self.stack.storage, "webhook", "add", "--user", "jane", "--url",
                    "http://127.0.0.1:1/", "--events", "nonsense", check=False)
        self.assertEqual(bad.returncode, 2)
        r = h.cli(self.stack.storage, "webhook", "delete", "--user", "bob", "--id",
                  str(self.webhook_id), check=False)
        self.assertEqual(r.returncode, 1, "bob cannot delete jane's webhook")
        h.cli(self.stack.storage, "webhook", "delete", "--user", "jane", "--id",
              str(self.webhook_id))
        self.assertEqual(h.cli(self.stack.storage, "webhook", "list").stdout, "")


class Events(unittest.TestCase):
    def setUp(self):
        self.stack = h.Stack(server_args=["--silence-after", "0", "--battery-low", "30"])
        self.port = self.stack.server.http_port

    def tearDown(self):
        self.stack.stop()

    def test_api_cli_and_live(self):
        from test_live import SseReader
        sse = SseReader(self.port)
        h.wait_for(lambda: h.live_streams(self.port) == 1, 20, "the live stream")
        t0 = 1714694400
        h.publish(self.stack.broker.port, battery_walk("jane", "phone", t0, [80, 25, 20, 90, 29]))
        h.sync(self.stack.broker.port, self.stack.storage)

        events = stored_events(self.stack.storage, "jane", "--kind", "battery_low")
        self.assertEqual([e["batt"] for e in events], [25, 29], "--battery-low 30, once per "
                         "crossing")
        self.assertEqual([e["tst"] for e in events], [t0 + 60, t0 + 240])

        r = h.request(self.port, "/api/0/events?user=jane&kind=battery_low")
        self.assertEqual(r.status, 200)
        self.assertEqual(contract.check("/api/0/events", "GET", r), events,
                         "the API shows what the CLI shows")
        everything = h.request(self.port, "/api/0/events?user=jane")
        contract.check("/api/0/events", "GET", everything)
        r = h.request(self.port, "/api/0/events?user=jane&device=phone&from=%d&to=%d" %
                      (t0 + 120, t0 + 300))
        self.assertEqual([e["id"] for e in r.json() if e["kind"] == "battery_low"],
                         [events[1]["id"]])
        self.assertEqual(h.request(self.port, "/api/0/events?user=nobody").json(), [])
        for bad, status in (("user=jane&kind=x", 400), ("", 400),
                            ("user=jane&from=2024-05-04&to=2024-05-03", 416)):
            r = h.request(self.port, "/api/0/events?" + bad)
            self.assertEqual(r.status, status, bad)
            contract.check("/api/0/events", "GET", r)

        seen = []
        while len([e for e in seen if e.get("kind") == "battery_low"]) < 2:
            _, name, data = sse.event()
            if name == "event":
                seen.append(json.loads(data))
        sse.close()
        self.assertEqual([e for e in seen if e["kind"] == "battery_low"], events)

    def test_silence(self):
        self.stack.server.stop()
        self.stack.server.extra_args = ["--silence-after", "1"]
        h.publish(self.stack.broker.port, [h.location("jane", "phone", 1714694400)])
        self.stack.server.start()
        h.wait_for(lambda: stored_events(self.stack.storage, "jane", "--kind", "silent"), 30,
                   "a silent event")
        silent = stored_events(self.stack.storage, "jane", "--kind", "silent")
        self.assertEqual(len(silent), 1)
        self.assertGreaterEqual(silent[0]["silent_s"], 1)


# Home Assistant's MQTT discovery, as its documentation describes it (home-assistant.io,
# "MQTT Discovery" and "MQTT device tracker"): the config topic is
# <discovery_prefix>/<component>/[<node_id>/]<object_id>/config, object_id of [a-zA-Z0-9_-];
# the payload is a JSON object; a device tracker needs a state_topic (or attributes); an entity
# joins the device registry only with a unique_id and a device with identifiers (a list) or
# connections; source_type is one of gps, router, bluetooth, bluetooth_le; the states are
# payload_home, payload_not_home or a zone's name; the attributes latitude, longitude and
# gps_accuracy place it on the map and battery_level shows the battery.
HA_CONFIG_TOPIC = re.compile(r"^homeassistant/device_tracker/(?:[a-zA-Z0-9_-]+/)?"
                             r"([a-zA-Z0-9_-]+)/config$")
HA_REQUIRED = {"state_topic", "unique_id", "device", "name"}
HA_SOURCE_TYPES = {"gps", "router", "bluetooth", "bluetooth_le"}


class Subscriber:
    """mosquitto_sub on a topic filter, collecting "retain<TAB>topic<TAB>payload" lines."""

    def __init__(self, broker_port, topic, retained_only=False, count=None):
        args = [MOSQUITTO_SUB, "-p", str(broker_port), "-h", "127.0.0.1", "-F", "%r\t%t\t%p",
                "-q", "1"]
        for t in [topic] if isinstance(topic, str) else topic:
            args += ["-t", t]
        if retained_only:  # only what the broker holds: ends after count messages, or when
            # there is none (then -W: the broker sends retained messages at once on subscribe)
            args += ["--retained-only"] + (["-C", str(count)] if count else ["-W", "3"])
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        self.lines = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            with self.lock:
                self.lines.append(tuple(line.rstrip("\n").split("\t", 2)))

    def messages(self, topic=None):
        with self.lock:
            return [m for m in self.lines if topic is None or m[1] == topic]

    def wait(self, predicate, what):
        return h.wait_for(lambda: predicate(self.messages()), 60, what)

    def finish(self):
        """For retained_only: waits until mosquitto_sub gave up waiting, then all it got."""
        self.proc.wait(60 * h.WAIT_SCALE)
        self.reader.join(10)
        return self.messages()

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def probe_until_subscribed(broker_port, sub, topic):
    """Publishes probes on topic until sub has one: from then on it gets what is published."""
    def seen():
        subprocess.run([MOSQUITTO_PUB, "-p", str(broker_port), "-h", "127.0.0.1", "-t", topic,
                        "-m", "probe"], check=True)
        return sub.messages(topic)
    h.wait_for(seen, 30, "mosquitto_sub to subscribe")


class Mqtt(unittest.TestCase):
    def setUp(self):
        self.stack = h.Stack(server_args=["--silence-after", "0", "--ha-discovery"])
        self.broker = self.stack.broker.port

    def tearDown(self):
        self.stack.stop()

    def retained(self, topic):
        msgs = Subscriber(self.broker, topic, retained_only=True, count=1).finish()
        self.assertEqual(len(msgs), 1, "one retained message on %s: %s" % (topic, msgs))
        self.assertEqual(msgs[0][0], "1")
        return msgs[0][2]

    def test_events_republished_and_home_assistant_discovery(self):
        events = Subscriber(self.broker, ["wherelog/#", "homeassistant/#"])
        self.addCleanup(events.close)
        probe_until_subscribed(self.broker, events, "wherelog/event/probe")
        t0 = 1714694400
        h.publish(self.broker, battery_walk("jane", "phone", t0, [50, 10]) + [
            h.location("jane", "phone", t0 + 600, batt=9, inregions=["Home"], acc=12),
            h.location("jane", "phone", t0 + 300, batt=60, inregions=["Work"]),  # late
            h.location("bob", "car.1", t0, batt=80, inregions=["Work", "Town"]),
            h.location("bob", "car.1", t0 + 60, batt=80)])
        got = events.wait(lambda m: [x for x in m if x[1] == "wherelog/event/jane/phone"],
                          "an event republished")
        ev = json.loads(got[0][2])
        self.assertEqual((ev["_type"], ev["kind"], ev["batt"]), ("event", "battery_low", 10))
        self.assertEqual(ev, stored_events(self.stack.storage, "jane", "--kind",
                                           "battery_low")[0], "the stored event, as it is")
        h.sync(self.broker, self.stack.storage)
        # Once this subscriber has seen the sentinel's state, the broker holds all the rest.
        events.wait(lambda m: [x for x in m if x[1] == "wherelog/ha/%s/sync/state" %
                               h.SENTINEL_USER], "Home Assistant's messages for the sentinel")

        # The retained configs: one per device, valid by the documented schema.
        configs = Subscriber(self.broker, "homeassistant/device_tracker/+/config",
                             retained_only=True, count=3).finish()
        by_name = {}
        for retain, topic, payload in configs:
            self.assertEqual(retain, "1", "configs are retained")
            m = HA_CONFIG_TOPIC.match(topic)
            self.assertTrue(m, topic)
            c = json.loads(payload)
            self.assertLessEqual(HA_REQUIRED, set(c), c)
            self.assertEqual(c["object_id"], m.group(1))
            self.assertIn(c["source_type"], HA_SOURCE_TYPES)
            self.assertIsInstance(c["device"]["identifiers"], list)
            self.assertEqual(c["payload_home"], "home")
            self.assertEqual(c["payload_not_home"], "not_home")
            by_name[c["device"]["name"]] = c
        self.assertEqual({"jane/phone", "bob/car.1", h.SENTINEL_USER + "/sync"}, set(by_name))
        self.assertEqual(len({c["unique_id"] for c in by_name.values()}), len(by_name))

        jane, bob = by_name["jane/phone"], by_name["bob/car.1"]
        self.assertEqual(self.retained(jane["state_topic"]), "home", "a late fix changes nothing")
        self.assertEqual(self.retained(bob["state_topic"]), "not_home",
                         "bob's newest fix is in no region")
        attrs = json.loads(self.retained(jane["json_attributes_topic"]))
        self.assertEqual((attrs["latitude"], attrs["longitude"], attrs["gps_accuracy"],
                          attrs["battery_level"]), (48.85, 2.29, 12, 9))

        # A restart announces every stored device again: clear the retained configs, restart,
        # and they are back.
        self.stack.server.stop()
        for _, topic, _ in configs:
            subprocess.run([MOSQUITTO_PUB, "-p", str(self.broker), "-h", "127.0.0.1", "-t", topic,
                            "-r", "-n", "-q", "1"], check=True)
        self.assertEqual(Subscriber(self.broker, "homeassistant/device_tracker/+/config",
                                    retained_only=True).finish(), [])
        self.stack.server.start()

        def announced():
            again = Subscriber(self.broker, "homeassistant/device_tracker/+/config",
                               retained_only=True, count=3).finish()
            return {json.loads(p)["device"]["name"] for _, _, p in again} == set(by_name)
        h.wait_for(announced, 60, "the configs to be published again")


NORTH = 1 / 111195.08  # degrees of latitude in a metre


def at(user, device, tst, metres, **fields):
    """A location `metres` north of (48.85, 2.29), acc 10 unless given."""
    fields.setdefault("acc", 10)
    return h.location(user, device, tst, lat=round(48.85 + metres * NORTH, 7), lon=2.29, **fields)


def add_place(storage, user, name, metres, radius):
    out = h.cli(storage, "place", "add", "--user", user, "--name", name, "--lat",
                "%.7f" % (48.85 + metres * NORTH), "--lon", "2.29", "--radius", str(radius)).stdout
    return int(re.search(r"place (\d+) ", out).group(1))


class PlaceEvents(unittest.TestCase):
    """place_entered and place_left against a real server and mosquitto: in the events API
    (checked against openapi.yaml), the CLI, the live stream, a webhook, and Home Assistant's
    state, also across a restart."""

    def setUp(self):
        self.receiver = Receiver()
        self.stack = h.Stack(server_args=["--silence-after", "0", "--ha-discovery",
                                          "--webhook-backoff-max", "1"])
        self.broker = self.stack.broker.port
        self.port = self.stack.server.http_port

    def tearDown(self):
        self.receiver.close()
        self.stack.stop()

    def ha_states(self, sub):
        """The distinct states published on jane's phone's state topic, in order."""
        states = []
        for _, _, payload in sub.messages("wherelog/ha/jane/phone/state"):
            if not states or states[-1] != payload:
                states.append(payload)
        return states

    def test_places_entered_and_left_everywhere(self):
        from test_live import SseReader
        storage = self.stack.storage
        h.cli(storage, "webhook", "add", "--user", "jane", "--url",
              "http://127.0.0.1:%d/hook" % self.receiver.port, "--events",
              "place_entered,place_left")
        # Added by the command line while the server runs: another process writes them.
        home = add_place(storage, "jane", "Home", 0, 100)
        cafe = add_place(storage, "jane", "Café \"Nord\"", 2000, 80)
        ha = Subscriber(self.broker, ["wherelog/ha/jane/phone/state",
                                      "wherelog/ha/jane/phone/attributes", "wherelog/probe"])
        self.addCleanup(ha.close)
        probe_until_subscribed(self.broker, ha, "wherelog/probe")
        sse = SseReader(self.port)
        h.wait_for(lambda: h.live_streams(self.port) == 1, 20, "the live stream")

        t0 = 1714694400
        # In steps, each committed before the next: Home Assistant gets the state of each
        # device's newest fix of a commit, and the test wants to see each step's.
        for step in ([at("jane", "phone", t0, 500, inregions=["Gym"])],  # no place: the region
                     [at("jane", "phone", t0 + 60, 10),                 # enters Home
                      at("jane", "phone", t0 + 120, 120),               # jitter in 100 + 50 m
                      at("jane", "phone", t0 + 180, 90),
                      at("jane", "phone", t0 + 200, 1500, acc=900),     # too uncertain to leave
                      at("jane", "phone", t0 + 240, 140),
                      at("jane", "phone", t0 + 90, 5000)],              # late: changes nothing
                     [at("jane", "phone", t0 + 300, 2010)]):            # leaves Home for the café
            h.publish(self.broker, step)
            h.sync(self.broker, storage)

        kinds = "place_entered,place_left"
        events = stored_events(storage, "jane", "--kind", kinds)
        self.assertEqual([(e["kind"], e["place"], e["name"], e["tst"]) for e in events],
                         [("place_entered", home, "Home", t0 + 60),
                          ("place_left", home, "Home", t0 + 300),
                          ("place_entered", cafe, "Café \"Nord\"", t0 + 300)],
                         "one entry and one exit of Home, no flapping, then the café")
        self.assertEqual(events[0]["acc"], 10)
        r = h.request(self.port, "/api/0/events?user=jane&kind=" + kinds)
        self.assertEqual(contract.check("/api/0/events", "GET", r), events,
                         "the API shows what the CLI shows")

        seen = []
        while len(seen) < 3:
            _, name, data = sse.event()
            if name == "event" and json.loads(data)["kind"] in kinds.split(","):
                seen.append(json.loads(data))
        sse.close()
        self.assertEqual(seen, events, "the live stream shows them as they come")

        def delivered():
            return sorted(json.loads(b)["id"] for _, b, st in self.receiver.received()
                          if st == 200) == [e["id"] for e in events]
        h.wait_for(delivered, 60, "the webhook to receive the place events")

        # Home Assistant: the phone's region out of every place, "home" in Home, then the
        # café's name; the place as an attribute.
        h.wait_for(lambda: self.ha_states(ha) == ["Gym", "home", "Café \"Nord\""], 60,
                   "Home Assistant's state to follow the places: %s" % self.ha_states(ha))
        attrs = [json.loads(p) for _, _, p in ha.messages("wherelog/ha/jane/phone/attributes")]
        self.assertNotIn("place", attrs[0])
        self.assertIn("Home", [a.get("place") for a in attrs])
        self.assertEqual(attrs[-1]["place"], "Café \"Nord\"")

        # After a restart the device is still in the café (the events' state): a fix there
        # whose phone reports no region is the café, not not_home; leaving it falls back on
        # the phone's region.
        self.stack.server.stop()
        self.stack.server.start()
        before = len(ha.messages("wherelog/ha/jane/phone/state"))
        h.publish(self.broker, [at("jane", "phone", t0 + 360, 2000, inregions=[])])
        h.sync(self.broker, storage)
        h.wait_for(lambda: len(ha.messages("wherelog/ha/jane/phone/state")) > before, 60,
                   "a state after the restart")
        self.assertEqual(ha.messages("wherelog/ha/jane/phone/state")[-1][2], "Café \"Nord\"",
                         "the place survives the restart")
        self.assertEqual(len(stored_events(storage, "jane", "--kind", kinds)), 3,
                         "still there: no new event")
        h.publish(self.broker, [at("jane", "phone", t0 + 420, 10000, inregions=["Gym"])])
        h.sync(self.broker, storage)
        h.wait_for(lambda: ha.messages("wherelog/ha/jane/phone/state")[-1][2] == "Gym", 60,
                   "the state to fall back on the phone's region")
        left = stored_events(storage, "jane", "--kind", "place_left")
        self.assertEqual((left[-1]["place"], left[-1]["tst"]), (cafe, t0 + 420))


if __name__ == "__main__":
    unittest.main()
