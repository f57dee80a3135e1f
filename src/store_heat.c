/*
 * store_heat.c - counts of points per device, UTC day and map cell, kept beside the points
 * (store.h, "heat"): added to at ingest, recomputed from the points where points are deleted or
 * hidden, made from the points for a device that has none, and read for the heat layer.
 *
 *   heat       u32be id | u32be day | u64be first code -> u8 version | varint cells
 *              | (varint code delta | varint count) * cells
 *   heat_state u32be id -> u8 version | u8 STORE_HEAT_ZOOM
 *
 * Days are UTC, not the user's: a count must not change when a user changes zone, and the map's
 * ranges are whole days in some zone, so the UTC days inside a range come from the counts and
 * the hours at its two ends from the points.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "log.h"
#include "mercator.h"
#include "pack.h"
#include "store_internal.h"
#include "varint.h"
#include "wl.h"

#define HEAT_KEY      16 /* u32 id | u32 day | u64 code of the record's first cell */
#define HEAT_VERSION  1
#define STATE_VERSION 1
#define DAY_S         86400u
/* Cells handed to a reader's sink at a time: a few pages of memory. */
#define SINK_CELLS 1024

/* ---------------------------------------------------------------- cells */

static int cells_add(struct sht_cells *c, uint64_t code, uint32_t count)
{
    if (c->n && c->v[c->n - 1].code == code) {
        uint32_t *k = &c->v[c->n - 1].count;
        *k = *k > UINT32_MAX - count ? UINT32_MAX : *k + count;
        return 0;
    }
    struct sht_cell *v = array_reserve(c->v, &c->cap, c->n + 1, sizeof(*v), 256);
    if (!v)
        return ENOMEM;
    c->v = v;
    c->v[c->n++] = (struct sht_cell){code, count};
    return 0;
}

static void heat_key(uint8_t *key, uint32_t id, uint32_t day, uint64_t code)
{
    put_be32(key, id);
    put_be32(key + 4, day);
    put_be32(key + 8, (uint32_t)(code >> 32));
    put_be32(key + 12, (uint32_t)code);
}

static bool key_of(const MDB_val *k, uint32_t id)
{
    return k->mv_size == HEAT_KEY && get_be32(k->mv_data) == id;
}

static uint32_t key_day(const MDB_val *k)
{
    return get_be32((const uint8_t *)k->mv_data + 4);
}

static bool key_of_day(const MDB_val *k, uint32_t id, uint32_t day)
{
    return key_of(k, id) && key_day(k) == day;
}

static uint64_t key_code(const MDB_val *k)
{
    const uint8_t *p = k->mv_data;
    return (uint64_t)get_be32(p + 8) << 32 | get_be32(p + 12);
}

/* Appends a day record's cells to c. 0 or MDB_CORRUPTED (ENOMEM). */
static int record_decode(const MDB_val *v, struct sht_cells *c)
{
    const uint8_t *p = v->mv_data, *end = p + v->mv_size;
    uint64_t n, code = 0;
    if (v->mv_size < 2 || *p++ != HEAT_VERSION || !varint_get(&p, end, &n) ||
        n > (uint64_t)(end - p) / 2)
        return MDB_CORRUPTED;
    struct sht_cell *cv = array_reserve(c->v, &c->cap, c->n + (size_t)n, sizeof(*cv), 256);
    if (!cv)
        return ENOMEM;
    c->v = cv;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t delta, count;
        if (!varint_get(&p, end, &delta) || !varint_get(&p, end, &count) || count == 0 ||
            count > UINT32_MAX || (i && delta == 0) || delta > UINT64_MAX - code)
            return MDB_CORRUPTED;
        code += delta;
        c->v[c->n++] = (struct sht_cell){code, (uint32_t)count};
    }
    return p == end ? 0 : MDB_CORRUPTED;
}

/* Writes cells c[0..n) (in code order, each once) as one record of device id's day. */
static int record_put(struct store *s, MDB_txn *txn, uint32_t id, uint32_t day,
                      const struct sht_cell *c, size_t n)
{
    uint8_t key[HEAT_KEY];
    size_t size = 1 + varint_len(n);
    for (size_t i = 0; i < n; i++)
        size += varint_len(c[i].code - (i ? c[i - 1].code : 0)) + varint_len(c[i].count);
    heat_key(key, id, day, c[0].code);
    MDB_val k = {HEAT_KEY, key}, v = {size, NULL};
    int rc = mdb_put(txn, s->heat, &k, &v, MDB_RESERVE);
    if (rc)
        return rc;
    uint8_t *p = v.mv_data;
    *p++ = HEAT_VERSION;
    p = varint_put(p, n);
    for (size_t i = 0; i < n; i++) {
        p = varint_put(p, c[i].code - (i ? c[i - 1].code : 0));
        p = varint_put(p, c[i].count);
    }
    return 0;
}

/* Writes cells c[0..n) as records of at most one page (chunk_max bytes, as the points' chunks):
 * a day's cells are rewritten a record at a time, however many the day has. */
static int records_put(struct store *s, MDB_txn *txn, uint32_t id, uint32_t day,
                       const struct sht_cell *c, size_t n)
{
    /* the header's count is at most n: its varint is no longer than n's */
    const size_t header = 1 + varint_len(n);
    for (size_t start = 0, end; start < n; start = end) {
        size_t size = header;
        for (end = start; end < n; end++) {
            size_t add = varint_len(c[end].code - (end > start ? c[end - 1].code : 0)) +
                         varint_len(c[end].count);
            if (end > start && size + add > s->chunk_max)
                break;
            size += add;
        }
        int rc = record_put(s, txn, id, day, c + start, end - start);
        if (rc)
            return rc;
    }
    return 0;
}

/*
 * Positions cur on the record of device id's day whose cells' range holds code (the last one
 * starting at or before it), or else on the day's first record (code comes before them all).
 * Records cover codes from their key's up to the next record's. Returns 0 (*found says whether
 * there is one: none when the day has no record) or an LMDB error.
 */
static int find_record(MDB_cursor *cur, uint32_t id, uint32_t day, uint64_t code, MDB_val *k,
                       MDB_val *v, bool *found)
{
    uint8_t key[HEAT_KEY];
    heat_key(key, id, day, code);
    *k = (MDB_val){HEAT_KEY, key};
    *found = true;
    int rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    bool next_is_ours = rc == 0 && key_of_day(k, id, day);
    if (next_is_ours && key_code(k) == code)
        return 0;
    rc = mdb_cursor_get(cur, k, v, rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    if (rc == 0 && key_of_day(k, id, day))
        return 0;
    *found = next_is_ours;
    if (!next_is_ours)
        return 0;
    *k = (MDB_val){HEAT_KEY, key};
    return mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
}

/* ---------------------------------------------------------------- points */

/* The position of a stored location: false when it has none that decodes (validation at ingest
 * rules that out; counting passes over it, as reading the points does). */
static bool point_position(const struct chunk_pt *pt, double *lat, double *lon)
{
    struct pack_reader r;
    struct pack_value v;
    unsigned found = 0;
    if (pack_open(&r, pt->data, pt->len, pt->tst, "location"))
        return false;
    while (found != 3 && pack_next(&r, NULL, NULL, &v) == 1) {
        if (r.key_index == PACK_KEY_LAT && pack_to_double(&v, lat))
            found |= 1;
        else if (r.key_index == PACK_KEY_LON && pack_to_double(&v, lon))
            found |= 2;
    }
    return found == 3;
}

static bool point_code(const struct chunk_pt *pt, uint64_t *code)
{
    double lat, lon;
    uint32_t x, y;
    if (!point_position(pt, &lat, &lon) || !mercator_cell(lat, lon, STORE_HEAT_ZOOM, &x, &y))
        return false;
    *code = mercator_code(x, y);
    return true;
}

/* Calls fn for each visible point of device id with from <= tst <= to, in time order, inside
 * txn (chunks are copied out of the map, so fn may write to other databases). fn returns 0 to
 * go on. Returns 0, fn's value, or an LMDB error. */
static int walk_points(struct store *s, MDB_txn *txn, uint32_t id, uint32_t from, uint32_t to,
                       struct scratch *sc, int (*fn)(void *arg, const struct chunk_pt *pt),
                       void *arg)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, s->points, &cur);
    if (rc)
        return rc;
    for (rc = store_seek_chunk(cur, id, from, &k, &v); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != POINT_KEY || get_be32(k.mv_data) != id ||
            get_be32((uint8_t *)k.mv_data + 4) > to) {
            rc = MDB_NOTFOUND;
            break;
        }
        long n = store_load_chunk(sc, &k, &v);
        if (n < 0) {
            rc = MDB_CORRUPTED;
            break;
        }
        for (long i = 0; i < n && rc == 0; i++) {
            const struct chunk_pt *pt = &sc->pts[i];
            if (pt->tst > to)
                rc = MDB_NOTFOUND;
            else if (pt->tst >= from && !pt->hidden)
                rc = fn(arg, pt);
        }
        if (rc)
            break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* ---------------------------------------------------------------- state */

static int state_kept(struct store *s, MDB_txn *txn, uint32_t id, bool *kept)
{
    uint8_t key[4];
    put_be32(key, id);
    MDB_val k = {4, key}, v;
    int rc = mdb_get(txn, s->heat_state, &k, &v);
    *kept = rc == 0 && v.mv_size == 2 && ((uint8_t *)v.mv_data)[0] == STATE_VERSION &&
            ((uint8_t *)v.mv_data)[1] == STORE_HEAT_ZOOM;
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int state_put(struct store *s, MDB_txn *txn, uint32_t id)
{
    uint8_t key[4], val[2] = {STATE_VERSION, STORE_HEAT_ZOOM};
    put_be32(key, id);
    MDB_val k = {4, key}, v = {2, val};
    return mdb_put(txn, s->heat_state, &k, &v, 0);
}

int sht_open_dbs(struct store *s, MDB_txn *txn)
{
    int rc = mdb_dbi_open(txn, "heat", s->read_only ? 0 : MDB_CREATE, &s->heat);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "heat_state", s->read_only ? 0 : MDB_CREATE, &s->heat_state);
    if (rc == MDB_NOTFOUND && s->read_only)
        return 0; /* a store from before the counts, opened read-only: points are read */
    s->have_heat = rc == 0;
    return rc;
}

void store_set_heat_deferred(struct store *s, bool deferred)
{
    atomic_store(&s->heat_deferred, deferred);
}

/* ---------------------------------------------------------------- adding */

static int by_note(const void *a, const void *b)
{
    const struct sht_note *p = a, *q = b;
    if (p->id != q->id)
        return p->id < q->id ? -1 : 1;
    if (p->day != q->day)
        return p->day < q->day ? -1 : 1;
    return p->code < q->code ? -1 : p->code > q->code;
}

static int note(struct sht_batch *b, uint32_t id, uint32_t tst, uint64_t code)
{
    struct sht_note *v = array_reserve(b->v, &b->cap, b->n + 1, sizeof(*v), 64);
    if (!v)
        return ENOMEM;
    b->v = v;
    b->v[b->n++] = (struct sht_note){.id = id, .day = tst / DAY_S, .code = code};
    return 0;
}

int sht_note(struct store *s, struct sht_batch *b, uint32_t id, const struct store_record *r)
{
    uint64_t code;
    const struct chunk_pt pt = {.tst = (uint32_t)r->tst, .data = r->data, .len = r->len};
    if (!s->have_heat || !point_code(&pt, &code))
        return 0;
    return note(b, id, pt.tst, code);
}

/*
 * Adds the noted cells to their days' records, each record read and written once. With
 * check_state, only devices whose counts are kept (the others are made whole by a catch-up);
 * without, the caller is making them. Empties b.
 */
static int add_notes(struct store *s, MDB_txn *txn, struct sht_batch *b, bool check_state)
{
    MDB_cursor *cur;
    bool kept = false;
    uint32_t kept_id = 0;
    int rc = mdb_cursor_open(txn, s->heat, &cur);

    if (rc)
        return rc;
    qsort(b->v, b->n, sizeof(*b->v), by_note);
    for (size_t i = 0, j; i < b->n && rc == 0; i = j) {
        uint32_t id = b->v[i].id, day = b->v[i].day;
        for (j = i; j < b->n && b->v[j].id == id && b->v[j].day == day; j++)
            ;
        if (check_state && (kept_id != id || i == 0)) {
            kept_id = id;
            if ((rc = state_kept(s, txn, id, &kept)))
                break;
        }
        if (check_state && !kept)
            continue;
        /* each record the new cells fall in, read once, merged and written again */
        for (size_t n = i, end; n < j && rc == 0; n = end) {
            MDB_val k, v;
            uint8_t old_key[HEAT_KEY];
            uint64_t bound = UINT64_MAX; /* where the next record's cells begin */
            bool found;
            b->old.n = b->merged.n = 0;
            if ((rc = find_record(cur, id, day, b->v[n].code, &k, &v, &found)))
                break;
            if (found) {
                memcpy(old_key, k.mv_data, HEAT_KEY);
                if ((rc = record_decode(&v, &b->old)))
                    break;
                rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
                if (rc == 0 && key_of_day(&k, id, day))
                    bound = key_code(&k);
                else if (rc && rc != MDB_NOTFOUND)
                    break;
                rc = 0;
            }
            for (end = n; end < j && b->v[end].code < bound; end++)
                ;
            size_t o = 0;
            for (size_t m = n; m < end && rc == 0; m++) {
                for (; o < b->old.n && b->old.v[o].code < b->v[m].code && rc == 0; o++)
                    rc = cells_add(&b->merged, b->old.v[o].code, b->old.v[o].count);
                if (rc == 0)
                    rc = cells_add(&b->merged, b->v[m].code, 1);
            }
            for (; o < b->old.n && rc == 0; o++)
                rc = cells_add(&b->merged, b->old.v[o].code, b->old.v[o].count);
            MDB_val ok = {HEAT_KEY, old_key};
            if (rc == 0 && found)
                rc = mdb_del(txn, s->heat, &ok, NULL);
            if (rc == 0)
                rc = records_put(s, txn, id, day, b->merged.v, b->merged.n);
        }
    }
    mdb_cursor_close(cur);
    b->n = 0;
    return rc;
}

int sht_add(struct store *s, MDB_txn *txn, struct sht_batch *b)
{
    if (!s->have_heat || b->n == 0)
        return 0;
    return add_notes(s, txn, b, true);
}

void sht_batch_free(struct sht_batch *b)
{
    free(b->v);
    free(b->old.v);
    free(b->merged.v);
    free(b->sc.copy);
    free(b->sc.pts);
    memset(b, 0, sizeof(*b));
}

int sht_new_device(struct store *s, MDB_txn *txn, uint32_t id)
{
    return s->have_heat ? state_put(s, txn, id) : 0;
}

int sht_drop_state(struct store *s, MDB_txn *txn, uint32_t id)
{
    uint8_t key[4];
    if (!s->have_heat)
        return 0;
    put_be32(key, id);
    MDB_val k = {4, key};
    int rc = mdb_del(txn, s->heat_state, &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* ---------------------------------------------------------------- recounting */

struct recount {
    struct store *s;
    MDB_txn *txn;
    struct sht_batch *b;
    uint32_t id;
    uint32_t day; /* of the notes in b */
};

/* Notes a point; a point of a new day first writes the day before (so notes hold one day). */
static int recount_point(void *arg, const struct chunk_pt *pt)
{
    struct recount *r = arg;
    uint64_t code;
    int rc = 0;
    if (r->b->n && pt->tst / DAY_S != r->day)
        rc = add_notes(r->s, r->txn, r->b, false);
    r->day = pt->tst / DAY_S;
    if (rc == 0 && point_code(pt, &code))
        rc = note(r->b, r->id, pt->tst, code);
    return rc;
}

/* Removes device id's records of days from..to and writes them again from the points. */
static int recount_days(struct store *s, MDB_txn *txn, uint32_t id, uint32_t from, uint32_t to,
                        struct sht_batch *b)
{
    MDB_cursor *cur;
    MDB_val k, v;
    uint8_t key[HEAT_KEY];
    int rc = mdb_cursor_open(txn, s->heat, &cur);
    if (rc)
        return rc;
    heat_key(key, id, from, 0);
    k = (MDB_val){HEAT_KEY, key};
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
         rc == 0 && key_of(&k, id) && key_day(&k) <= to;
         rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT)) {
        if ((rc = mdb_cursor_del(cur, 0)))
            break;
    }
    mdb_cursor_close(cur);
    if (rc && rc != MDB_NOTFOUND && rc != EINVAL)
        return rc;
    struct recount r = {.s = s, .txn = txn, .b = b, .id = id};
    uint64_t last = (uint64_t)to * DAY_S + DAY_S - 1;
    b->n = 0;
    rc = walk_points(s, txn, id, from * DAY_S, last > UINT32_MAX ? UINT32_MAX : (uint32_t)last,
                     &b->sc, recount_point, &r);
    if (rc == 0 && b->n)
        rc = add_notes(s, txn, b, false);
    b->n = 0;
    return rc;
}

int sht_recount(struct store *s, MDB_txn *txn, uint32_t id, uint32_t from, uint32_t to)
{
    struct sht_batch b = {0};
    bool kept;
    int rc;
    if (!s->have_heat || from > to)
        return 0;
    if ((rc = state_kept(s, txn, id, &kept)) || !kept)
        return rc; /* no counts to keep true: a catch-up makes them whole */
    rc = recount_days(s, txn, id, from / DAY_S, to / DAY_S, &b);
    sht_batch_free(&b);
    return rc;
}

/* Makes device id's counts from its points (all of them: the records there were go first). */
static int build_fn(struct store *s, MDB_txn *txn, void *arg)
{
    const uint32_t *id = arg;
    struct sht_batch b = {0};
    uint8_t key[4];
    put_be32(key, *id);
    MDB_val k = {4, key}, v;
    int rc = mdb_get(txn, s->devids, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0; /* deleted meanwhile */
    if (rc == 0)
        rc = recount_days(s, txn, *id, 0, UINT32_MAX / DAY_S, &b);
    if (rc == 0)
        rc = state_put(s, txn, *id);
    sht_batch_free(&b);
    return rc;
}

int store_heat_catch_up(struct store *s, unsigned *devices)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    uint32_t *missing = NULL;
    size_t n = 0, cap = 0;
    int rc;

    if (devices)
        *devices = 0;
    if (s->read_only || !s->have_heat)
        return -EROFS;
    if ((rc = store_txn_begin(s, MDB_RDONLY, &txn)))
        return rc;
    if ((rc = mdb_cursor_open(txn, s->devids, &cur)) == 0) {
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            bool kept;
            uint32_t id = k.mv_size == 4 ? get_be32(k.mv_data) : 0;
            if (!id || (rc = state_kept(s, txn, id, &kept)))
                break;
            if (kept)
                continue;
            uint32_t *p = array_reserve(missing, &cap, n + 1, sizeof(*p), 16);
            if (!p) {
                rc = ENOMEM;
                break;
            }
            missing = p;
            missing[n++] = id;
        }
        mdb_cursor_close(cur);
    }
    store_txn_abort(s, txn);
    if (rc && rc != MDB_NOTFOUND) {
        free(missing);
        return store_lmdb_error("list devices without heat counts", rc);
    }
    rc = 0;
    if (n)
        wl_log(WL_LOG_INFO, "heat", "%s: counting the points of %zu device%s", s->dir, n,
               n == 1 ? "" : "s");
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = store_with_write_txn(s, build_fn, &missing[i], "count heat");
    if (devices && rc == 0)
        *devices = (unsigned)n;
    free(missing);
    return rc;
}

/* ---------------------------------------------------------------- checking */

struct checking {
    struct store *s;
    MDB_cursor *cur; /* on the device's heat records, at rec_day's first */
    uint32_t id;
    bool have_rec, have_day;
    uint32_t rec_day, day; /* of the record at cur; of the points noted in b */
    struct sht_batch *b;
    void (*bad)(void *arg, uint32_t day);
    void *arg;
};

static int next_record(struct checking *c, MDB_val *k, MDB_val *v, MDB_cursor_op op)
{
    int rc = mdb_cursor_get(c->cur, k, v, op);
    c->have_rec = rc == 0 && key_of(k, c->id);
    if (c->have_rec)
        c->rec_day = key_day(k);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Compares the records of day with the points noted in b (none: the day has no points). */
static int check_day(struct checking *c, uint32_t day)
{
    MDB_val k, v;
    int rc = 0;
    struct sht_batch *b = c->b;
    while (rc == 0 && c->have_rec && c->rec_day < day) { /* records of a day without points */
        uint32_t gone = c->rec_day;
        c->bad(c->arg, gone);
        while (rc == 0 && c->have_rec && c->rec_day == gone)
            rc = next_record(c, &k, &v, MDB_NEXT);
    }
    b->old.n = b->merged.n = 0;
    for (; rc == 0 && c->have_rec && c->rec_day == day; rc = next_record(c, &k, &v, MDB_NEXT)) {
        if ((rc = mdb_cursor_get(c->cur, &k, &v, MDB_GET_CURRENT)) ||
            (rc = record_decode(&v, &b->old)))
            break;
    }
    if (rc == MDB_CORRUPTED) {
        c->bad(c->arg, day);
        while (c->have_rec && c->rec_day == day && (rc = next_record(c, &k, &v, MDB_NEXT)) == 0)
            ;
        b->n = 0;
        return rc;
    }
    qsort(b->v, b->n, sizeof(*b->v), by_note);
    for (size_t i = 0; i < b->n && rc == 0; i++)
        rc = cells_add(&b->merged, b->v[i].code, 1);
    b->n = 0;
    if (rc)
        return rc;
    bool same = b->old.n == b->merged.n;
    for (size_t i = 0; same && i < b->old.n; i++)
        same = b->old.v[i].code == b->merged.v[i].code && b->old.v[i].count == b->merged.v[i].count;
    if (!same)
        c->bad(c->arg, day);
    return 0;
}

static int check_point(void *arg, const struct chunk_pt *pt)
{
    struct checking *c = arg;
    uint64_t code;
    int rc = 0;
    if (c->have_day && pt->tst / DAY_S != c->day)
        rc = check_day(c, c->day);
    c->have_day = true;
    c->day = pt->tst / DAY_S;
    if (rc == 0 && point_code(pt, &code))
        rc = note(c->b, c->id, pt->tst, code);
    return rc;
}

int sht_check(struct store *s, MDB_txn *txn, uint32_t id, void (*bad)(void *arg, uint32_t day),
              void *arg)
{
    struct sht_batch b = {0};
    struct checking c = {.s = s, .id = id, .b = &b, .bad = bad, .arg = arg};
    uint8_t key[HEAT_KEY];
    MDB_val k = {HEAT_KEY, key}, v;
    bool kept;
    int rc;

    if (!s->have_heat || (rc = state_kept(s, txn, id, &kept)) || !kept)
        return s->have_heat ? rc : 0;
    if ((rc = mdb_cursor_open(txn, s->heat, &c.cur)))
        return rc;
    heat_key(key, id, 0, 0);
    if ((rc = next_record(&c, &k, &v, MDB_SET_RANGE)) == 0)
        rc = walk_points(s, txn, id, 0, UINT32_MAX, &b.sc, check_point, &c);
    if (rc == 0 && c.have_day)
        rc = check_day(&c, c.day);
    while (rc == 0 && c.have_rec) { /* records after the last day with points */
        uint32_t gone = c.rec_day;
        bad(arg, gone);
        while (rc == 0 && c.have_rec && c.rec_day == gone)
            rc = next_record(&c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c.cur);
    sht_batch_free(&b);
    return rc;
}

/* ---------------------------------------------------------------- reading */

struct heat_reader {
    const struct store_heat_sink *out;
    struct store_heat_cell buf[SINK_CELLS];
    size_t n;
    int sink_rc; /* what the sink returned to stop the read */
};

static int flush(struct heat_reader *r)
{
    int rc = r->n ? r->out->cells(r->out->arg, r->buf, r->n) : 0;
    r->n = 0;
    if (rc)
        r->sink_rc = rc;
    return rc ? STORE_ABORT : 0;
}

static int give_cell(struct heat_reader *r, uint32_t x, uint32_t y, uint32_t count)
{
    if (r->n && r->buf[r->n - 1].x == x && r->buf[r->n - 1].y == y &&
        r->buf[r->n - 1].count <= UINT32_MAX - count) {
        r->buf[r->n - 1].count += count;
        return 0;
    }
    if (r->n == SINK_CELLS && flush(r))
        return STORE_ABORT;
    r->buf[r->n++] = (struct store_heat_cell){x, y, count};
    return 0;
}

static int read_point(void *arg, const struct chunk_pt *pt)
{
    struct heat_reader *r = arg;
    double lat, lon;
    uint32_t x, y;
    if (!point_position(pt, &lat, &lon))
        return 0;
    if (!r->out->cells) {
        int rc = r->out->position(r->out->arg, lat, lon);
        if (rc)
            r->sink_rc = rc;
        return rc ? STORE_ABORT : 0;
    }
    if (!mercator_cell(lat, lon, STORE_HEAT_ZOOM, &x, &y))
        return 0;
    return give_cell(r, x, y, 1);
}

/* Hands out the kept counts of device id for days from..to. */
static int read_days(struct store *s, MDB_txn *txn, uint32_t id, uint32_t from, uint32_t to,
                     struct heat_reader *r, struct sht_cells *c)
{
    MDB_cursor *cur;
    MDB_val k, v;
    uint8_t key[HEAT_KEY];
    int rc = mdb_cursor_open(txn, s->heat, &cur);
    if (rc)
        return rc;
    heat_key(key, id, from, 0);
    k = (MDB_val){HEAT_KEY, key};
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
         rc == 0 && key_of(&k, id) && key_day(&k) <= to;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        c->n = 0;
        if ((rc = record_decode(&v, c)))
            break;
        for (size_t i = 0; i < c->n && rc == 0; i++) {
            uint32_t x, y;
            mercator_uncode(c->v[i].code, &x, &y);
            rc = give_cell(r, x, y, c->v[i].count);
        }
        if (rc)
            break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static uint32_t clamp_u32(int64_t t)
{
    return t < 0 ? 0 : t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
}

static int read_device(struct store *s, MDB_txn *txn, uint32_t id, int64_t from, int64_t to,
                       bool scan_points, struct heat_reader *r, struct scratch *sc,
                       struct sht_cells *c)
{
    uint32_t f = clamp_u32(from), t = clamp_u32(to);
    bool kept = false;
    int rc;
    if (from > to || to < 0)
        return 0;
    if (!scan_points && r->out->cells && s->have_heat && (rc = state_kept(s, txn, id, &kept)))
        return rc;
    /* the whole days of the range: [first, end) */
    uint64_t first = ((uint64_t)f + DAY_S - 1) / DAY_S, end = ((uint64_t)t + 1) / DAY_S;
    if (!kept || first >= end)
        return walk_points(s, txn, id, f, t, sc, read_point, r);
    if (f < first * DAY_S &&
        (rc = walk_points(s, txn, id, f, (uint32_t)(first * DAY_S - 1), sc, read_point, r)))
        return rc;
    if ((rc = read_days(s, txn, id, (uint32_t)first, (uint32_t)(end - 1), r, c)))
        return rc;
    if (end * DAY_S <= t)
        rc = walk_points(s, txn, id, (uint32_t)(end * DAY_S), t, sc, read_point, r);
    return rc;
}

int store_heat_read(struct store *s, const char *user, const char *device, int64_t from, int64_t to,
                    bool scan_points, const struct store_heat_sink *out)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    struct scratch sc = {0};
    struct sht_cells c = {0};
    uint32_t *ids = NULL;
    size_t nids = 0, cap = 0, ul = strlen(user) + 1; /* prefix: the user name and its NUL */
    struct heat_reader *r = calloc(1, sizeof(*r));
    int rc;

    if (!r)
        return -ENOMEM;
    r->out = out;
    if ((rc = store_txn_begin(s, MDB_RDONLY, &txn))) {
        free(r);
        return rc;
    }
    /* the devices, in the same snapshot as their points and counts */
    if ((rc = mdb_cursor_open(txn, s->devices, &cur)))
        goto out;
    k = (MDB_val){ul, (void *)user};
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
         rc == 0 && k.mv_size > ul && memcmp(k.mv_data, user, ul) == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        char name[OWNTRACKS_NAME_MAX + 1];
        struct devrec d;
        size_t dl = k.mv_size - ul;
        if (dl > OWNTRACKS_NAME_MAX) {
            rc = MDB_CORRUPTED;
            break;
        }
        memcpy(name, (const char *)k.mv_data + ul, dl);
        name[dl] = '\0';
        if (device && strcmp(device, name) != 0)
            continue;
        if ((rc = store_get_devrec(s, txn, user, name, &d)))
            break;
        uint32_t *p = array_reserve(ids, &cap, nids + 1, sizeof(*p), 8);
        if (!p) {
            rc = ENOMEM;
            break;
        }
        ids = p;
        ids[nids++] = d.id;
    }
    mdb_cursor_close(cur);
    if (rc && rc != MDB_NOTFOUND)
        goto out;
    rc = nids ? 0 : -ENOENT;
    for (size_t i = 0; i < nids && rc == 0; i++)
        rc = read_device(s, txn, ids[i], from, to, scan_points, r, &sc, &c);
    if (rc == 0 && out->cells)
        rc = flush(r);
out:
    store_txn_abort(s, txn);
    if (rc == STORE_ABORT)
        rc = r->sink_rc;
    else
        rc = store_lmdb_error("read heat", rc);
    free(ids);
    free(c.v);
    free(sc.copy);
    free(sc.pts);
    free(r);
    return rc;
}
