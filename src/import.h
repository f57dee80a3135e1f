/*
 * import.h - history from elsewhere: an OwnTracks Recorder store, GPX, GeoJSON and Google
 * location history.
 *
 * Every message goes through the validation live ingest applies (owntracks.h) and into the
 * same store, so a point that is already there is a duplicate: importing twice stores
 * nothing new. Sources are read as streams (a line, an XML node, an array element at a
 * time), so a file of several GB imports in bounded memory. Nothing is dropped silently:
 * every record is counted as stored, duplicate, ignored, rejected (with its reason) or
 * unreadable, per user and device, and the summary says so.
 *
 * An import is meant for one thread (the CLI). It may run while `wherelog serve` uses the
 * same store (LMDB serialises the writers).
 */
#ifndef WL_IMPORT_H
#define WL_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "store.h"

struct imp;

struct import_options {
    bool progress; /* draw a progress line (points, rate, ETA) on stderr */
};

/* An import into store (which must outlive it); opt may be NULL. Starts its parsing workers
 * (fewer or none if the system refuses threads). Returns 0 or -ENOMEM. */
int import_new(struct store *store, const struct import_options *opt, struct imp **out);
/* Stops the workers and frees everything; what was committed stays stored. */
void import_free(struct imp *imp);

/*
 * The importers. user and device are validated names (owntracks.h) to file the points
 * under. They return 0 when the source was read to its end (records may still have been
 * rejected: see the summary), or a negative error when it could not be, each reported
 * (import_error) when it happened: the -errno of opening or reading it (-EIO when libxml2
 * cannot), -ENOENT (no rec/ in a Recorder store), -ENAMETOOLONG (its path), -EINVAL (not
 * well-formed), -E2BIG (a JSON array element over the importer's limit), -ENOMEM, or the
 * store error that stopped storing (store.h); what was read before is stored all the same.
 */
/* rec/USER/DEVICE/YYYY-MM.rec, last/, cards/ and waypoints/ of an OwnTracks Recorder store,
 * filed under its directory names (the names the Recorder used); then its reverse-geocoding
 * cache (ghash/, an LMDB environment) into the store's (store_geo_put), replacing what the
 * store had for those geohashes, with the time the Recorder cached each. */
int import_recorder(struct imp *imp, const char *storedir);
/* Track points, route points and waypoints of a GPX 1.0 or 1.1 file (libxml2's streaming
 * reader); points without a time cannot be stored and are rejected. */
int import_gpx(struct imp *imp, const char *path, const char *user, const char *device);
/* Points (and LineStrings with per-point times) of a GeoJSON FeatureCollection. */
int import_geojson(struct imp *imp, const char *path, const char *user, const char *device);
/* Google location history: Takeout Records.json or the on-device Timeline export. */
int import_google(struct imp *imp, const char *path, const char *user, const char *device);

/* The summary, as a table or as JSON. Write errors are f's (ferror). */
void import_summary_text(struct imp *imp, FILE *f);
void import_summary_json(struct imp *imp, FILE *f);
/* Sources (files, directories) that could not be read to their end, so far: each was
 * reported when it happened. */
uint64_t import_source_errors(const struct imp *imp);

/* One line of a Recorder .rec file: "YYYY-MM-DDTHH:MM:SSZ\tRELTOPIC   \tPAYLOAD". */
struct import_rec_line {
    int64_t time;         /* column 1 */
    const char *reltopic; /* column 2, padding removed; not NUL-terminated */
    size_t reltopic_len;
    const char *payload; /* column 3, to the end of the line (without the line end) */
    size_t payload_len;
};
/* Splits a line (exported for tests and the fuzzer). Returns 0 or -EINVAL. */
int import_parse_rec_line(const char *line, size_t len, struct import_rec_line *out);

#endif
