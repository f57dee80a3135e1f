#!/usr/bin/env python3
"""Reads a GPX file back the way its users will, and checks what GPX 1.1 asks of it.

    gpx_check.py FILE [--xsd XSD]

Two independent readers, gpxpy (Debian's python3-gpxpy) and gpsbabel, must both read FILE
and find the same track points; the file itself must be GPX 1.1 as the schema describes it:
the namespace, version and creator, coordinates as plain decimals within range (xsd:decimal
has no exponent, and longitude is -180 <= lon < 180), times in UTC, and each point's children
in the schema's order. With --xsd (the GPX 1.1 schema, when one is at hand), xmllint validates
FILE against it as well.

Prints the points as JSON to standard output:
    {"segments": [[{"lat": ..., "lon": ..., "ele": ... or null, "time": "...Z" or null}, ...],
                  ...]}
and exits 0; exits 1 with the reasons on standard error if a check fails. Also importable:
check(path, xsd=None) returns that dict or raises GpxError.

Environment: GPSBABEL (default gpsbabel), XMLLINT (default xmllint).
"""
import csv
import io
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import gpxpy

NS = "{http://www.topografix.com/GPX/1/1}"
DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
UTC_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
# wptType's children, in the order the schema's xsd:sequence requires.
WPT_CHILDREN = ["ele", "time", "magvar", "geoidheight", "name", "cmt", "desc", "src", "link",
                "sym", "type", "fix", "sat", "hdop", "vdop", "pdop", "ageofdgpsdata", "dgpsid",
                "extensions"]


class GpxError(Exception):
    pass


def _structure(path):
    """The points as written, checked against GPX 1.1's rules; a list of segments."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise GpxError("not well-formed XML: %s" % e)
    if root.tag != NS + "gpx":
        raise GpxError("root element is %s, not gpx in the GPX 1.1 namespace" % root.tag)
    if root.get("version") != "1.1" or not root.get("creator"):
        raise GpxError("gpx needs version=\"1.1\" and a creator")
    segments = []
    for seg in root.iter(NS + "trkseg"):
        points = []
        for pt in seg:
            if pt.tag != NS + "trkpt":
                raise GpxError("trkseg holds %s" % pt.tag)
            lat, lon = pt.get("lat", ""), pt.get("lon", "")
            if not DECIMAL.match(lat) or not DECIMAL.match(lon):
                raise GpxError("lat=%r lon=%r are not xsd:decimal" % (lat, lon))
            if not (-90 <= float(lat) <= 90 and -180 <= float(lon) < 180):
                raise GpxError("lat=%s lon=%s out of GPX's range" % (lat, lon))
            order = [WPT_CHILDREN.index(c.tag[len(NS):]) if c.tag.startswith(NS) and
                     c.tag[len(NS):] in WPT_CHILDREN else -1 for c in pt]
            if -1 in order or order != sorted(order):
                raise GpxError("trkpt children %s are not wptType's, in its order" %
                               [c.tag for c in pt])
            ele = pt.find(NS + "ele")
            if ele is not None and not DECIMAL.match(ele.text or ""):
                raise GpxError("ele %r is not xsd:decimal" % ele.text)
            time = pt.find(NS + "time")
            if time is not None and not UTC_TIME.match(time.text or ""):
                raise GpxError("time %r is not a UTC xsd:dateTime" % time.text)
            points.append({"lat": float(lat), "lon": float(lon),
                           "ele": float(ele.text) if ele is not None else None,
                           "time": time.text if time is not None else None})
        segments.append(points)
    return segments


def _gpxpy_points(path):
    with open(path, encoding="utf-8") as f:
        gpx = gpxpy.parse(f)
    return [[(p.latitude, p.longitude, p.elevation,
              p.time.strftime("%Y-%m-%dT%H:%M:%SZ") if p.time else None) for p in seg.points]
            for trk in gpx.tracks for seg in trk.segments]


def _gpsbabel_points(path):
    tool = os.environ.get("GPSBABEL", "gpsbabel")
    r = subprocess.run([tool, "-t", "-i", "gpx", "-f", path, "-o", "unicsv,utc=0", "-F", "-"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise GpxError("gpsbabel cannot read it: %s" % r.stderr.strip())
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    return [(float(row["Latitude"]), float(row["Longitude"])) for row in rows]


def check(path, xsd=None):
    segments = _structure(path)
    written = [(p["lat"], p["lon"], p["ele"], p["time"]) for seg in segments for p in seg]
    try:
        by_gpxpy = _gpxpy_points(path)
    except Exception as e:  # gpxpy raises its own and ValueError for bad values
        raise GpxError("gpxpy cannot read it: %s" % e)
    if [len(s) for s in by_gpxpy] != [len(s) for s in segments]:
        raise GpxError("gpxpy finds segments of %s points, the file has %s" %
                       ([len(s) for s in by_gpxpy], [len(s) for s in segments]))
    for got, want in zip([p for s in by_gpxpy for p in s], written):
        if abs(got[0] - want[0]) > 1e-9 or abs(got[1] - want[1]) > 1e-9 or got[3] != want[3] or \
                (got[2] is None) != (want[2] is None):
            raise GpxError("gpxpy reads %s where the file says %s" % (got, want))
    by_gpsbabel = _gpsbabel_points(path)
    if len(by_gpsbabel) != len(written):
        raise GpxError("gpsbabel finds %d points, the file has %d" %
                       (len(by_gpsbabel), len(written)))
    for got, want in zip(by_gpsbabel, written):
        # unicsv prints 6 decimals
        if abs(got[0] - want[0]) > 1e-6 or abs(got[1] - want[1]) > 1e-6:
            raise GpxError("gpsbabel reads %s where the file says %s" % (got, want[:2]))
    if xsd:
        r = subprocess.run([os.environ.get("XMLLINT", "xmllint"), "--noout", "--schema", xsd,
                            path], capture_output=True, text=True)
        if r.returncode != 0:
            raise GpxError("not valid against %s: %s" % (xsd, r.stderr.strip()))
    return {"segments": segments}


def main(argv):
    if len(argv) not in (2, 4) or (len(argv) == 4 and argv[2] != "--xsd"):
        print("usage: gpx_check.py FILE [--xsd XSD]", file=sys.stderr)
        return 2
    try:
        result = check(argv[1], argv[3] if len(argv) == 4 else None)
    except (GpxError, OSError) as e:
        print("gpx_check: %s: %s" % (argv[1], e), file=sys.stderr)
        return 1
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
