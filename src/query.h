/*
 * query.h - the read side that the CLI and the HTTP API share: last positions and track
 * exports, from the store through the format writers into a sink.
 *
 * Thread rules: a struct query_track belongs to one thread at a time; between two calls to
 * query_track_fill() it holds no read transaction, so a slow consumer (an HTTP client) costs
 * nothing but the struct itself.
 *
 * The store changes while a query reads it (store.h, "Snapshots"): a phone reports, late
 * points arrive, the CLI deletes. A query that reads in several passes (thinning, limit) is
 * therefore never sized by a count from an earlier pass: what it writes is bounded by what it
 * decided and allocated at the start (max_points, limit), whatever the later passes find.
 * Single-pass readers (stats, months, last) describe the points they met, which may be
 * neither the store before nor after a concurrent write.
 *
 * Errors: the functions below return 0 or a negative code; on an error what they wrote is a
 * partial document. "A store error" is any error store.h lists; WL_ECORRUPT is a stored record
 * that does not decode (pack.h). Write errors of `out` stay in out->err (sink.h) unless said.
 */
#ifndef WL_QUERY_H
#define WL_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fmt.h"
#include "owntracks.h"
#include "sink.h"
#include "store.h"

/* Decides whether `viewer` may see `user`'s data (the access-control seam; NULL: yes); a NULL
 * user asks whether viewer may see every user's. */
typedef bool (*query_visible_fn)(void *arg, const char *viewer, const char *user);

struct query_last_filter {
    const char *user;          /* NULL: all users */
    const char *device;        /* NULL: all devices (of user) */
    const char *const *fields; /* projection in this order; NULL: everything */
    size_t nfields;
    query_visible_fn visible; /* NULL: all visible */
    void *visible_arg;
    const char *viewer;
    struct fmt_place place; /* the Recorder's ghash, cc, addr, locality, tzname (NULL: none) */
};

/*
 * Writes a JSON array with the last position of each matching device, in OwnTracks
 * Recorder's /api/0/last shape: the location's members, then "topic", "username",
 * "device", "isotst", "disptst", the card's "name" and "face" (and "tid" when the
 * location has none), and f->place's members. Devices without a location are left out. "[]" when
 * nothing matches. Returns 0, -ENOMEM, WL_ECORRUPT, out's write error, or a store error.
 */
int query_last_json(struct store *s, const struct query_last_filter *f, struct sink *out);

/* The same objects one by one: cb gets each as JSON text (valid until it returns). cb returns
 * 0 to go on. Returns 0, cb's non-zero value, -ENOMEM, WL_ECORRUPT, or a store error. */
int query_last_each(struct store *s, const struct query_last_filter *f,
                    int (*cb)(void *arg, const char *json, size_t len), void *arg);

/* One live event: the /api/0/last object of a location just stored, without big blobs
 * (image, face) and without card data. data is borrowed for the call. Returns 0 or
 * WL_ECORRUPT (data does not decode). */
int query_event_json(const char *user, const char *device, const char *topic, int64_t tst,
                     const void *data, size_t len, struct sink *out);
/* One live event for a card just stored: {"_type":"card","username","device","tst", and the
 * card's "name" and "tid" when it has them}. Never the face: an event stays small whatever a
 * client publishes (the live ring keeps a thousand of them); /api/0/last has it. Returns 0 or
 * WL_ECORRUPT. */
int query_card_event_json(const char *user, const char *device, int64_t tst, const void *data,
                          size_t len, struct sink *out);

/*
 * The reply an OwnTracks app expects from HTTP mode (protocol §7): a JSON array with, for
 * each other device the viewer may see, its card ({"_type":"card",...}) when it has a name or
 * a face, then its last location reduced to what the apps read, always with a "tid". `user`
 * is the viewer and its own `device` is left out. "[]" when there is nobody to show. Returns
 * 0, -ENOMEM, out's write error, or a store error.
 */
int query_friends_json(struct store *s, const char *user, const char *device,
                       query_visible_fn visible, void *visible_arg, struct sink *out);

/* The months (YYYY-MM, UTC) in which a device has visible points, oldest first, as a JSON
 * array; "[]" for an unknown device. One read per month (not one snapshot). Returns 0 or a
 * store error. */
int query_months_json(struct store *s, const char *user, const char *device, struct sink *out);

/* Points with a worse accuracy (acc, metres) than this do not count towards distances: a
 * fix 500 m off would add a kilometre of travel that never happened. */
#define QUERY_STATS_MAX_ACC 100

/*
 * Statistics as JSON: per device (of `user`, or all; only `device` if given) the points in
 * [from, to], first and last time, distance travelled in metres (haversine between
 * consecutive points, leaving out those with acc > max_acc), and days (UTC) with data; and
 * for the store: its size on disk, bytes per point, map size and use. Reads every point in
 * the range. Each device is read in one pass, so its figures agree with each other; the
 * devices and the store's figures are read apart and need not add up while the store
 * changes. Returns 0, -ENOMEM or a store error.
 */
int query_stats_json(struct store *s, const char *user, const char *device, int64_t from,
                     int64_t to, int max_acc, query_visible_fn visible, void *visible_arg,
                     const char *viewer, struct sink *out);

struct query_track;

/* Which points of a track. */
struct query_range {
    int64_t from, to;    /* from <= tst <= to */
    uint64_t limit;      /* only the newest `limit` (0: all); still written oldest first */
    uint32_t max_points; /* thin to at most this many, keeping the track's shape (0: all) */
};

/* Thinning works in QUERY_THIN_MIN..QUERY_THIN_MAX points: fewer draws no shape, more is no
 * longer thinning (and bounds the memory it takes, 28 bytes a point: 5.6 MB at most). */
#define QUERY_THIN_MIN 16
#define QUERY_THIN_MAX 200000

/*
 * An export, decided before anything is written: the device (looked up once), the stretch to
 * read, and, with max_points, the points thinning chose. The doors look at it (does the
 * device exist? its first and last points, for a download's name) and then stream it with
 * query_track_open(). With max_points, the track is first thinned (Largest-Triangle-Three-Buckets
 * over the positions: the first and last points and, in each of max_points - 2 equal runs of
 * points, the one that best keeps the shape) in passes over the store, in memory bounded by
 * max_points whatever the range. What the export writes while the store changes under it:
 *   - with max_points: at most max_points points, and no more than the first pass counted
 *     (in_range), none newer than the newest point it counted;
 *   - with limit: the newest `limit` points when the plan was made (points stored later are
 *     left out) and never more than `limit`, late points inside that stretch included;
 *   - otherwise: the points in [from, to] as the export meets them, new ones included.
 */
struct query_plan {
    char user[OWNTRACKS_NAME_MAX + 1], device[OWNTRACKS_NAME_MAX + 1]; /* as asked */
    bool found;                                                        /* the device exists */
    struct store_device dev;                                           /* when found */
    int64_t from, to; /* what to read: the range asked, narrowed by limit */
    uint64_t limit;   /* as asked (0: all) */
    bool thinned;     /* found and max_points: only keep's tsts are written */
    uint32_t *keep;   /* ascending; owned (query_plan_free, or query_track_open takes it) */
    size_t nkeep;
    uint64_t in_range; /* with thinned: the points the range held when counted */
};

/*
 * Plans the export of user's device in range. An unknown device is a plan too (found is
 * false: its export is an empty document; the caller may call that an error). Returns 0,
 * -EINVAL (max_points out of range), -ENOMEM or a store error; on error, nothing to free.
 */
int query_plan_export(struct store *s, const char *user, const char *device,
                      const struct query_range *range, struct query_plan *plan);
/* Frees what the plan holds (not the struct); harmless on a plan already emptied. */
void query_plan_free(struct query_plan *plan);

/*
 * Starts streaming a plan as `kind` into `out`: the format's header is written at once. The
 * track takes what the plan holds (the plan is left empty; query_plan_free on it is harmless).
 * opt's user and device default to the plan's; with a thinned plan, the JSON envelope says
 * in_range. opt's strings are borrowed until query_track_close(); `out` until the next fill.
 * Returns 0, -ENOMEM or a store error (then the plan keeps what it holds and *qt is unset).
 * The caller closes the track with query_track_close().
 */
int query_track_open(struct store *s, struct query_plan *plan, enum fmt_kind kind,
                     const struct fmt_options *opt, struct sink *out, struct query_track **qt);
/*
 * Writes points into `out` until it holds at least `want` bytes or the track ends (then the
 * format's trailer too). `out` may be another sink than the one given to query_track_open (the
 * HTTP server moves the buffer into its stream). Returns 1 if there is more, 0 when done
 * (and from then on), or a store error or out's write error. A point that does not decode is
 * skipped, not an error.
 */
int query_track_fill(struct query_track *qt, struct sink *out, size_t want);
/* Records that could not be decoded (skipped, and logged once). */
uint64_t query_track_skipped(const struct query_track *qt);
/* Frees the track (NULL is harmless). */
void query_track_close(struct query_track *qt);

/* ------------------------------------------------------------------ events */

/*
 * The derived events (store.h, "events") of a user's device, or of all the user's devices one
 * after the other (device NULL), with from <= tst <= to and a kind in `kinds` (0: all), as a
 * JSON array of event.h's objects, or (lines) one object per line. Read in pieces, like a
 * track: query_events_fill() writes until out holds `want` bytes, and a piece is read in a
 * read transaction of its own, so a slow reader pins nothing.
 */
struct query_events;
/* Returns 0 or a store error (an unknown user or device: an empty answer). */
int query_events_open(struct store *s, const char *user, const char *device, int64_t from,
                      int64_t to, unsigned kinds, bool lines, struct query_events **out);
/* Returns 1 when there is more, 0 when all was written, or a store error. */
int query_events_fill(struct query_events *q, struct sink *out, size_t want);
void query_events_close(struct query_events *q);

#endif
