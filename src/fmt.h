/*
 * fmt.h - streaming writers for tracks: JSON, GeoJSON, GPX 1.1, CSV (and the Recorder's
 * LineString). One interface for all: fmt_begin(), fmt_point() per point in time order,
 * fmt_end(). They write into a sink (sink.h), keep O(1) state, and so run in constant memory
 * whatever the range; the CLI and the HTTP API share them.
 *
 * Every string that came from a phone is escaped for the output (JSON, XML, CSV quoting).
 */
#ifndef WL_FMT_H
#define WL_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sink.h"
#include "wtime.h"

enum fmt_kind {
    FMT_JSON,       /* array of the stored payloads, each with isotst and disptst */
    FMT_GEOJSON,    /* RFC 7946 FeatureCollection of Points */
    FMT_GPX,        /* GPX 1.1, one trkseg per continuous stretch */
    FMT_CSV,        /* RFC 4180, header line, CRLF line ends */
    FMT_LINESTRING, /* GeoJSON Feature with one LineString (OwnTracks Recorder's format) */
    FMT_XML,        /* OwnTracks Recorder's <owntracks><point>... format */
};

/* Parses "json", "geojson", "gpx", "csv", "linestring" or "xml". 0 or -EINVAL. */
int fmt_parse(const char *name, enum fmt_kind *out);
/* MIME type and file extension of a format. */
const char *fmt_content_type(enum fmt_kind kind);
const char *fmt_extension(enum fmt_kind kind);

/* A GPX track is split into a new segment where points are further apart than this:
 * a phone that reports nothing for half an hour was not recording a continuous path. */
#define FMT_GPX_SEGMENT_GAP 1800
#define FMT_MAX_FIELDS      32

/* Splits a comma-separated field list ("tst,lat,lon") in place into fields (at most
 * FMT_MAX_FIELDS; empty names are skipped). Returns how many, or -E2BIG. */
int fmt_split_fields(char *list, const char **fields);

/*
 * Members derived from a point's position that the JSON writer adds after the point's own (the
 * Recorder's ghash, cc, addr, locality and tzname: placename_write_members, placename.h).
 * write() appends `,"name":value` for each member it knows (the first without its comma unless
 * comma is true): only that member when only is not NULL; none whose bit (1 << pack key index)
 * is set in have, which the point already has. It returns how many it wrote.
 */
struct fmt_place {
    int (*write)(void *arg, double lat, double lon, const char *only, uint64_t have, bool comma,
                 struct sink *out);
    void *arg; /* borrowed until fmt_end */
};

struct fmt_options {
    const char *user;
    const char *device;
    /* JSON: wrap as OwnTracks Recorder's API does: {"data":[...],"count":N,...}. */
    bool recorder_envelope;
    const char *version; /* for the envelope */
    /* JSON and CSV: members to output, in this order (NULL: all for JSON, a standard set for
     * CSV). "isotst" and "disptst" are computed. Borrowed until fmt_end. */
    const char *const *fields;
    size_t nfields;
    int64_t gpx_segment_gap; /* 0: FMT_GPX_SEGMENT_GAP */
    /* JSON envelope: the points the range holds before thinning ("in_range"). */
    bool in_range_known;
    uint64_t in_range;
    /* JSON: the place members (NULL write: none). */
    struct fmt_place place;
};

struct fmt_writer {
    enum fmt_kind kind;
    struct sink *sink;
    struct fmt_options opt;
    uint64_t count;
    int64_t prev_tst;
    int error; /* first decode error (WL_ECORRUPT); the point is skipped */
    /* CSV and XML: resolved columns and a scratch buffer for nested values. */
    const char *const *cols;
    size_t ncols;
    short col_key[FMT_MAX_FIELDS]; /* dictionary index of each column's key, or -1 */
    signed char col_of_key[256];   /* the column of a dictionary key, or -1 */
    struct sink scratch;
    struct wtime_day_cache days;
};

/* Starts the document. opt may be NULL (the defaults); it is copied, but the strings and the
 * fields it points to are borrowed until fmt_end. Output errors are in sink->err. */
void fmt_begin(struct fmt_writer *w, enum fmt_kind kind, struct sink *sink,
               const struct fmt_options *opt);
/* Writes one point (tst and its packed location, pack.h). Returns 0, or WL_ECORRUPT if the
 * record does not decode: nothing is written for it (what a writer wrote before it found out
 * is taken back, sink.h's held unit), or -ENOMEM (a writer's scratch memory); the first
 * such error is kept in w->error. Output
 * errors are in sink->err. */
int fmt_point(struct fmt_writer *w, int64_t tst, const void *data, size_t len);
/* Closes the document and frees the writer's scratch memory. Output errors are in sink->err. */
void fmt_end(struct fmt_writer *w);

#endif
