/*
 * store.h - wherelog's LMDB store (store.c, store_timeline.c for the timeline, store_heat.c for
 * the heat counts, and the others named below): the only module that includes lmdb.h.
 *
 * Layout: one LMDB environment in the storage directory (data.mdb, lock.mdb, mode 0600),
 * holding these named databases. Integers in keys are big-endian so that byte order is
 * numeric order; values use little-endian fixed fields.
 *
 *   meta     "schema" -> u32 version (STORE_SCHEMA_VERSION); "next_device" -> u32;
 *            "client_id" -> a random id made when the store is created (the MQTT client id)
 *   devices  "user" NUL "device" -> device record (id, point count, first/last tst,
 *            last seen, topic). Listing users and devices reads only this table.
 *   devids   u32 device id -> "user" NUL "device"
 *   points   u32 device id | u32 tst of its first point -> a chunk of consecutive points:
 *              chunk := u8 format (1) | u32le last tst | u16le count | point * count
 *              point := varint(tst - previous tst; the first 0) | varint(len << 1 | hidden)
 *                       | packed location (pack.h), len bytes
 *            A chunk holds at most one LMDB page of points, in time order; it covers the
 *            times from its key up to the next chunk's key, so a late point is inserted into
 *            the chunk before it (which is re-split when it overflows). Exactly one point
 *            per (device, tst): the first one stored wins and later copies (QoS 1
 *            redelivery, retained replays, re-imports) are duplicates. A (device, time
 *            range) query is one ordered cursor scan of this table, decoding whole chunks.
 *   events   u32 device id | u8 kind | u32 tst | u32 discriminator -> packed message
 *            Histories (transition, lwt, steps, beacon) keep one entry per distinct
 *            message (discriminator = hash of its bytes, so replays collapse); waypoints are
 *            keyed by their tst (their identity; an edit replaces); card, waypoints, status,
 *            cmd and configuration keep only the latest (tst = discriminator = 0).
 *   keys     "user" NUL "device" -> encryption secret (1..32 bytes, protocol §8)
 *   tokens   "user" NUL "name" -> API token record (see "API tokens" below); a store made
 *            before tokens gains this table when next opened for writing
 *   shares   "user" NUL "id" -> share link record (see "Share links" below; store_share.c)
 *   private  "user" NUL "name" -> a private circle (see "Private circles" below)
 *   heat, heat_state  points per device, UTC day and map cell (see "heat" below)
 *
 * The last position of a device is the newest visible point in `points`, so a late or
 * replayed point can never move it backwards.
 *
 * Durability promise: store_write_batch() returns 0 only after LMDB has committed the
 * transaction and fsync'ed it (LMDB's default, fully synchronous mode). Everything it
 * reported STORE_STORED or STORE_DUPLICATE is then on disk and survives a crash of the
 * process or the machine. The ingest path acknowledges a message to its sender only after
 * that (see writer.h, mqtt.c), so the worst-case loss window is zero messages that were
 * acknowledged; unacknowledged ones are redelivered by the broker or the phone.
 *
 * Map size: LMDB maps the whole store into the address space, so the map is sized from what
 * this process can map: its "room" is the smaller of what RLIMIT_AS (ulimit -v) leaves and
 * the largest free range of addresses (what a 32-bit board has), the store's own map counted
 * as free. The map may take the room less a spare (STORE_MAP_SPARE_MIN or a sixteenth of it)
 * kept for the rest of the process; since the room is an estimate (another mapping of the
 * file, or one made since, makes it smaller), a map size that the system accepts but that
 * leaves less than STORE_MAP_SPARE_MIN free is given up for a smaller one too (at opening, not
 * below the file's size). A store opens with a map of twice its file size
 * (at least STORE_MAP_MIN, or STORE_OPTIONS.initial_map) within that ceiling, or of the file size
 * alone when only that fits, and doubles the map whenever a write finds it full. An attempt that
 * the system refuses is undone (the store is re-opened at its previous size) and smaller steps are
 * tried. When no step fits, writes fail with WL_EMAPFULL ("map full", logged once, store_map_full()
 * true) while reads go on; a write that fits again (after a deletion) clears it. A store larger
 * than the room cannot be opened (WL_EMAPFULL); one that another process made larger than this map
 * is mapped again as if opened.
 *
 * Thread rules: a struct store is shared by all threads. Writes are serialised by the
 * caller (writer.h: one writer at a time). Readers open short read transactions; an
 * iterator re-opens its transaction every STORE_ITER_CHUNK records so a slow client never
 * pins an old snapshot (which would stop LMDB reusing pages) or delays a map resize.
 * A thread must not open a second read (iterator, list, lookup) or submit a write while it
 * holds one open: the resize lock is not recursive. Callbacks of store_list_*() run inside
 * the listing's transaction and must not call the store.
 * Other processes (the CLI) may read and write the same store at the same time.
 *
 * Errors: every function below that returns an int returns 0 (or a count where it says so)
 * or a "store error": -ENOMEM (logged when LMDB ran out); -ENOSPC (disk full, logged); WL_EMAPFULL
 * (the map is full and cannot grow, or was lost; logged once); WL_ECORRUPT (a stored record does
 * not decode); WL_ESTORE (any other LMDB failure, logged); and -ENOENT or -EINVAL where a function
 * says so. No LMDB code leaves this module.
 *
 * Snapshots: every read sees the store as of when its read transaction began, and nothing
 * holds one snapshot across two reads: two iterators, an iterator and a listing, or a device
 * record and the points it counts (store_device.points) see different stores. Even one
 * iterator is not one snapshot (it re-opens its transaction every STORE_ITER_CHUNK records
 * and on store_iter_pause); it only promises that each item comes strictly after (before, in
 * reverse) the one it returned last. Between any two reads, points arrive (newer ones and
 * late ones, older than the newest), duplicates are dropped, and points and whole devices are
 * deleted, by this process or another. So a reader that counts in one read and fills in
 * another must never let the count bound a write: size memory from a limit of its own and
 * bound every write by that memory (query.c's thinning and limit do).
 */
#ifndef WL_STORE_H
#define WL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "owntracks.h"
#include "timeline.h"

#define STORE_SCHEMA_VERSION 1
#define STORE_ITER_CHUNK     4096
#define STORE_TOPIC_MAX      256 /* original topic kept for the API; longer ones are cut */

struct store;

struct store_options {
    size_t initial_map; /* 0: default (2 x file size, at least STORE_MAP_MIN) */
    bool read_only;     /* open an existing store for reading only */
    /* The timeline's defaults for users without their own settings (store_user_settings);
     * NULL: tl_settings_default() and the server's zone. Borrowed during store_open. */
    const struct store_user_settings *timeline;
    /* Event derivation (see "events" below); 0: STORE_BATTERY_LOW_DEFAULT. */
    int battery_low;
};

/*
 * Opens (creating if needed, unless read_only) the store in `dir`.
 * Errors: -ENOENT (read_only and no store there), WL_ESCHEMA (unknown schema version; a
 * message says which), WL_EMAPFULL (the store is larger than this process can map, logged),
 * WL_ESTORE (LMDB failure, logged), -ENOMEM.
 */
int store_open(const char *dir, const struct store_options *opt, struct store **out);
/* Closes the environment. No reader or writer may still use s. */
void store_close(struct store *s);

/* ------------------------------------------------------------------ writing */

/* One message to store. All pointers are borrowed for the duration of the call. */
struct store_record {
    enum owntracks_kind kind;
    const char *user; /* validated and lowercased (owntracks.h) */
    const char *device;
    int64_t tst;      /* the message time, WTIME_MIN..WTIME_MAX */
    const void *data; /* packed message (pack.h) */
    size_t len;
    const char *topic; /* original topic, or NULL (HTTP, import) */
    int64_t received;  /* arrival time, for "last seen" */
};

enum store_result {
    STORE_STORED,    /* new data written */
    STORE_DUPLICATE, /* already there: nothing changed */
};

/*
 * Writes all records in one transaction and commits it (see the durability promise).
 * results[i] tells what happened to recs[i]. Grows the map when it is full and retries.
 * Returns 0 or a store error (-ENOSPC: disk full; WL_EMAPFULL: address space exhausted); on
 * error nothing of the batch is stored.
 */
int store_write_batch(struct store *s, const struct store_record *recs, size_t n,
                      enum store_result *results);

/* ------------------------------------------------------------------ reading */

struct store_device {
    char user[OWNTRACKS_NAME_MAX + 1];
    char device[OWNTRACKS_NAME_MAX + 1];
    uint32_t id;
    uint32_t points;                 /* stored location points, hidden ones included */
    int64_t first_tst;               /* oldest point (0 if none) */
    int64_t last_tst;                /* newest point (0 if none) */
    int64_t last_seen;               /* last message of any kind received */
    char topic[STORE_TOPIC_MAX + 1]; /* last topic seen ("" if none) */
};

/* Calls cb for each user name in order. cb returns 0 to go on; any other value stops the
 * walk and is returned. Returns 0 or a store error. */
int store_list_users(struct store *s, int (*cb)(void *arg, const char *user), void *arg);
/* Calls cb for each device of `user` (all users if NULL), in name order. cb returns 0 to go
 * on; any other value stops the walk and is returned. Returns 0 or a store error. */
int store_list_devices(struct store *s, const char *user,
                       int (*cb)(void *arg, const struct store_device *d), void *arg);
/* The same listing copied into an array (malloc'd, caller frees *out), so that the caller
 * may work on each device without holding the listing's read transaction. device, if not
 * NULL, keeps only devices of that name. Returns 0 or an error (then *out is NULL). */
int store_devices(struct store *s, const char *user, const char *device, struct store_device **out,
                  size_t *n);
/* Looks a device up by name. Returns 0, -ENOENT if unknown, or a store error. */
int store_get_device(struct store *s, const char *user, const char *device,
                     struct store_device *out);

/* A stored message as a reader sees it. data is borrowed, see the iterator rules. */
struct store_item {
    int64_t tst;
    enum owntracks_kind kind;
    uint8_t flags; /* STORE_POINT_HIDDEN */
    const uint8_t *data;
    size_t len;
};

#define STORE_POINT_HIDDEN 0x01

enum store_iter_flags {
    STORE_ITER_REVERSE = 1,     /* newest first */
    STORE_ITER_WITH_HIDDEN = 2, /* include hidden points */
};

struct store_iter;

/*
 * Iterates the location points of device `id` with from <= tst <= to, in time order.
 * Returns 0 (caller closes *out with store_iter_close) or a store error.
 */
int store_iter_points(struct store *s, uint32_t id, int64_t from, int64_t to, unsigned flags,
                      struct store_iter **out);
/* Iterates the stored events of one kind for device `id` with from <= tst <= to. For
 * latest-only kinds there is at most one, whatever the range. Returns 0 or a store error. */
int store_iter_events(struct store *s, uint32_t id, enum owntracks_kind kind, int64_t from,
                      int64_t to, unsigned flags, struct store_iter **out);
/*
 * Next item: 1 and *item set, 0 at the end, or a store error (WL_ECORRUPT for a chunk that
 * does not decode). item->data stays valid until the next call to store_iter_next() or
 * store_iter_close().
 */
int store_iter_next(struct store_iter *it, struct store_item *item);
/* Ends the iterator's read transaction (data from it becomes invalid); the next call to
 * store_iter_next() resumes after the last item returned. Call it before waiting on
 * anything slow (a network client). */
void store_iter_pause(struct store_iter *it);
void store_iter_close(struct store_iter *it);

/* ------------------------------------------------------------------ changing history */

/* What a removal found (and, unless it was a dry run, removed). */
struct store_removed {
    uint64_t points;
    uint64_t events;
    bool device; /* the device's record itself */
};

/*
 * Removes the points of a device with from <= tst <= to (hidden ones too); with dry_run only
 * counts them. Works in small transactions (a few dozen chunks each), so that ingest never
 * waits long behind it; each is durable when it returns (see the durability promise).
 * *removed gets the count. Errors: store errors; an unknown device removes nothing.
 */
int store_delete_points(struct store *s, const char *user, const char *device, int64_t from,
                        int64_t to, bool dry_run, uint64_t *removed);
/* Removes a device entirely: its points (so its last position), its events (cards,
 * waypoints, transitions...), and its record. Keeps its encryption key (configuration, not
 * data: see store_key_delete). In small transactions, like store_delete_points. Returns 0
 * (an unknown device removes nothing) or a store error. */
int store_delete_device(struct store *s, const char *user, const char *device, bool dry_run,
                        struct store_removed *out);
/* Hides a point from exports, the last position and the map, or shows it again; it stays in
 * the store. Returns 0, -ENOENT if the device has no point at tst, or a store error. */
int store_set_hidden(struct store *s, const char *user, const char *device, int64_t tst,
                     bool hidden);

enum store_copy_mode {
    STORE_COPY_FILE, /* one file: data.mdb of a store (a backup) */
    STORE_COPY_DIR,  /* a new store directory */
};
/* A consistent, compacted copy of the store while it is in use (LMDB copies one snapshot;
 * writers go on). The file or directory must not exist yet (a directory may be empty).
 * Returns 0, the -errno of creating it (-EEXIST for a file that exists), or a store error;
 * a failed file copy is removed. */
int store_copy(struct store *s, const char *path, enum store_copy_mode mode);

struct store_check_counts {
    uint32_t devices;
    uint64_t points;
    uint64_t events;
    unsigned problems;
};
/* Reads everything in one snapshot and reports each problem found (a record that does not
 * decode, counts that disagree with the history, a broken index) through report(); changes
 * nothing. Returns 0 (see counts->problems) or a store error. */
int store_check(struct store *s, void (*report)(void *arg, const char *problem), void *arg,
                struct store_check_counts *counts);

/* ------------------------------------------------------------------ keys */

/* Sets, reads and removes the encryption secret of a user/device (1..32 bytes). They return
 * 0 or a store error; set -EINVAL for a secret of another length, delete -ENOENT when there
 * is none. */
int store_key_set(struct store *s, const char *user, const char *device,
                  const unsigned char *secret, size_t len);
/* Returns the secret length (copied into secret), 0 if none, or an error. */
int store_key_get(struct store *s, const char *user, const char *device,
                  unsigned char secret[OWNTRACKS_SECRET_MAX]);
int store_key_delete(struct store *s, const char *user, const char *device);
/* Lists the user/device pairs that have a key (never the secrets). cb as for
 * store_list_users. */
int store_key_list(struct store *s, int (*cb)(void *arg, const char *user, const char *device),
                   void *arg);
/* Keyring for owntracks.h backed by this store. */
struct owntracks_keyring store_keyring(struct store *s);

/* ------------------------------------------------------------------ timeline */

/*
 * The timeline (timeline.h) is kept beside the points, in these databases:
 *
 *   tl_segs  u32 device id | u32 start -> a closed segment, and the time of the fix that
 *            closed it
 *   tl_ckpt  u32 device id | u32 tst -> the detector's state after that fix (a checkpoint to
 *            replay from), every few thousand fixes or half a day
 *   tl_state u32 device id -> the detector's state after the device's newest point, the
 *            settings it ran with, and a "dirty" time: points at or after it changed since
 *   tl_days  u32 device id | u32 local date (yyyymmdd) -> that day's figures (store_day)
 *   users    "user" -> the user's own timeline settings (time zone, stay radius, minimum stay)
 *
 * Kept at ingest: store_write_batch() runs the detector over a device's new points in the same
 * transaction that stores them (from the saved state for points after the newest, from the
 * last checkpoint before the oldest new point for late ones), so the timeline and the day
 * figures are committed with their points. Deleting and hiding points, and changing a user's
 * settings, mark the time from which the timeline is stale in the transaction that changes the
 * points, and recompute it before returning; a mark left by a crash is recomputed the next
 * time the store is opened for writing or the device written. A reader never sees a stale
 * timeline: where a mark is set, the stale part is computed from the points as it is read.
 */

/* The settings of one user's timeline. */
#define STORE_ZONE_MAX 64 /* IANA zone names are at most 30 bytes or so; "" is the server's */
struct store_user_settings {
    char zone[STORE_ZONE_MAX]; /* time zone of the user's days; "" the default */
    struct tl_settings tl;
};

/* The user's settings: their own, or the store's defaults (store_options) where unset.
 * Returns 0 or a store error. */
int store_user_settings(struct store *s, const char *user, struct store_user_settings *out);
/* Sets a user's own settings (a zone that zone.h cannot open, or settings tl_settings_check
 * refuses: -EINVAL) and recomputes the timelines of their devices. Returns 0 or an error. */
int store_set_user_settings(struct store *s, const char *user,
                            const struct store_user_settings *set);

/* Called for each segment of a timeline read, in time order: closed ones (TL_CLOSED) and, at
 * the end, those still open (TL_OPENED). Runs inside the read's transaction: it must not call
 * the store. Returns 0 to go on; any other value stops the read and is returned. */
typedef int (*store_timeline_fn)(void *arg, enum tl_event ev, const struct tl_segment *seg);

/*
 * Reads the timeline of device `id`: the segments that overlap [from, to] and start after
 * `after` (INT64_MIN for all; a reader that stopped resumes with the start of the last segment
 * it took). The open segments are as they stand at `now` (tl_pending_at: a phone that sends
 * nothing while it lies still is still at its place, up to the user's stay_silence_max_s); now
 * at or before the last fix (0, say) leaves them as the last fix did (tl_pending). A reader
 * that reads in several calls passes the same now to each. Returns 0, cb's value, or a store
 * error.
 */
int store_timeline_read(struct store *s, uint32_t id, int64_t from, int64_t to, int64_t after,
                        int64_t now, store_timeline_fn cb, void *arg);

/* One local day of one device. */
#define STORE_DAY_STAYS 16 /* the day's longest stays, in time order; a day has a few */
struct store_day {
    uint32_t date;         /* yyyymmdd in the user's zone */
    int64_t start, end;    /* the day's bounds in epoch seconds: [start, end) */
    uint32_t points;       /* fixes stored that day */
    int64_t first, last;   /* the first and the last of them (0 if none) */
    double distance_m;     /* travelled in trips (accuracy-filtered), that day's share */
    int64_t moving_s;      /* time moving in trips, that day's share */
    uint32_t stays, trips; /* segments that overlap the day */
    int64_t stay_s;        /* time in stays that day */
    uint32_t nstays;       /* entries in stay[] */
    struct {
        int64_t start;    /* the stay's start (it may begin the day before) */
        uint32_t seconds; /* its time within this day */
        float lat, lon;
    } stay[STORE_DAY_STAYS];
};

/* Calls cb for each day of device `id` with from_date <= date <= to_date (yyyymmdd) that has
 * points or a segment, in date order. cb runs inside the read transaction (must not call the
 * store) and returns 0 to go on. Returns 0, cb's value, or a store error. */
int store_days_read(struct store *s, uint32_t id, uint32_t from_date, uint32_t to_date,
                    int (*cb)(void *arg, const struct store_day *day), void *arg);

/* While deferred (a bulk import), writes only mark the span of each device's timeline they
 * change, which costs one small record per device and batch instead of running the detector;
 * a read brings a marked timeline up to date first, as does store_timeline_catch_up() and the
 * next store_open() for writing. Any thread; takes effect for the next write. */
void store_set_timeline_deferred(struct store *s, bool deferred);
/* Brings every marked or missing timeline up to date, each device in a transaction of its own.
 * Returns 0 or a store error. */
int store_timeline_catch_up(struct store *s);

/* Called after a commit for each segment that opened or closed in it (live updates), from
 * the committing thread, with names borrowed for the call (zone: the user's time zone, an IANA
 * name, for local times); it must not block or call the store. Set before writers start. */
typedef void (*store_timeline_hook)(void *arg, const char *user, const char *device,
                                    const char *zone, enum tl_event ev,
                                    const struct tl_segment *seg);
void store_set_timeline_hook(struct store *s, store_timeline_hook fn, void *arg);

/* Recomputes the timelines of a user's devices (all users if NULL; one device if device is
 * not NULL) from their points, in one transaction per device. *points gets how many points
 * were read (may be NULL). Returns 0, -ENOENT (no such device), or a store error. */
int store_timeline_rebuild(struct store *s, const char *user, const char *device, uint64_t *points);

/* ------------------------------------------------------------------ heat */

/*
 * Counts of points per device, UTC day and Web Mercator cell (mercator.h), kept beside the
 * points for the map's heat layer (heat.h), so that a year is read as a few hundred day records
 * instead of half a million points (store_heat.c):
 *
 *   heat       u32be device id | u32be UTC day (days since 1970-01-01) | u64be code of the
 *              record's first cell -> u8 version (1) | varint cells
 *              | (varint code delta | varint count) * cells
 *              The day's visible points per cell at STORE_HEAT_ZOOM, in the order of the cells'
 *              codes (mercator_code), each code as its difference from the one before (the
 *              first from 0): nearby cells have nearby codes, so most cells take 3 or 4 bytes.
 *              A day's cells are split into records of at most one LMDB page, each covering
 *              the codes from its key's up to the next record's (as points are in chunks).
 *   heat_state u32be device id -> u8 version (1) | u8 STORE_HEAT_ZOOM: the device's counts are
 *              complete. Without it (a store from before the table, a device written while the
 *              counts were deferred, a crash while they were first made) a reader counts the
 *              device's points instead, until store_open (for writing) or store_heat_catch_up
 *              makes them.
 *
 * Kept at ingest: store_write_batch() adds the points it stores to their days' records in the
 * same transaction (each day record a batch touches is rewritten once), so the counts are
 * committed with their points and a crash never leaves them apart; a batch rewrites only the
 * records its points fall in, one page each, however busy the day. Deleting and hiding points
 * recompute the days they change from the points, in the transaction that changes them; deleting
 * a device removes its counts with it.
 */
/* Zoom 18 is the finest the web map asks for (web/summary.js: finer cells are smaller than a
 * fix's error); its cells are 8 pixels of 0.6 m at the equator, about 5 m (less towards the
 * poles), so a year of a phone that stays put most of the day makes a few cells a day at home
 * and one a fix on the move. Every zoom up to it is answered from the counts; finer ones
 * (19, 20: the API only) read the points. */
#define STORE_HEAT_ZOOM 18

/* A cell at STORE_HEAT_ZOOM and how many points fell in it. */
struct store_heat_cell {
    uint32_t x, y, count;
};

/* How store_heat_read hands out what it counts; both run inside its read transaction and must
 * not call the store, and return 0 to go on (any other value stops the read and is returned). */
struct store_heat_sink {
    /* Cells at STORE_HEAT_ZOOM: from the counts for whole days, and from the points (count 1
     * each, or runs of one cell) for the rest. NULL: every point goes to `position` instead. */
    int (*cells)(void *arg, const struct store_heat_cell *c, size_t n);
    /* Each point's position, when `cells` is NULL. */
    int (*position)(void *arg, double lat, double lon);
    void *arg;
};

/*
 * Counts the visible points of user's devices (one device if device is not NULL) with
 * from <= tst <= to, in one read transaction: the UTC days wholly inside the range from the
 * kept counts (where a device has them and scan_points is false), the points of the rest.
 * Points without a position that decodes are not counted. Returns 0, -ENOENT (no such device,
 * or a user without devices), the sink's value, or a store error.
 */
int store_heat_read(struct store *s, const char *user, const char *device, int64_t from, int64_t to,
                    bool scan_points, const struct store_heat_sink *out);

/* While deferred, writes do not add to the counts: each device written loses them (its heat
 * is read from its points) until store_heat_catch_up() or the next store_open() for writing
 * makes them again from the points. Any thread; takes effect for the next write. */
void store_set_heat_deferred(struct store *s, bool deferred);
/* Makes the counts of every device that has none, each in a transaction of its own. *devices
 * (may be NULL) gets how many. Returns 0, -EROFS (read-only) or a store error. */
int store_heat_catch_up(struct store *s, unsigned *devices);

/* ------------------------------------------------------------------ events */

/*
 * Events are derived at ingest and kept as history, in the transaction that stores the
 * points (or messages) that cause them (store_events.c):
 *
 *   evlog    u32 device id | u32 tst | u32 seq -> u8 kind | the fields (JSON members, no braces)
 *   evstate  u32 device id -> what derivation remembers of a device: u8 flags (battery low,
 *            silent) | u32le newest fix | u32le place id (0: none) | its name when entered
 *            (the rest); a 5-byte value (before places) is in no place
 *   webhooks u32 webhook id -> "user" NUL "url" NUL u32le kinds | secret
 *   outbox   u32 webhook id | u32 device id | u32 seq -> u32le event tst | u32le enqueued at
 *
 * seq (meta "next_event") numbers events in commit order across the store: it is the event's
 * id, what a webhook receiver de-duplicates by. Derived in a write with store_write_batch()
 * by a store that has an event hook (`serve`: live data, never an import), the stays and
 * trips only where the timeline is kept at ingest (not deferred), never when it is rebuilt:
 *   - stay_started / stay_ended / trip_started / trip_ended: a stay or trip of the timeline
 *     opened or closed because of fixes newer than the device's previous newest one;
 *   - battery_low: the newest fix's batt fell below the level (store_options.battery_low), once
 *     per crossing: it is armed again when a fix reports STORE_BATTERY_REARM points above it;
 *   - transition: the phone's own transition message (enter/leave a region), stored;
 *   - silent: store_events_check_silence() found no message from a device for longer than
 *     a time; once per silence (any message from the device ends it);
 *   - place_entered / place_left: a fix newer than the device's newest, of usable accuracy
 *     (no worse than the user's timeline max_acc_m, 200 m by default; unknown counts as
 *     usable), entered or left one of the user's places (store.h "places"). It enters the
 *     place whose circle holds it (of several, the one whose centre is nearest relative to its
 *     radius); it leaves only when a fix lies beyond radius + max(STORE_PLACE_HYSTERESIS_M,
 *     the fix's acc), so a fix jittering on the border does not flap, and while it is in one
 *     place it enters no other. Leaving one place for another at one fix is place_left then
 *     place_entered. A place moved while the device is in it is judged by its new circle at
 *     the next fix; a place deleted meanwhile is left at the next usable fix (its place_left
 *     has "deleted":true and the name it had when entered). A fix with an unusable accuracy
 *     changes nothing. Fields: "place":ID,"name":"...", the fix's lat, lon and acc.
 * For each event and each webhook of the device's user that wants its kind, an outbox record
 * is written in the same transaction: a committed event is delivered at least once, whatever
 * crashes after the commit (webhook.h delivers them).
 */
enum store_event_kind {
    STORE_EV_STAY_STARTED = 1,
    STORE_EV_STAY_ENDED,
    STORE_EV_TRIP_STARTED,
    STORE_EV_TRIP_ENDED,
    STORE_EV_BATTERY_LOW,
    STORE_EV_TRANSITION,
    STORE_EV_SILENT,
    STORE_EV_PLACE_ENTERED,
    STORE_EV_PLACE_LEFT,
    STORE_EV_KIND_END /* one past the last */
};
/* Metres beyond a place's radius (or the fix's accuracy, if larger) that a fix must lie to
 * leave it: a phone standing still reports fixes scattered over tens of metres. */
#define STORE_PLACE_HYSTERESIS_M  50.0
#define STORE_BATTERY_LOW_DEFAULT 20
#define STORE_BATTERY_REARM                                                                        \
    5 /* percent above the level: a battery that reads 19, 20,                                     \
         19 while charging slowly is one crossing, not three */
/* Fields of one event as JSON text: the largest is a transition with a region name (desc) of
 * a few dozen bytes; a longer desc is left out rather than cut. */
#define STORE_EVENT_FIELDS_MAX 768

/* "stay_started", ...; NULL for a value outside the enum. */
const char *store_event_kind_name(enum store_event_kind kind);
/* The kind for a name, or 0. */
enum store_event_kind store_event_kind_from_name(const char *name, size_t len);
/* A set of kinds: bit (1 << kind); 0 means all of them wherever a set filters. */
#define STORE_EVENT_KIND_BIT(k) (1u << (k))
/* Parses "kind,kind,..." into a set. Returns 0, or -EINVAL naming nothing (an unknown kind). */
int store_event_kinds_parse(const char *list, unsigned *set);

struct store_event {
    uint32_t seq; /* the event's id */
    enum store_event_kind kind;
    int64_t tst; /* when it happened (the fix's, the message's, or the check's time) */
    char user[OWNTRACKS_NAME_MAX + 1], device[OWNTRACKS_NAME_MAX + 1];
    char fields[STORE_EVENT_FIELDS_MAX]; /* JSON members without braces ("" none) */
};

/* Called after a commit for each event committed in it, in seq order, from the committing
 * thread; ev is borrowed for the call. It must not block or call the store. Set before
 * writers start. */
typedef void (*store_event_hook)(void *arg, const struct store_event *ev);
/* Setting a hook turns derivation on (see above); NULL turns it off. */
void store_set_event_hook(struct store *s, store_event_hook fn, void *arg);

/* Calls cb for each event of device d (its names fill user and device) with from <= tst <= to
 * whose kind is in `kinds` (0: all), in time order; cb runs inside the read transaction (must
 * not call the store) and returns 0 to go on. Returns 0, cb's value, or a store error. */
int store_events_read(struct store *s, const struct store_device *d, int64_t from, int64_t to,
                      unsigned kinds, int (*cb)(void *arg, const struct store_event *ev),
                      void *arg);

/* The place device d is in as derivation left it (entered and not left): *id (0: none) and
 * name (STORE_PLACE_NAME_MAX + 1 bytes: its name now, or when entered if it was deleted
 * since; "" for none). Returns 0 or a store error. */
int store_event_place(struct store *s, const struct store_device *d, uint32_t *id, char *name);

/* Writes a "silent" event for each device whose last message is older than now - after and
 * that has none for this silence yet, in one transaction (then the hook). *found (may be NULL)
 * gets how many. Returns 0 or a store error. */
int store_events_check_silence(struct store *s, int64_t now, int64_t after, unsigned *found);

#define STORE_URL_MAX      1024 /* a webhook URL; longer ones are refused */
#define STORE_SECRET_MAX   128  /* a webhook's HMAC key (bytes) */
#define STORE_WEBHOOKS_MAX 256  /* per store: each event checks every one of them */
struct store_webhook {
    uint32_t id;
    char user[OWNTRACKS_NAME_MAX + 1];
    char url[STORE_URL_MAX + 1];
    unsigned kinds; /* a set of kinds; 0: all */
    uint8_t secret[STORE_SECRET_MAX];
    size_t secret_len; /* 0: the body is not signed */
};
/* Adds a webhook; *id gets its id. Returns 0, -EINVAL (a URL that is not http:// or https://,
 * too long, or a longer secret), -ENOSPC (STORE_WEBHOOKS_MAX reached) or a store error. */
int store_webhook_add(struct store *s, const struct store_webhook *w, uint32_t *id);
/* Calls cb for each webhook of user (all if NULL) in id order; cb as for store_list_users.
 * Returns 0, cb's value or a store error. */
int store_webhook_list(struct store *s, const char *user,
                       int (*cb)(void *arg, const struct store_webhook *w), void *arg);
/* Removes webhook id of user (user NULL: anyone's) and whatever its outbox still holds.
 * Returns 0, -ENOENT, or a store error. */
int store_webhook_delete(struct store *s, const char *user, uint32_t id);
/* Looks one up by id. Returns 0, -ENOENT or a store error. */
int store_webhook_get(struct store *s, uint32_t id, struct store_webhook *out);

/* One outbox record: an event waiting for a webhook. */
struct store_delivery {
    uint32_t webhook, device;
    int64_t enqueued; /* when it was committed */
    struct store_event ev;
};
/* The oldest waiting records of each (webhook, device), up to per_group of each and max in
 * all, in key order (so each group's in the order of its events): what may be delivered next,
 * one after the other, without overtaking an older event of the same device. Returns how many
 * (into out), or a store error. */
long store_outbox_heads(struct store *s, struct store_delivery *out, size_t max, size_t per_group);
/* Removes delivered records, all in one transaction (one fsync for a pass of deliveries).
 * Returns 0 (also for records gone already) or a store error. */
int store_outbox_done(struct store *s, const struct store_delivery *const *d, size_t n);
/* Drops records enqueued before now - max_age (max_age 0: no age limit), then the oldest
 * beyond max_count (0: no count limit), in small transactions. *dropped gets how many;
 * *left how many remain. Returns 0 or a store error. */
int store_outbox_trim(struct store *s, int64_t now, int64_t max_age, uint64_t max_count,
                      uint64_t *dropped, uint64_t *left);

/* ------------------------------------------------------------------ places */

/*
 * A user's places (store_places.c): named areas (centre, radius) that the timeline's stays
 * are attached to when they are read (places.h). One named database:
 *
 *   places   u32be id -> u8 version | u8 flags | f64le lat | f64le lon | f64le radius
 *            | i64le created | u8 user length | user | name (the rest)
 *            id 0 -> u32le the next id to give
 *
 * Ids are given once and never reused (a deleted place's id stays unused), so a link to a place
 * never silently points to another. A store has few places (people name tens, not thousands):
 * listing a user's places scans them all. A read-only store made before places has none.
 */
#define STORE_PLACE_NAME_MAX   128    /* bytes of UTF-8: "Grandma's house, Lyon" with room */
#define STORE_PLACE_RADIUS_MIN 5.0    /* metres: GPS cannot place a stay closer than this */
#define STORE_PLACE_RADIUS_MAX 5000.0 /* metres: a campus or an airport; a city is not a place */
#define STORE_PLACES_MAX       10000  /* per user: far beyond what anyone names by hand */
#define STORE_PLACE_PRIVATE    0x01   /* not shared with others (sharing, later) */

struct store_place {
    uint32_t id; /* given by store_place_add */
    char user[OWNTRACKS_NAME_MAX + 1];
    char name[STORE_PLACE_NAME_MAX + 1];
    double lat, lon, radius_m;
    uint8_t flags;   /* STORE_PLACE_* */
    int64_t created; /* epoch seconds */
};

/* Is p a place that may be stored (user a name, name 1..STORE_PLACE_NAME_MAX bytes of UTF-8
 * without control characters, lat/lon in range, radius in RADIUS_MIN..RADIUS_MAX)? 0, or
 * -EINVAL with *why set to a static sentence. Any thread. */
int store_place_check(const struct store_place *p, const char **why);
/* Adds p (checked as above: -EINVAL) and sets p->id. -EDQUOT when the user already has
 * STORE_PLACES_MAX places, -EROFS for a read-only store; or a store error. Durable on return. */
int store_place_add(struct store *s, struct store_place *p);
/* The place with this id: 0, -ENOENT, or a store error. */
int store_place_get(struct store *s, uint32_t id, struct store_place *out);
/* Replaces the name, centre, radius and flags of place p->id (its user and created stay, and
 * p->user is not read). Returns 0, -EINVAL (see store_place_check), -ENOENT, or a store error.
 * These writes return -EROFS for a read-only store. */
int store_place_update(struct store *s, const struct store_place *p);
/* Removes a place: 0, -ENOENT, or a store error. */
int store_place_delete(struct store *s, uint32_t id);
/* Merges place `from` into place `into` (both of one user; else -EINVAL) in one transaction:
 * `into` keeps its id and name and grows to the smallest circle that holds both (at most
 * STORE_PLACE_RADIUS_MAX: -ERANGE when they are too far apart), and `from` is removed. *out
 * (may be NULL) gets the merged place. Returns 0, -ENOENT (either unknown), -EINVAL, -ERANGE,
 * or a store error. */
int store_place_merge(struct store *s, uint32_t from, uint32_t into, struct store_place *out);
/* The places of `user` (all users if NULL), by id, copied into an array (malloc'd, caller
 * frees *out; NULL when none). Returns 0 or a store error. */
int store_places(struct store *s, const char *user, struct store_place **out, size_t *n);

/* ------------------------------------------------------------------ facts */

struct store_stats {
    uint64_t file_bytes; /* data.mdb size on disk */
    uint64_t map_bytes;  /* current map size */
    uint64_t used_bytes; /* pages in use by the last committed transaction */
    uint64_t points;     /* location points in the store */
    uint64_t chunks;     /* point chunks they are kept in */
    uint64_t events;     /* other messages */
    uint32_t devices;
    unsigned map_resizes;   /* how often this process grew the map */
    uint64_t map_max_bytes; /* the largest map this process can have (last measured) */
    bool map_full;          /* writes are refused: the map is at map_max_bytes */
};
/* The numbers above, read in one transaction. Returns 0 or a store error. */
int store_stats(struct store *s, struct store_stats *out);

/* ------------------------------------------------------------------ map size */

#define STORE_MAP_MIN   (64u << 20) /* first map of a new store: small enough for any board */
#define STORE_MAP_ALIGN (64u << 10) /* map sizes are a multiple of any LMDB page size */
/* What `wherelog serve` still maps after the store is opened or its map grown, at most, with
 * the default settings: the threads it starts after opening the store (2 HTTP pool threads,
 * MQTT, live updates, pruning), each with a stack of glibc's default 8 MiB (RLIMIT_STACK):
 * 40 MiB; the write that grew the map (an MQTT burst of MQTT_BATCH_BYTES, 4 MiB, held by
 * libmosquitto, copied into the ingest batch and into LMDB's dirty pages: 12 MiB; HTTP bodies,
 * 1 MiB each by default, go through the same writer); and malloc's per-thread arenas on a
 * 32-bit board (1 MiB each) and libraries loaded late (NSS for a name lookup): 64 MiB covers
 * these. Each further --http-threads takes 8 MiB more: a larger room keeps a sixteenth. */
#define STORE_MAP_SPARE_MIN (64u << 20)
#define STORE_MAP_TRIES     8 /* sizes tried per growth, largest first */

/* Is the map full (see "Map size" above)? Cheap, any thread: for /healthz. */
bool store_map_full(struct store *s);

/* Less free space than this where the store is, the usual cause of a failed write: a short
 * write is then reported as ENOSPC, and /healthz says the store is not writable. */
#define STORE_DISK_LOW_BYTES (1u << 20)
/* Has the disk holding the store less than STORE_DISK_LOW_BYTES free for this process?
 * false when it cannot tell (statvfs failed). Any thread. */
bool store_disk_low(const struct store *s);

/*
 * The sizing policy, as pure functions of the room (bytes of address space the map may
 * take, its current map included) so that tests can give any room.
 *
 * store_map_ceiling: the largest map the policy allows in `room` (room less the spare,
 * rounded down to STORE_MAP_ALIGN).
 *
 * store_map_open_sizes: the map sizes to try, largest first, when opening a store whose
 * data.mdb has file_bytes (0 for a new store) with initial_map asked for (0: the default);
 * each next one is used if the system refuses the previous. Returns how many (up to
 * STORE_MAP_TRIES); 0 when even the file does not fit in the room.
 *
 * store_map_grow_sizes: the sizes to try when a write found a map of cur bytes full, largest
 * first: double, or less to stay under the ceiling, then halfway steps down to one
 * STORE_MAP_ALIGN more. Returns how many; 0 when the ceiling leaves no room to grow.
 * (Adopting a store that another process made larger is opening it: store_map_open_sizes.)
 */
uint64_t store_map_ceiling(uint64_t room);
size_t store_map_open_sizes(uint64_t file_bytes, uint64_t initial_map, uint64_t room,
                            uint64_t sizes[STORE_MAP_TRIES]);
size_t store_map_grow_sizes(uint64_t cur, uint64_t room, uint64_t sizes[STORE_MAP_TRIES]);

/*
 * The room (above) from a /proc/PID/maps listing: the smaller of as_limit (RLIMIT_AS,
 * UINT64_MAX for none) less everything mapped, and the largest free range of addresses
 * below the main stack; mappings of the file dev:ino (the store's data.mdb, 0 if none)
 * count as free. Reads `maps` to its end.
 */
uint64_t store_map_room(FILE *maps, uint64_t as_limit, unsigned long dev_major,
                        unsigned long dev_minor, unsigned long ino);

/*
 * Unmaps from this process the store pages it has read (they stay in the kernel's page
 * cache). Bulk jobs call it now and then so that their resident size reflects their own
 * memory rather than how much of the store they have touched. Any thread, any time.
 */
void store_drop_resident_pages(struct store *s);

/* ------------------------------------------------------------------ API tokens */

/*
 * A per-user API token, as stored: never the secret, only its hash (token.h makes both).
 * Record: u8 format (1) | u8 flags (1: read-only) | hash | i64le created | i64le expires
 * | i64le last_used. A token is named by its user and its name, unique together.
 */
#define STORE_TOKEN_HASH_BYTES 32
struct store_token {
    char user[OWNTRACKS_NAME_MAX + 1];
    char name[OWNTRACKS_NAME_MAX + 1];
    uint8_t hash[STORE_TOKEN_HASH_BYTES];
    bool read_only;
    int64_t created;   /* epoch seconds */
    int64_t expires;   /* epoch seconds from which it is refused; 0: never */
    int64_t last_used; /* epoch seconds, as last recorded (token.h: not every use); 0: never */
};

/* Adds a token. Durable when it returns. Returns 0, -EEXIST when the user already has a
 * token of that name, -EROFS for a store opened read-only, or a store error. */
int store_token_put(struct store *s, const struct store_token *t);
/* Reads one token. Returns 0, -ENOENT when there is none, or a store error. */
int store_token_get(struct store *s, const char *user, const char *name, struct store_token *out);
/* Calls cb for each token of `user` (every user's if NULL), by user then name, in one read
 * transaction; t is borrowed for the call. cb returns 0 to go on; any other value stops the
 * walk and is returned. Returns 0 or a store error. Reads the store, never a copy: a token
 * added or removed by another process is seen by the next call. */
int store_token_list(struct store *s, const char *user,
                     int (*cb)(void *arg, const struct store_token *t), void *arg);
/* Removes a token (revoking it: the next store_token_list no longer has it). Durable when it
 * returns. Returns 0, -ENOENT when there is none, -EROFS, or a store error. */
int store_token_delete(struct store *s, const char *user, const char *name);
/* Sets a token's last_used to `when` if it still exists with this hash (not revoked, nor
 * replaced by a new token of the same name) and `when` is later than what is recorded.
 * Returns 0, -ENOENT when there is no such token, -EROFS, or a store error. */
int store_token_touch(struct store *s, const char *user, const char *name,
                      const uint8_t hash[STORE_TOKEN_HASH_BYTES], int64_t when);

/* ------------------------------------------------------------------ share links */

/*
 * A link that shows one device's live position or a fixed range of its track to anyone who
 * has it (share.h makes and checks the secret; only its hash is stored). Record: u8 format (1)
 * | u8 flags (1: live, 2: revoked) | hash | i64le from | i64le to | i64le created | i64le
 * expires | i64le last_opened | u8 owner length | owner | u8 device length | device | label.
 * A share belongs to the user who made it (the key); the device is owner's (the same user, or
 * one the maker may see). A revoked share is kept
 * (so that its link answers "revoked", and `share list` shows it) until its expiry has passed
 * for STORE_SHARE_KEEP_S, when store_share_put drops it.
 */
#define STORE_SHARE_ID_LEN    12  /* lowercase hex: 48 random bits, unique per user */
#define STORE_SHARE_LABEL_MAX 100 /* a few words; longer labels are refused */
#define STORE_SHARE_KEEP_S    (30 * 86400)
struct store_share {
    char user[OWNTRACKS_NAME_MAX + 1];
    char id[STORE_SHARE_ID_LEN + 1];
    char owner[OWNTRACKS_NAME_MAX + 1]; /* the device's user */
    char device[OWNTRACKS_NAME_MAX + 1];
    char label[STORE_SHARE_LABEL_MAX + 1];
    uint8_t hash[STORE_TOKEN_HASH_BYTES];
    bool live;           /* the live position; else the track from `from` to `to` */
    bool revoked;        /* refused from then on */
    int64_t from, to;    /* epoch seconds, inclusive; 0 for a live share */
    int64_t created;     /* epoch seconds */
    int64_t expires;     /* epoch seconds from which it is refused; always set */
    int64_t last_opened; /* epoch seconds, as last recorded (share.h); 0: never */
};

/* Adds a share (and drops the user's shares that expired STORE_SHARE_KEEP_S ago). Durable
 * when it returns. Returns 0, -EEXIST when the user has a share with that id, -EINVAL for
 * empty or too long names, -EROFS, or a store error. */
int store_share_put(struct store *s, const struct store_share *sh);
/* Calls cb for each share of `user` (every user's if NULL), by user then id, in one read
 * transaction; sh is borrowed for the call. cb returns 0 to go on; any other value stops the
 * walk and is returned. Returns 0 or a store error. Reads the store, never a copy. */
int store_share_list(struct store *s, const char *user,
                     int (*cb)(void *arg, const struct store_share *sh), void *arg);
/* Marks a share revoked. Durable when it returns. Returns 0, -ENOENT when the user has no
 * share of that id, -EROFS, or a store error. Revoking twice is not an error. */
int store_share_revoke(struct store *s, const char *user, const char *id);
/* Sets a share's last_opened to `when` if it still exists with this hash and `when` is later.
 * Returns 0, -ENOENT, -EROFS, or a store error. */
int store_share_touch(struct store *s, const char *user, const char *id,
                      const uint8_t hash[STORE_TOKEN_HASH_BYTES], int64_t when);

/* ------------------------------------------------------------------ private circles */

/*
 * A user's private places, for share links (share.h: a shared track or live view never shows a
 * point inside one). Record: f64le lat | f64le lon | f64le radius in metres. Kept apart from
 * any other notion of places so that it can be folded into them.
 */
#define STORE_PRIVATE_RADIUS_MAX 50000.0 /* 50 km: a town; larger is a mistake */
struct store_private {
    char user[OWNTRACKS_NAME_MAX + 1];
    char name[OWNTRACKS_NAME_MAX + 1];
    double lat, lon, radius_m;
};

/* Adds or replaces a private circle. Durable when it returns. Returns 0, -EINVAL (empty or too
 * long names), -EROFS, or a store error. */
int store_private_put(struct store *s, const struct store_private *p);
/* Calls cb for each private circle of `user` (every user's if NULL), as store_share_list. */
int store_private_list(struct store *s, const char *user,
                       int (*cb)(void *arg, const struct store_private *p), void *arg);
/* Removes one. Returns 0, -ENOENT, -EROFS, or a store error. */
int store_private_delete(struct store *s, const char *user, const char *name);

/* A stable id, made once per store: the default MQTT client id is built from it. */
const char *store_client_id(struct store *s);
/* The storage directory. */
const char *store_dir(struct store *s);

/* ------------------------------------------------------------------ reverse-geocoding cache */
/*
 *   geo      geohash (1..12 characters) -> u8 format (1) | i64le fetched | cc NUL addr NUL
 *            locality NUL tzname NUL provider NUL
 *            What a geocoder (or an imported Recorder cache) said about a cell. An entry with
 *            every name empty is an answer too: nothing there (the sea). Made the first time a
 *            store is opened for writing; a read-only store from before has none (lookups find
 *            nothing).
 */
#define STORE_GEO_KEY_MAX      12  /* GEOHASH_PRECISION_MAX */
#define STORE_GEO_ADDR_MAX     256 /* an address line; longer ones are cut */
#define STORE_GEO_LOCALITY_MAX 128
#define STORE_GEO_TZNAME_MAX   64 /* IANA names are at most 30 bytes */
#define STORE_GEO_PROVIDER_MAX 16 /* "nominatim", "recorder"... */

struct store_geo {
    char cc[3];
    char addr[STORE_GEO_ADDR_MAX];
    char locality[STORE_GEO_LOCALITY_MAX];
    char tzname[STORE_GEO_TZNAME_MAX];
    char provider[STORE_GEO_PROVIDER_MAX];
    int64_t fetched; /* epoch seconds */
};

/* The entry for a geohash: 0 and *out set, -ENOENT (none, or a malformed key), or a store
 * error. Opens its own read transaction (see the thread rules). */
int store_geo_get(struct store *s, const char *ghash, struct store_geo *out);
/* The same from a thread that may hold a read open (an iterator): never waits for the map's
 * resize lock, and returns -EAGAIN instead when it would have to (the caller goes without). */
int store_geo_peek(struct store *s, const char *ghash, struct store_geo *out);
/* Stores entries[0..n) under ghashes[0..n) in one transaction (durable on return), replacing
 * what was there; strings longer than their field are cut. Returns 0, -EINVAL (a malformed
 * key: nothing stored), -EROFS, or a store error. */
int store_geo_put(struct store *s, const char *const *ghashes, const struct store_geo *entries,
                  size_t n);
/* The number of entries. Returns 0 or a store error. */
int store_geo_count(struct store *s, uint64_t *count);

/*
 * Reads the reverse-geocoding cache of an OwnTracks Recorder (the unnamed database of the LMDB
 * environment in `dir`, its ghash/ directory), read-only, calling cb with each key and value
 * (the Recorder's JSON; not NUL-terminated, borrowed for the call). Named databases' own
 * records in it are passed too: the caller judges the values. cb returns 0 to go on. Returns 0,
 * cb's non-zero value, -ENOENT (no LMDB environment there), or WL_ESTORE (logged).
 */
int store_read_recorder_geo(const char *dir,
                            int (*cb)(void *arg, const char *key, size_t klen, const char *value,
                                      size_t vlen),
                            void *arg);

#endif
