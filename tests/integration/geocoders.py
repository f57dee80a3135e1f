"""A local HTTP server playing the reverse geocoders (Nominatim, Photon, OpenCage) in their
real response formats, for test_places.py and bench_places.py: it answers as scripted (errors,
429s, delays, nonsense) and records every request with its own clock."""
import http.server
import json
import threading
import time
import urllib.parse

import harness as h

NOMINATIM_PARIS = {
    "place_id": 88066702, "licence": "Data (c) OpenStreetMap contributors, ODbL 1.0.",
    "osm_type": "way", "osm_id": 5013364, "lat": "48.8582599", "lon": "2.2945006",
    "category": "man_made", "type": "tower", "place_rank": 30, "importance": 0.65,
    "addresstype": "man_made", "name": "Tour Eiffel",
    "display_name": "Tour Eiffel, 5, Avenue Anatole France, Paris, France",
    "address": {"man_made": "Tour Eiffel", "house_number": "5",
                "road": "Avenue Anatole France", "city": "Paris", "postcode": "75007",
                "country": "France", "country_code": "fr"},
    "boundingbox": ["48.8574753", "48.8590453", "2.2933119", "2.2956897"]}
PHOTON_BERLIN = {
    "type": "FeatureCollection",
    "features": [{"type": "Feature",
                  "geometry": {"type": "Point", "coordinates": [13.3888599, 52.5170365]},
                  "properties": {"osm_id": 240109189, "osm_type": "N", "osm_key": "amenity",
                                 "osm_value": "library", "type": "house",
                                 "name": "Staatsbibliothek", "street": "Unter den Linden",
                                 "housenumber": "8", "postcode": "10117", "city": "Berlin",
                                 "state": "Berlin", "country": "Germany",
                                 "countrycode": "DE"}}]}
OPENCAGE_HANOVER = {
    "documentation": "https://opencagedata.com/api",
    "results": [{"components": {"ISO_3166-1_alpha-2": "DE", "_type": "building",
                                "city": "Hanover", "country": "Germany", "country_code": "de",
                                "house_number": "3", "postcode": "30167",
                                "road": "Philipsbornstraße"},
                 "confidence": 10,
                 "formatted": "Philipsbornstraße 3, 30167 Hanover, Germany",
                 "geometry": {"lat": 52.387783, "lng": 9.7334394}}],
    "status": {"code": 200, "message": "OK"}, "total_results": 1}


class Geocoders:
    """One local HTTP server playing all three providers under /nominatim, /photon and
    /opencage. script[kind] is a list of answers (status, headers, body, delay) given in turn;
    when it is empty the kind's usual answer is given. Every request is recorded with the
    server's monotonic time."""

    USUAL = {"nominatim": (200, {}, NOMINATIM_PARIS, 0),
             "photon": (200, {}, PHOTON_BERLIN, 0),
             "opencage": (200, {}, OPENCAGE_HANOVER, 0)}

    def __init__(self):
        self.lock = threading.Lock()
        self.seen = []  # (monotonic time, kind, query dict, user agent)
        self.script = {"nominatim": [], "photon": [], "opencage": []}
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                kind = url.path.split("/")[1]
                with outer.lock:
                    outer.seen.append((time.monotonic(), kind,
                                       dict(urllib.parse.parse_qsl(url.query)),
                                       self.headers.get("User-Agent")))
                    script = outer.script.get(kind)
                    answer = (script.pop(0) if script else outer.USUAL.get(kind)) or \
                        (404, {}, {"error": "no such provider"}, 0)
                status, headers, body, delay = answer
                if delay:
                    time.sleep(delay)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (a timeout test)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, kind):
        return "http://127.0.0.1:%d/%s" % (self.port, kind)

    def requests(self, kind=None):
        with self.lock:
            return [s for s in self.seen if kind is None or s[1] == kind]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def metrics(port):
    out = {}
    for line in h.request(port, "/metrics").text.splitlines():
        if line.startswith("wherelog_geocoder_"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out
