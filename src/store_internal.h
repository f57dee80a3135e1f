/*
 * store_internal.h - what the files of the store module share (store.c: points, devices,
 * events, keys; store_timeline.c: the timeline kept beside them; store_heat.c: the heat
 * counts; and the others named below). Not a contract for anyone
 * else: only store*.c include it, and with it lmdb.h.
 */
#ifndef WL_STORE_INTERNAL_H
#define WL_STORE_INTERNAL_H

#include <limits.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "store.h"

#define DEVICE_KEY_MAX (2 * OWNTRACKS_NAME_MAX + 1)
#define POINT_KEY      8  /* u32 id | u32 tst of the chunk's first point */
#define EVENT_KEY      13 /* u32 id | u8 kind | u32 tst | u32 discriminator */
#define DEVREC_FIXED   22 /* five u32 fields and a u16 topic length */

struct store {
    MDB_env *env;
    MDB_dbi meta, devices, devids, points, events, keys;
    MDB_dbi tokens;
    bool have_tokens; /* false: read-only, on a store made before tokens (none to read) */
    MDB_dbi shares, private_circles; /* store_share.c */
    bool have_shares;                /* false: read-only, on a store made before share links */
    MDB_dbi geo;   /* the reverse-geocoding cache; made when first opened for writing */
    bool have_geo; /* false: a read-only store from before it (lookups find nothing) */
    /*
     * Read and write transactions hold this shared; growing the map takes it exclusively,
     * because LMDB requires that no transaction of this process is open while the map
     * size changes. Writer-preferring, so a resize is never starved by readers.
     */
    pthread_rwlock_t resize_lock;
    atomic_uint map_resizes;
    atomic_bool map_full;  /* the last write found the map full and it could not grow */
    atomic_size_t map_max; /* the ceiling (or the map, if larger) when last measured */
    /* The smallest map size the system refused, and the room measured then: while the room
     * is no larger, it is overestimated (a 32-bit hole that moved...), so growing does not
     * try that size again. Under the resize lock. */
    uint64_t refused, refused_room;
    size_t chunk_max; /* bytes of points per chunk: one LMDB page */
    bool read_only;
    char dir[PATH_MAX];
    char client_id[40];
    /* The timeline (store_timeline.c): its databases (0 in a read-only store made before
     * them: every timeline is then computed as it is read), the defaults of users without
     * their own settings, and the hook for segments that opened or closed in a commit. */
    MDB_dbi tl_segs, tl_ckpt, tl_state, tl_days, users;
    bool have_timeline;
    struct store_user_settings tl_defaults;
    store_timeline_hook tl_hook;
    void *tl_hook_arg;
    atomic_bool tl_deferred; /* store_set_timeline_deferred */
    /* The places (store_places.c); have_places false in a read-only store made before them. */
    MDB_dbi places;
    bool have_places;
    /* Events (store_events.c): their databases (0 in a read-only store made before them), the
     * battery level that makes one, and the hook for those committed. */
    MDB_dbi evlog, evstate, webhooks, outbox;
    bool have_events;
    int battery_low;
    store_event_hook ev_hook;
    void *ev_hook_arg;
    /* The places of the users whose fixes were derived lately (store_events.c), so that a
     * fix is not tested against a scan of the places table. Touched only inside
     * store_write_batch's write transaction (LMDB runs one at a time), freed by store_close. */
    struct sev_places *ev_places;
    unsigned ev_places_next; /* the slot to reuse next */
    /* The heat counts (store_heat.c); have_heat false in a read-only store made before them. */
    MDB_dbi heat, heat_state;
    bool have_heat;
    atomic_bool heat_deferred; /* store_set_heat_deferred */
};

static inline void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t get_le32(const uint8_t *p)
{
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void put_le64(uint8_t *p, uint64_t v)
{
    put_le32(p, (uint32_t)v);
    put_le32(p + 4, (uint32_t)(v >> 32));
}

static inline uint64_t get_le64(const uint8_t *p)
{
    return get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

/* A double as its IEEE 754 bits, little-endian. */
static inline void put_f64(uint8_t *p, double d)
{
    uint64_t v;
    memcpy(&v, &d, 8);
    put_le64(p, v);
}

static inline double get_f64(const uint8_t *p)
{
    uint64_t v = get_le64(p);
    double d;
    memcpy(&d, &v, 8);
    return d;
}

struct devrec {
    uint32_t id, points, first, last, seen;
    char topic[STORE_TOPIC_MAX + 1];
};

struct chunk_pt {
    uint32_t tst;
    bool hidden;
    const uint8_t *data;
    size_t len;
};

/* Scratch memory for rewriting chunks, reused across one batch. */
struct scratch {
    uint8_t *copy; /* the chunk being rewritten, copied out of the map */
    size_t copy_cap;
    struct chunk_pt *pts;
    size_t pts_cap;
};

/* What a write transaction's work function returns to abort quietly (a dry run). */
#define STORE_ABORT (-20000)

/* Transactions under the resize lock (store.c explains it). */
int store_txn_begin(struct store *s, unsigned flags, MDB_txn **txn);
void store_txn_abort(struct store *s, MDB_txn *txn);
int store_txn_commit(struct store *s, MDB_txn *txn);
/* Runs fn(s, txn, arg) in a write transaction and commits it; when the map is full, grows it
 * and runs fn again from the start (so fn must only depend on arg and the store). fn returns 0
 * to commit, STORE_ABORT to abort quietly, or an LMDB or project error. Returns 0 or a store
 * error (logged with `what`). */
int store_with_write_txn(struct store *s, int (*fn)(struct store *, MDB_txn *, void *), void *arg,
                         const char *what);
/* Translates an LMDB code into a store error (store.h), logging what failed. */
int store_lmdb_error(const char *what, int rc);

/* Positions cur on the chunk of device id whose range holds t, or else on the device's first
 * chunk after t. Returns 0, MDB_NOTFOUND (no such chunk) or an LMDB error. */
int store_seek_chunk(MDB_cursor *cur, uint32_t id, uint32_t t, MDB_val *k, MDB_val *v);
/* Copies the chunk at (k, v) out of the map into sc and decodes it into sc->pts (which point
 * into sc->copy, so they survive writes). Returns the count or -1. */
long store_load_chunk(struct scratch *sc, const MDB_val *k, const MDB_val *v);
/* Deletes (or counts) up to max entries of a database whose keys start with the device id;
 * sets *done when none is left. Returns 0 or an LMDB error. */
int store_delete_prefixed(MDB_txn *txn, MDB_dbi dbi, uint32_t id, bool dry_run, size_t max,
                          uint64_t *count, bool *done);
/* A device record by name inside a transaction: 0, MDB_NOTFOUND, MDB_CORRUPTED or LMDB's. */
int store_get_devrec(struct store *s, MDB_txn *txn, const char *user, const char *device,
                     struct devrec *r);

/* store_share.c, called by store.c's open_dbs: opens (creating unless read-only) the shares
 * and private tables; 0 or an LMDB error. */
int store_share_open_dbs(struct store *s, MDB_txn *txn);

/* store_timeline.c, called by store.c. */
/* Opens (creating unless read-only) the timeline's databases; 0, or an LMDB error. */
int stl_open_dbs(struct store *s, MDB_txn *txn);
/* Points of device id at or after t changed in this transaction (deleted, hidden): the
 * timeline from t on is stale until stl_update. Returns 0 or an LMDB error. */
int stl_mark(struct store *s, MDB_txn *txn, uint32_t id, uint32_t t);

/* Segments that opened or closed in a write, kept for the hook until the commit. */
struct stl_event {
    char user[OWNTRACKS_NAME_MAX + 1], device[OWNTRACKS_NAME_MAX + 1];
    char zone[STORE_ZONE_MAX]; /* the user's, by name */
    enum tl_event ev;
    struct tl_segment seg;
};
struct stl_events {
    struct stl_event *v;
    size_t n, cap;
};

/*
 * Brings the timeline of device id (of user, device) up to date inside txn: from `changed`
 * (the oldest point this transaction stored or changed; UINT32_MAX: only what stl_mark or a
 * settings change left) or from scratch when `full`. Appends what opened or closed after the
 * device's previous newest point to ev (may be NULL). Returns 0 or an LMDB/store error.
 */
int stl_update(struct store *s, MDB_txn *txn, uint32_t id, const char *user, const char *device,
               uint32_t changed, bool full, struct stl_events *ev);
/* Brings the timeline of one device up to date in a transaction of its own (after a deletion
 * made it stale). Returns 0 (an unknown device: nothing to do) or a store error. */
int stl_refresh(struct store *s, const char *user, const char *device);
/* Brings every device with a stale or missing timeline up to date (store_open, writable). */
int stl_catch_up(struct store *s);
/* Calls the hook for each event and empties ev (after a commit). */
void stl_deliver(struct store *s, struct stl_events *ev);

/* store_places.c, called by store.c: opens (creating unless read-only) the places database;
 * 0, or an LMDB error. */
int spl_open_dbs(struct store *s, MDB_txn *txn);
/* Every write of a place counts in meta "places_version", in its transaction: a reader that
 * keeps places across transactions (event derivation) sees that they changed, whichever
 * process changed them. *version gets the count (0: never written). 0 or an LMDB error. */
int spl_version(struct store *s, MDB_txn *txn, uint32_t *version);
/* Calls fn for each place of `user` inside txn, by id; fn returns 0 to go on (else that is
 * returned). Returns 0, MDB_CORRUPTED or an LMDB error. */
int spl_each(struct store *s, MDB_txn *txn, const char *user,
             int (*fn)(void *arg, const struct store_place *p), void *arg);
/* The place with this id inside txn: 0, MDB_NOTFOUND, MDB_CORRUPTED or an LMDB error. */
int spl_get(struct store *s, MDB_txn *txn, uint32_t id, struct store_place *out);

/* store_timeline.c: the accuracy beyond which a fix of `user` places no stay (their
 * timeline setting, else the store's default). 0, MDB_CORRUPTED or an LMDB error. */
int stl_max_acc(struct store *s, MDB_txn *txn, const char *user, double *out);
/* store_events.c, called by store.c. */
/* Opens (creating unless read-only) the events' databases; 0, or an LMDB error. */
int sev_open_dbs(struct store *s, MDB_txn *txn);

/* What derivation knows of one device during a write, loaded at its first use. */
struct sev_dev {
    bool loaded, dirty;
    uint8_t flags;                             /* SEV_BATTERY_LOW, SEV_SILENT */
    uint32_t last_fix;                         /* the newest fix derivation looked at */
    uint32_t place;                            /* the user's place the device is in (0: none) */
    char place_name[STORE_PLACE_NAME_MAX + 1]; /* its name when entered (for a place_left
                                                  after it was deleted) */
    /* Looked up at the device's first fix in this write: the places' version, and the
     * accuracy beyond which a fix neither enters nor leaves a place. */
    bool places_checked;
    uint32_t places_version;
    double max_acc_m;
};
#define SEV_BATTERY_LOW 0x01
#define SEV_SILENT      0x02

/* Events made in a write, kept for the hook until the commit. */
struct sev_list {
    struct store_event *v;
    size_t n, cap;
};

/*
 * Derivation inside a write transaction, for device id (user, device): a message of it
 * arrived (ends a silence); a location was stored (battery); a transition was stored; the
 * timeline reported v[0..n) for it. sev_finish writes what changed of the device's state.
 * Each event goes to evlog, the outbox (for each webhook that wants it) and out.
 * All return 0 or an LMDB error (ENOMEM).
 */
int sev_seen(struct store *s, MDB_txn *txn, struct sev_dev *d, uint32_t id);
int sev_location(struct store *s, MDB_txn *txn, struct sev_dev *d, uint32_t id,
                 const struct store_record *r, struct sev_list *out);
int sev_transition(struct store *s, MDB_txn *txn, struct sev_dev *d, uint32_t id,
                   const struct store_record *r, struct sev_list *out);
int sev_timeline(struct store *s, MDB_txn *txn, struct sev_dev *d, uint32_t id,
                 const struct stl_event *v, size_t n, struct sev_list *out);
int sev_finish(struct store *s, MDB_txn *txn, struct sev_dev *d, uint32_t id);
/* Calls the hook for each event and empties the list (after a commit). */
void sev_deliver(struct store *s, struct sev_list *l);
/* Frees what derivation keeps between writes (store_close). */
void sev_close(struct store *s);
/* Removes (or counts) up to max events, states and outbox records of device id; *done when
 * none is left. Returns 0 or an LMDB error. */
int sev_delete_device(struct store *s, MDB_txn *txn, uint32_t id, bool dry_run, size_t max,
                      uint64_t *count, bool *done);

/* store_heat.c, called by store.c. */
/* Opens (creating unless read-only) the heat databases; 0, or an LMDB error. */
int sht_open_dbs(struct store *s, MDB_txn *txn);

/* A cell at STORE_HEAT_ZOOM by its code (mercator_code), and its count. */
struct sht_cell {
    uint64_t code;
    uint32_t count;
};
struct sht_cells {
    struct sht_cell *v;
    size_t n, cap;
};
/* One point stored by a batch: its device, UTC day and cell. */
struct sht_note {
    uint32_t id, day;
    uint64_t code;
};
/* The points a write stored, noted for sht_add, and scratch memory reused across the write.
 * Zeroed to start; sht_batch_free when done. */
struct sht_batch {
    struct sht_note *v;
    size_t n, cap;
    struct sht_cells old, merged;
    struct scratch sc;
};

/* Notes a location of device id that the write stored (one without a position is not
 * counted). 0 or ENOMEM. */
int sht_note(struct store *s, struct sht_batch *b, uint32_t id, const struct store_record *r);
/* Adds what b noted to the counts of the devices that have them (each day record touched is
 * rewritten once) and empties b. 0 or an LMDB error. */
int sht_add(struct store *s, MDB_txn *txn, struct sht_batch *b);
void sht_batch_free(struct sht_batch *b);
/* Points of device id with from <= tst <= to changed in txn (deleted, hidden, shown): recounts
 * their days from the points. 0 or an LMDB error. */
int sht_recount(struct store *s, MDB_txn *txn, uint32_t id, uint32_t from, uint32_t to);
/* Compares device id's kept counts (none kept: nothing to compare) with its points inside txn,
 * calling bad for each UTC day where they differ. 0 or an LMDB error. */
int sht_check(struct store *s, MDB_txn *txn, uint32_t id, void (*bad)(void *arg, uint32_t day),
              void *arg);
/* Device id is new: its counts (none) are complete. 0 or an LMDB error. */
int sht_new_device(struct store *s, MDB_txn *txn, uint32_t id);
/* Device id's counts are no longer kept (written while deferred): readers read its points until
 * a catch-up. 0 or an LMDB error. */
int sht_drop_state(struct store *s, MDB_txn *txn, uint32_t id);

#endif
