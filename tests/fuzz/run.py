#!/usr/bin/env python3
"""Runs one libFuzzer target for a bounded time on a corpus seeded from the fixtures.

    tests/fuzz/run.py FUZZER NAME SECONDS WORKDIR

NAME is owntracks, params, http, import, geo or timeline. WORKDIR keeps the corpus (grown by every run;
the seeds are written once) and any crash artifacts. Exits non-zero when the fuzzer found
something; prints libFuzzer's final statistics either way.
"""
import base64
import glob
import json
import os
import subprocess
import sys

FIXTURES = os.environ.get("WHERELOG_FIXTURES") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "owntracks")
RECORDER_STORE = os.environ.get("WHERELOG_RECORDER_STORE") or os.path.join(
    FIXTURES, "recorder-store")

BASIC = "Authorization: Basic " + base64.b64encode(b"jane:secret").decode() + "\r\n"


def fixture_messages():
    for name in ("valid.jsonl", "invalid.jsonl"):
        with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                row = json.loads(line)
                payload = (base64.b64decode(row["payload_b64"]) if "payload_b64" in row
                           else row.get("payload", "").encode("utf-8", "surrogatepass"))
                yield row.get("topic", "").encode("utf-8", "surrogatepass"), payload


def seeds(name):
    if name == "owntracks":
        for topic, payload in fixture_messages():
            yield topic + b"\n" + payload
    elif name == "params":
        for t in ("2024-12-01", "2024-12-01T10:30", "2024-12-01T10:30:15.250+02:00",
                  "2024-12", "1733061600", "2024-02-29t23:59:59z", "2024-12-01 10", "jane",
                  "Jane.Doe", "user=30", "jane=365"):
            yield t.encode()
        for path in sorted(glob.glob(os.path.join(RECORDER_STORE, "rec", "*", "*", "*.rec"))):
            with open(path, "rb") as f:
                for line in f.read().splitlines()[:20]:
                    yield line
    elif name == "http":
        requests = [
            "GET /api/0/last HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET /api/0/list?user=jane HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET /api/0/locations?user=jane&device=phone&from=2023-11-14&to=2023-11-15"
            "&format=gpx&max_points=10 HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET /api/0/locations?user=bob&device=car&format=csv&fields=tst,lat HTTP/1.0\r\n\r\n",
            "POST /api/0/locations HTTP/1.1\r\nHost: x\r\nContent-Type: "
            "application/x-www-form-urlencoded\r\nContent-Length: 30\r\n\r\n"
            "user=jane&device=phone&limit=5",
            "POST /pub HTTP/1.1\r\nHost: x\r\nX-Limit-U: jane\r\nX-Limit-D: phone\r\n"
            "Content-Length: 53\r\n\r\n{\"_type\":\"location\",\"lat\":1,\"lon\":2,\"tst\":1700000000}",
            "DELETE /api/0/locations?user=jane&device=phone&to=1700000100 HTTP/1.1\r\n"
            "Host: x\r\n" + BASIC + "\r\n",
            "GET /api/0/stats HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET /api/0/stream HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 5\r\n\r\n",
            "GET /ws/last HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            "GET /index.html HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"x\"\r\n\r\n",
            "GET /vendor/leaflet/leaflet.css HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET /vendor/leaflet/leaflet.min.js HTTP/1.1\r\nHost: x\r\n"
            "Accept-Encoding: br;q=1, gzip ; x=y ; q=0.5\r\n\r\n",
            "GET /../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
            "OPTIONS /api/0/last HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET /api/0/config HTTP/1.1\r\nHost: x\r\n" + BASIC + "\r\n",
            "GET /api/0/monitor HTTP/1.1\r\nHost: x\r\n\r\n",
        ]
        for i, r in enumerate(requests):
            yield bytes([0]) + r.encode()
            yield bytes([1]) + r.replace("Host: x\r\n", "Host: x\r\n" + BASIC).encode()
    elif name == "import":
        yield b"\x00" + b"""<?xml version="1.0"?><gpx version="1.1" creator="t"
 xmlns="http://www.topografix.com/GPX/1/1"><wpt lat="1" lon="2"><time>2024-01-01T00:00:00Z</time>
 <name>w</name></wpt><trk><trkseg><trkpt lat="48.1" lon="2.2"><ele>3</ele>
 <time>2024-01-01T00:01:00.5Z</time></trkpt></trkseg></trk></gpx>"""
        yield b"\x01" + json.dumps({"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [2.2, 48.1, 30]},
             "properties": {"time": "2024-01-01T00:00:00Z", "acc": 5}},
            {"type": "Feature", "geometry": {"type": "LineString",
                                             "coordinates": [[2, 48], [2.1, 48.1]]},
             "properties": {"times": [1700000000, 1700000060]}}]}).encode()
        yield b"\x02" + json.dumps({"locations": [
            {"latitudeE7": 481371000, "longitudeE7": 115754000, "accuracy": 10,
             "altitude": 500, "timestamp": "2019-05-01T08:00:00.123Z"},
            {"latitudeE7": 481372000, "longitudeE7": 115755000,
             "timestampMs": "1556697660000"}]}).encode()
        yield b"\x02" + json.dumps({"semanticSegments": [
            {"startTime": "2024-01-01T00:00:00.000+01:00", "timelinePath": [
                {"point": "48.1371\u00b0, 11.5754\u00b0", "time": "2024-01-01T00:05:00.000+01:00"}]}],
            "rawSignals": [{"position": {"LatLng": "48.1\u00b0, 11.5\u00b0", "accuracyMeters": 5,
                                         "altitudeMeters": 520.5,
                                         "timestamp": "2024-01-01T01:00:00.000+01:00"}}]}).encode()
    elif name == "geo":
        # Byte 0 chooses ascending tsts, positions on the Earth and agreeing passes (see
        # fuzz_geo.c); then max and the points of the three passes; then the points' bytes.
        body = bytes((i * 37 + 11) % 256 for i in range(512))
        for flags, max_points, n1, n2, n3 in ((0x0f, 16, 1000, 0, 0), (0x07, 100, 2000, 2500, 1800),
                                              (0x03, 16, 17, 3000, 5), (0x00, 50, 400, 300, 400),
                                              (0x0b, 3, 900, 0, 0), (0x06, 2000, 1500, 0, 0)):
            yield (bytes([flags]) + max_points.to_bytes(2, "little") + n1.to_bytes(2, "little")
                   + n2.to_bytes(2, "little") + n3.to_bytes(2, "little") + body)
    elif name == "geocoder":
        # Byte 0 picks the format: 0 Nominatim, 1 Photon, 2 OpenCage.
        yield b"\x00" + json.dumps({"display_name": "5, Avenue Anatole France, Paris, France",
                                    "address": {"city": "Paris", "country_code": "fr"}}).encode()
        yield b"\x00" + b'{"error":"Unable to geocode"}'
        yield b"\x01" + json.dumps({"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"name": "Staatsbibliothek", "street": "Unter den "
             "Linden", "housenumber": "8", "postcode": "10117", "city": "Berlin",
             "country": "Germany", "countrycode": "DE"}}]}).encode()
        yield b"\x02" + json.dumps({"results": [{"formatted": "Philipsbornstrasse 3, Hanover",
                                                 "components": {"city": "Hanover",
                                                                "country_code": "de"}}],
                                    "status": {"code": 200, "message": "OK"}}).encode()
        yield b"\x00nominatim:https://nominatim.example.org/,rate=0.5"
        yield b"\x02opencage,key-file=/etc/key,rate=2"
        yield b"\x00u09tvw0"
    elif name == "timeline":
        # 41 bytes of settings (fuzz_timeline.c), then 12 bytes a fix: flags, tst step (3),
        # north and east offsets in half metres (2 + 2), accuracy index, 3 spare bytes.
        def fixes(rows):
            return b"".join(bytes([flags]) + step.to_bytes(3, "little")
                            + (north & 0xffff).to_bytes(2, "little")
                            + (east & 0xffff).to_bytes(2, "little") + bytes([acc, 0, 0, 0])
                            for flags, step, north, east, acc in rows)
        settings = bytes(40) + bytes([0])
        stay = [(0, 30, (i * 7) % 40 - 20, (i * 13) % 40 - 20, i % 4) for i in range(200)]
        walk = [(0, 10, 300 + 28 * i, 0, 1) for i in range(200)]
        drive = [(0x10, 5, 100 + i, 3, 0) for i in range(100)]
        sparse = [(0, 599, 0, 0, 2), (0x20, 14400, 4, 4, 3), (0x20, 7200, 1000, 0, 0),
                  (0, 360, 2000, 0, 0), (0, 360, 3000, 0, 0), (0x20, 30000, 3000, 10, 2)]
        outlier = [(0x10, 15, 40, 10, 1)] + [(0, 30, 0, 0, 1)] * 50
        odd = [(0x03, 10, 0, 0, 9), (0x40, 5, 0, 0, 7), (0x80, 0xffffff, 0, 0, 8),
               (0x0c, 20, 5, 5, 10), (0x0c, 20, 30, -30, 11)]
        yield settings + fixes(stay + walk + stay + drive + stay)
        yield settings + fixes(sparse * 3)
        yield settings + fixes(stay + outlier + stay)
        yield bytes([0xff] * 40) + bytes([0x1f]) + fixes(stay + odd * 20 + walk)
        yield bytes(range(40)) + bytes([0x80]) + fixes(drive + sparse + odd + stay)


def main():
    fuzzer, name, seconds, work = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    corpus = os.path.join(work, "corpus")
    if not os.path.isdir(corpus):
        os.makedirs(corpus)
        for i, seed in enumerate(seeds(name)):
            with open(os.path.join(corpus, "seed-%04d" % i), "wb") as f:
                f.write(seed)
    args = [fuzzer, corpus, "-max_total_time=%d" % seconds, "-print_final_stats=1",
            "-close_fd_mask=3", "-timeout=10", "-rss_limit_mb=1024", "-max_len=65536",
            "-artifact_prefix=" + os.path.join(work, "")]
    dict_file = os.path.join(os.path.dirname(os.path.abspath(__file__)), name + ".dict")
    if os.path.exists(dict_file):
        args.append("-dict=" + dict_file)
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
    env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
    r = subprocess.run(args, env=env)
    if r.returncode != 0:
        print("fuzz-%s: libFuzzer exited %d; artifacts in %s" % (name, r.returncode, work))
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())
