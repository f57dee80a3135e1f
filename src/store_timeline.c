/*
 * store_timeline.c - the timeline kept beside the points (store.h, "timeline"): the detector
 * (timeline.h) run over a device's points inside the store's transactions, its segments,
 * checkpoints and day figures, and reading them back.
 *
 *   tl_segs  u32be id | u32be start -> segment record (below), with the time of the fix that
 *            closed it
 *   tl_ckpt  u32be id | u32be tst -> the detector's state just after the fix at tst: a
 *            checkpoint to replay from
 *   tl_state u32be id -> u8 version | u8 0 | u32le dirty (0: none; else points at or after
 *            it changed) | u64le settings hash | u32le the newest checkpoint's fix time
 *            | u32le fixes fed since | detector state
 *
 * Detector states are stored packed (state_pack). A checkpoint is written every
 * TL_CKPT_POINTS fixes, so a late point replays at most that many before it (and what follows
 * it), for about one byte of checkpoint per fix.
 *   tl_days  u32be id | u32be date -> day record (below)
 *   users    "user" -> u8 version | u8 zone length | zone | f64 radius | u32 min stay
 *            | f64 max acc | u32 gap | u32 longest silence
 *
 * A late point is handled by replaying from the newest checkpoint whose fix is older than it,
 * after removing what was closed after that fix: the detector is deterministic from any state,
 * so that gives exactly the timeline a rebuild would.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "log.h"
#include "pack.h"
#include "store_internal.h"
#include "varint.h"
#include "wl.h"
#include "zone.h"

#define TL_KEY         8 /* u32 id | u32 start (segments) or date (days) */
#define SEG_VERSION    1
#define SEG_FIXED      (4 + 4 * 3 + 8 * 7 + 4 + 8 + 2)
#define SEG_HAS_CKPT   0x01
#define STATE_VERSION  1
#define STATE_FIXED    (2 + 4 + 8 + 4 + 4)
#define TL_CKPT_POINTS 1024
#define DAY_VERSION    1
#define USERS_VERSION  1

/* ---------------------------------------------------------------- encoding */

/*
 * A detector's state as stored: runs of literal bytes and of zeros, each length a varint
 * (literal, zeros, literal, zeros...). Most of a state is zeros (empty buffers, unset
 * figures), so a checkpoint costs a few hundred bytes instead of the struct's size.
 */
#define STATE_PACKED_MAX (2 * sizeof(struct tl_detector) + 16)

static size_t state_pack(const struct tl_detector *d, uint8_t *out)
{
    const uint8_t *in = (const uint8_t *)d;
    size_t n = sizeof(*d), i = 0;
    uint8_t *p = out;
    while (i < n) {
        size_t lit = i;
        /* a literal run ends where at least four zeros begin */
        while (lit < n &&
               !(lit + 4 <= n && !in[lit] && !in[lit + 1] && !in[lit + 2] && !in[lit + 3]))
            lit++;
        p = varint_put(p, lit - i);
        memcpy(p, in + i, lit - i);
        p += lit - i;
        size_t zeros = lit;
        while (zeros < n && !in[zeros])
            zeros++;
        p = varint_put(p, zeros - lit);
        i = zeros;
    }
    return (size_t)(p - out);
}

/* Unpacks a stored state; false if it does not decode to exactly one valid detector of this
 * build (another version is not resumed: the timeline is then rebuilt). */
static bool state_unpack(const uint8_t *in, size_t len, struct tl_detector *d)
{
    uint8_t *out = (uint8_t *)d;
    const uint8_t *p = in, *end = in + len;
    size_t n = 0;
    while (p < end) {
        uint64_t lit, zeros;
        if (!varint_get(&p, end, &lit) || lit > (uint64_t)(end - p) || lit > sizeof(*d) - n)
            return false;
        memcpy(out + n, p, lit);
        p += lit;
        n += lit;
        if (!varint_get(&p, end, &zeros) || zeros > sizeof(*d) - n)
            return false;
        memset(out + n, 0, zeros);
        n += zeros;
    }
    return n == sizeof(*d) && tl_detector_valid(d, sizeof(*d));
}

static void tl_key(uint8_t *key, uint32_t id, uint32_t t)
{
    put_be32(key, id);
    put_be32(key + 4, t);
}

static bool key_of(const MDB_val *k, uint32_t id)
{
    return k->mv_size == TL_KEY && get_be32(k->mv_data) == id;
}

static uint32_t clamp_u32(int64_t t)
{
    return t < 0 ? 0 : t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
}

/* A stored segment, and the time of the fix that closed it. */
struct seg_rec {
    struct tl_segment seg;
    uint32_t closed_at;
};

static size_t seg_encode(const struct tl_segment *g, uint32_t closed_at, uint8_t *p)
{
    p[0] = SEG_VERSION;
    p[1] = g->kind;
    p[2] = g->mode;
    p[3] = 0; /* flags: none yet */
    put_le32(p + 4, clamp_u32(g->end));
    put_le32(p + 8, closed_at);
    put_le32(p + 12, g->points);
    const double d[7] = {g->lat,     g->lon,     g->radius_m,  g->acc_m,
                         g->end_lat, g->end_lon, g->distance_m};
    for (int i = 0; i < 7; i++)
        put_f64(p + 16 + 8 * i, d[i]);
    put_le32(p + 72, clamp_u32(g->moving_s));
    put_f64(p + 76, g->top_speed_ms);
    p[84] = p[85] = 0; /* bytes of extensions that follow: none yet */
    return SEG_FIXED;
}

static int seg_decode(const MDB_val *k, const MDB_val *v, struct seg_rec *r)
{
    const uint8_t *p = v->mv_data;
    if (v->mv_size < SEG_FIXED || p[0] != SEG_VERSION)
        return MDB_CORRUPTED;
    size_t n = p[84] | (size_t)p[85] << 8;
    if (SEG_FIXED + n != v->mv_size)
        return MDB_CORRUPTED;
    struct tl_segment *g = &r->seg;
    *g = (struct tl_segment){.kind = p[1], .mode = p[2]};
    g->start = get_be32((const uint8_t *)k->mv_data + 4);
    g->end = get_le32(p + 4);
    r->closed_at = get_le32(p + 8);
    g->points = get_le32(p + 12);
    double *d[7] = {&g->lat,     &g->lon,     &g->radius_m,  &g->acc_m,
                    &g->end_lat, &g->end_lon, &g->distance_m};
    for (int i = 0; i < 7; i++)
        *d[i] = get_f64(p + 16 + 8 * i);
    g->moving_s = get_le32(p + 72);
    g->top_speed_ms = get_f64(p + 76);
    return 0;
}

/* The state of a device's timeline. */
struct tl_state_rec {
    bool found;          /* a record exists */
    bool resumable;      /* its detector is this build's */
    uint32_t dirty;      /* 0: none */
    uint64_t hash;       /* of the settings it was computed with */
    uint32_t last_ckpt;  /* fix time of the newest checkpoint */
    uint32_t since_ckpt; /* fixes fed since */
    struct tl_detector det;
};

static int state_get(struct store *s, MDB_txn *txn, uint32_t id, struct tl_state_rec *st)
{
    uint8_t key[4];
    put_be32(key, id);
    MDB_val k = {4, key}, v;
    memset(st, 0, sizeof(*st));
    int rc = mdb_get(txn, s->tl_state, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return rc;
    const uint8_t *p = v.mv_data;
    if (v.mv_size < STATE_FIXED || p[0] != STATE_VERSION)
        return 0; /* not ours to read: treated as missing, so rebuilt */
    st->found = true;
    st->dirty = get_le32(p + 2);
    st->hash = get_le64(p + 6);
    st->last_ckpt = get_le32(p + 14);
    st->since_ckpt = get_le32(p + 18);
    st->resumable = state_unpack(p + STATE_FIXED, v.mv_size - STATE_FIXED, &st->det);
    return 0;
}

static int state_put(struct store *s, MDB_txn *txn, uint32_t id, uint32_t dirty, uint64_t hash,
                     uint32_t last_ckpt, uint32_t since_ckpt, const struct tl_detector *det)
{
    uint8_t key[4], val[STATE_FIXED + STATE_PACKED_MAX];
    put_be32(key, id);
    val[0] = STATE_VERSION;
    val[1] = 0;
    put_le32(val + 2, dirty);
    put_le64(val + 6, hash);
    put_le32(val + 14, last_ckpt);
    put_le32(val + 18, since_ckpt);
    MDB_val k = {4, key}, v = {STATE_FIXED + state_pack(det, val + STATE_FIXED), val};
    return mdb_put(txn, s->tl_state, &k, &v, 0);
}

#define DAY_FIXED (2 + 4 * 4 + 8 * 4 + 4 * 2)
#define DAY_STAY  (8 + 4 + 4 + 4)

static size_t day_encode(const struct store_day *d, uint8_t *p)
{
    p[0] = DAY_VERSION;
    p[1] = (uint8_t)d->nstays;
    put_le32(p + 2, d->points);
    put_le32(p + 6, clamp_u32(d->first));
    put_le32(p + 10, clamp_u32(d->last));
    put_le32(p + 14, clamp_u32(d->moving_s));
    put_f64(p + 18, d->distance_m);
    put_le64(p + 26, (uint64_t)d->stay_s);
    put_le64(p + 34, (uint64_t)d->start);
    put_le32(p + 42, d->stays);
    put_le32(p + 46, d->trips);
    put_le64(p + 50, (uint64_t)d->end);
    uint8_t *q = p + DAY_FIXED;
    for (uint32_t i = 0; i < d->nstays; i++, q += DAY_STAY) {
        put_le64(q, (uint64_t)d->stay[i].start);
        put_le32(q + 8, d->stay[i].seconds);
        uint32_t a, b;
        memcpy(&a, &d->stay[i].lat, 4);
        memcpy(&b, &d->stay[i].lon, 4);
        put_le32(q + 12, a);
        put_le32(q + 16, b);
    }
    return (size_t)(q - p);
}

static int day_decode(const MDB_val *k, const MDB_val *v, struct store_day *d)
{
    const uint8_t *p = v->mv_data;
    if (v->mv_size < DAY_FIXED || p[0] != DAY_VERSION || p[1] > STORE_DAY_STAYS ||
        v->mv_size != DAY_FIXED + (size_t)p[1] * DAY_STAY)
        return MDB_CORRUPTED;
    memset(d, 0, sizeof(*d));
    d->date = get_be32((const uint8_t *)k->mv_data + 4);
    d->nstays = p[1];
    d->points = get_le32(p + 2);
    d->first = get_le32(p + 6);
    d->last = get_le32(p + 10);
    d->moving_s = get_le32(p + 14);
    d->distance_m = get_f64(p + 18);
    d->stay_s = (int64_t)get_le64(p + 26);
    d->start = (int64_t)get_le64(p + 34);
    d->stays = get_le32(p + 42);
    d->trips = get_le32(p + 46);
    d->end = (int64_t)get_le64(p + 50);
    const uint8_t *q = p + DAY_FIXED;
    for (uint32_t i = 0; i < d->nstays; i++, q += DAY_STAY) {
        d->stay[i].start = (int64_t)get_le64(q);
        d->stay[i].seconds = get_le32(q + 8);
        uint32_t a = get_le32(q + 12), b = get_le32(q + 16);
        memcpy(&d->stay[i].lat, &a, 4);
        memcpy(&d->stay[i].lon, &b, 4);
    }
    return 0;
}

/* ---------------------------------------------------------------- settings */

static uint64_t fnv1a64(uint64_t h, const void *data, size_t len)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* What the stored timeline depends on besides the points: a change of any of it rebuilds. */
static uint64_t settings_hash(const struct store_user_settings *u)
{
    uint64_t h = 0xcbf29ce484222325ull;
    const double d[2] = {u->tl.stay_radius_m, u->tl.max_acc_m};
    const int64_t i[3] = {u->tl.stay_min_s, u->tl.gap_s, u->tl.stay_silence_max_s};
    h = fnv1a64(h, u->zone, strlen(u->zone));
    h = fnv1a64(h, d, sizeof(d));
    h = fnv1a64(h, i, sizeof(i));
    return fnv1a64(h, &(uint32_t){TL_DETECTOR_VERSION}, 4);
}

static int users_get(struct store *s, MDB_txn *txn, const char *user,
                     struct store_user_settings *out)
{
    *out = s->tl_defaults;
    if (!s->have_timeline)
        return 0;
    MDB_val k = {strlen(user), (void *)user}, v;
    int rc = mdb_get(txn, s->users, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return rc;
    const uint8_t *p = v.mv_data;
    if (v.mv_size < 2 || p[0] != USERS_VERSION || p[1] >= STORE_ZONE_MAX ||
        v.mv_size != 2 + (size_t)p[1] + 8 + 4 + 8 + 4 + 4)
        return MDB_CORRUPTED;
    memcpy(out->zone, p + 2, p[1]);
    out->zone[p[1]] = '\0';
    p += 2 + p[1];
    out->tl.stay_radius_m = get_f64(p);
    out->tl.stay_min_s = get_le32(p + 8);
    out->tl.max_acc_m = get_f64(p + 12);
    out->tl.gap_s = get_le32(p + 20);
    out->tl.stay_silence_max_s = get_le32(p + 24);
    return 0;
}

int stl_max_acc(struct store *s, MDB_txn *txn, const char *user, double *out)
{
    struct store_user_settings u;
    int rc = users_get(s, txn, user, &u);
    *out = u.tl.max_acc_m;
    return rc;
}

static int users_put(struct store *s, MDB_txn *txn, const char *user,
                     const struct store_user_settings *u)
{
    uint8_t val[2 + STORE_ZONE_MAX + 28];
    size_t zl = strlen(u->zone);
    val[0] = USERS_VERSION;
    val[1] = (uint8_t)zl;
    memcpy(val + 2, u->zone, zl);
    uint8_t *p = val + 2 + zl;
    put_f64(p, u->tl.stay_radius_m);
    put_le32(p + 8, (uint32_t)u->tl.stay_min_s);
    put_f64(p + 12, u->tl.max_acc_m);
    put_le32(p + 20, (uint32_t)u->tl.gap_s);
    put_le32(p + 24, (uint32_t)u->tl.stay_silence_max_s);
    MDB_val k = {strlen(user), (void *)user}, v = {2 + zl + 28, val};
    return mdb_put(txn, s->users, &k, &v, 0);
}

/* ---------------------------------------------------------------- opening */

int stl_open_dbs(struct store *s, MDB_txn *txn)
{
    struct {
        const char *name;
        MDB_dbi *dbi;
    } dbs[] = {{"tl_segs", &s->tl_segs},
               {"tl_ckpt", &s->tl_ckpt},
               {"tl_state", &s->tl_state},
               {"tl_days", &s->tl_days},
               {"users", &s->users}};
    for (size_t i = 0; i < WL_ARRAY_LEN(dbs); i++) {
        int rc = mdb_dbi_open(txn, dbs[i].name, s->read_only ? 0 : MDB_CREATE, dbs[i].dbi);
        if (rc == MDB_NOTFOUND && s->read_only)
            return 0; /* a store from before the timeline, opened read-only */
        if (rc)
            return rc;
    }
    s->have_timeline = true;
    return 0;
}

/* ---------------------------------------------------------------- the points, as fixes */

/* Walks a device's visible points in time order inside a transaction, a chunk at a time
 * copied out of the map (the walk's transaction may write to other databases meanwhile). */
struct point_walk {
    MDB_cursor *cur;
    uint32_t id;
    struct scratch sc;
    long n, i;
    bool started, done;
};

static int walk_open(struct store *s, MDB_txn *txn, uint32_t id, struct point_walk *w)
{
    memset(w, 0, sizeof(*w));
    w->id = id;
    return mdb_cursor_open(txn, s->points, &w->cur);
}

static void walk_close(struct point_walk *w)
{
    if (w->cur)
        mdb_cursor_close(w->cur);
    free(w->sc.copy);
    free(w->sc.pts);
}

/* The next visible point at or after `from`: 1 (*pt set), 0 at the end, or an LMDB error. */
static int walk_next(struct point_walk *w, uint32_t from, struct chunk_pt *pt)
{
    MDB_val k, v;
    for (;;) {
        while (w->i < w->n) {
            const struct chunk_pt *p = &w->sc.pts[w->i++];
            if (p->tst >= from && !p->hidden) {
                *pt = *p;
                return 1;
            }
        }
        if (w->done)
            return 0;
        int rc;
        if (!w->started) {
            w->started = true;
            rc = store_seek_chunk(w->cur, w->id, from, &k, &v);
        } else {
            rc = mdb_cursor_get(w->cur, &k, &v, MDB_NEXT);
            if (rc == 0 && !(k.mv_size == POINT_KEY && get_be32(k.mv_data) == w->id))
                rc = MDB_NOTFOUND;
        }
        if (rc == MDB_NOTFOUND) {
            w->done = true;
            return 0;
        }
        if (rc)
            return rc;
        if ((w->n = store_load_chunk(&w->sc, &k, &v)) < 0)
            return MDB_CORRUPTED;
        w->i = 0;
    }
}

/* The fix of a stored location; no usable position (NaN) when it has none that decodes. */
static void point_fix(const struct chunk_pt *pt, struct geo_fix *f)
{
    struct pack_reader r;
    struct pack_value v;
    unsigned found = 0;
    *f = (struct geo_fix){.tst = pt->tst, .lat = NAN, .lon = NAN, .acc = NAN};
    int rc = pack_open(&r, pt->data, pt->len, pt->tst, "location");
    while (found != 7 && rc == 0 && pack_next(&r, NULL, NULL, &v) == 1) {
        double d;
        if (!pack_to_double(&v, &d))
            continue;
        switch (r.key_index) {
        case PACK_KEY_LAT: f->lat = d, found |= 1; break;
        case PACK_KEY_LON: f->lon = d, found |= 2; break;
        case PACK_KEY_ACC: f->acc = d, found |= 4; break;
        default: break;
        }
    }
}

/* ---------------------------------------------------------------- days */

/* The day figures being rebuilt, for consecutive days from `first` (days since the epoch). */
struct day_set {
    struct store_day *d;
    size_t n, cap;
    int64_t first;
    const struct zone *zone;
};

/* The figures of day `days`, creating the days up to it; NULL when out of memory or before
 * the first. */
static struct store_day *day_at(struct day_set *ds, int64_t days)
{
    if (days < ds->first)
        return NULL;
    size_t i = (size_t)(days - ds->first);
    if (i >= ds->n) {
        struct store_day *d = array_reserve(ds->d, &ds->cap, i + 1, sizeof(*d), 8);
        if (!d)
            return NULL;
        ds->d = d;
        for (size_t j = ds->n; j <= i; j++) {
            uint32_t date = zone_days_date(ds->first + (int64_t)j);
            d[j] = (struct store_day){.date = date};
            zone_day_bounds(ds->zone, date, &d[j].start, &d[j].end);
        }
        ds->n = i + 1;
    }
    return &ds->d[i];
}

static int64_t day_number(const struct zone *z, int64_t t)
{
    return zone_date_days(zone_date(z, t));
}

static void count_point(struct store_day *d, uint32_t tst)
{
    d->points++;
    if (!d->first || tst < d->first)
        d->first = tst;
    if (tst > d->last)
        d->last = tst;
}

/* Keeps the day's STORE_DAY_STAYS longest stays, in time order. */
static void note_stay(struct store_day *d, const struct tl_segment *g, uint32_t seconds)
{
    uint32_t i = d->nstays;
    if (i == STORE_DAY_STAYS) {
        uint32_t shortest = 0;
        for (uint32_t j = 1; j < i; j++)
            if (d->stay[j].seconds < d->stay[shortest].seconds)
                shortest = j;
        if (d->stay[shortest].seconds >= seconds)
            return;
        memmove(&d->stay[shortest], &d->stay[shortest + 1],
                (i - shortest - 1) * sizeof(d->stay[0]));
        i--;
    }
    d->stay[i].start = g->start;
    d->stay[i].seconds = seconds;
    d->stay[i].lat = (float)g->lat;
    d->stay[i].lon = (float)g->lon;
    d->nstays = i + 1;
}

/* Adds a segment's share to each day of the set it overlaps. */
static int add_segment(struct day_set *ds, const struct tl_segment *g)
{
    if (g->kind == TL_GAP)
        return 0;
    int64_t from = day_number(ds->zone, g->start), to = day_number(ds->zone, g->end);
    if (from < ds->first)
        from = ds->first;
    double len = (double)(g->end - g->start);
    for (int64_t day = from; day <= to; day++) {
        struct store_day *d = day_at(ds, day);
        if (!d)
            return ENOMEM;
        int64_t a = g->start > d->start ? g->start : d->start;
        int64_t b = g->end < d->end ? g->end : d->end;
        if (b < a || (b == a && g->end > g->start))
            continue;
        /* A segment's figures are shared out by time: a trip over midnight lends each day
         * the part of its distance that its hours there carry. */
        double share = len > 0 ? (double)(b - a) / len : 1.0;
        if (g->kind == TL_STAY) {
            d->stays++;
            d->stay_s += b - a;
            note_stay(d, g, (uint32_t)(b - a));
        } else {
            d->trips++;
            d->distance_m += g->distance_m * share;
            d->moving_s += (int64_t)llround((double)g->moving_s * share);
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- replaying */

/* One run of the detector over a device's points. */
struct tl_run {
    struct store *s;
    MDB_txn *txn;
    uint32_t id;
    const struct tl_settings *set;
    uint32_t report_after; /* what fixes after this open or close goes to ev: */
    bool reporting;        /* a replay of older fixes repeats what was said */
    struct stl_events *ev;
    const char *user, *device;
    const char *zone; /* the user's zone's name, for the hook */
    struct tl_detector det;
    uint32_t last_ckpt;  /* fix time of the newest checkpoint written or kept */
    uint32_t since_ckpt; /* fixes fed since */
    uint32_t feeding;    /* the fix being fed: what closes now closed at it */
    int rc;
};

static void push_event(struct tl_run *r, enum tl_event ev, const struct tl_segment *g)
{
    struct stl_events *e = r->ev;
    if (!e || !r->reporting)
        return;
    struct stl_event *v = array_reserve(e->v, &e->cap, e->n + 1, sizeof(*v), 8);
    if (!v)
        return; /* live updates are best effort; the timeline itself is stored */
    e->v = v;
    struct stl_event *x = &v[e->n++];
    snprintf(x->user, sizeof(x->user), "%s", r->user);
    snprintf(x->device, sizeof(x->device), "%s", r->device);
    snprintf(x->zone, sizeof(x->zone), "%s", r->zone ? r->zone : "");
    x->ev = ev;
    x->seg = *g;
}

static void on_segment(void *arg, enum tl_event ev, const struct tl_segment *g)
{
    struct tl_run *r = arg;
    push_event(r, ev, g);
    if (ev != TL_CLOSED || r->rc || g->end <= g->start)
        return; /* an empty segment covers no time: the tiling does not need it */
    uint8_t key[TL_KEY], val[SEG_FIXED];
    tl_key(key, r->id, clamp_u32(g->start));
    MDB_val k = {TL_KEY, key}, v = {seg_encode(g, r->feeding, val), val};
    r->rc = mdb_put(r->txn, r->s->tl_segs, &k, &v, 0);
}

static int put_checkpoint(struct tl_run *r, uint32_t tst)
{
    uint8_t key[TL_KEY], val[STATE_PACKED_MAX];
    tl_key(key, r->id, tst);
    MDB_val k = {TL_KEY, key}, v = {state_pack(&r->det, val), val};
    return mdb_put(r->txn, r->s->tl_ckpt, &k, &v, 0);
}

static int feed(struct tl_run *r, const struct geo_fix *f)
{
    r->reporting = f->tst > (int64_t)r->report_after;
    r->feeding = clamp_u32(f->tst);
    if (!tl_feed(&r->det, r->set, f, on_segment, r) || r->rc)
        return r->rc;
    if (++r->since_ckpt >= TL_CKPT_POINTS) {
        r->rc = put_checkpoint(r, r->feeding);
        r->last_ckpt = r->feeding;
        r->since_ckpt = 0;
    }
    return r->rc;
}

/*
 * Where to replay from for a change at `dirty`: the newest checkpoint of a fix older than
 * dirty. Fills *ckpt (a fresh detector, and *tst 0, when there is none: replay from the
 * beginning). Returns 0 or an LMDB error.
 */
static int find_checkpoint(struct store *s, MDB_txn *txn, uint32_t id, uint32_t dirty,
                           struct tl_detector *ckpt, uint32_t *tst)
{
    MDB_cursor *cur;
    MDB_val k, v;
    uint8_t key[TL_KEY];
    int rc = mdb_cursor_open(txn, s->tl_ckpt, &cur);

    tl_init(ckpt);
    *tst = 0;
    if (rc)
        return rc;
    tl_key(key, id, dirty);
    k = (MDB_val){TL_KEY, key};
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    rc = mdb_cursor_get(cur, &k, &v, rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
    /* one of another build's detector is passed over for an older one */
    for (; rc == 0 && key_of(&k, id); rc = mdb_cursor_get(cur, &k, &v, MDB_PREV)) {
        if (state_unpack(v.mv_data, v.mv_size, ckpt)) {
            *tst = get_be32((uint8_t *)k.mv_data + 4);
            break;
        }
        tl_init(ckpt);
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* The start of the first of device id's segments closed after the fix at tst (UINT32_MAX when
 * none was): what a replay from a checkpoint at tst closes again. */
static int first_closed_after(struct store *s, MDB_txn *txn, uint32_t id, uint32_t tst,
                              uint32_t *start)
{
    MDB_cursor *cur;
    MDB_val k, v;
    uint8_t key[TL_KEY];
    struct seg_rec rec;
    int rc = mdb_cursor_open(txn, s->tl_segs, &cur);

    *start = UINT32_MAX;
    if (rc)
        return rc;
    /* from the device's last segment back: segments close in time order */
    tl_key(key, id, UINT32_MAX);
    k = (MDB_val){TL_KEY, key};
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    rc = mdb_cursor_get(cur, &k, &v, rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
    for (; rc == 0 && key_of(&k, id); rc = mdb_cursor_get(cur, &k, &v, MDB_PREV)) {
        if ((rc = seg_decode(&k, &v, &rec)) || rec.closed_at <= tst)
            break;
        *start = clamp_u32(rec.seg.start);
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Deletes a device's entries of dbi with keys after (id, t) (all of them for t = 0 and
 * inclusive = true). */
static int delete_from(MDB_txn *txn, MDB_dbi dbi, uint32_t id, uint32_t t, bool inclusive)
{
    MDB_cursor *cur;
    MDB_val k, v;
    uint8_t key[TL_KEY];
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc)
        return rc;
    tl_key(key, id, t);
    k = (MDB_val){TL_KEY, key};
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    if (rc == 0 && !inclusive && key_of(&k, id) && get_be32((uint8_t *)k.mv_data + 4) == t)
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    while (rc == 0 && key_of(&k, id)) {
        if ((rc = mdb_cursor_del(cur, 0)))
            break;
        rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT);
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND || rc == EINVAL ? 0 : rc;
}

/* Positions cur on the segment of device id that holds t (the last one starting at or before
 * it), or else on the device's first segment. Returns 0, MDB_NOTFOUND (the device has none)
 * or an LMDB error. */
static int seek_segment(MDB_cursor *cur, uint32_t id, uint32_t t, MDB_val *k, MDB_val *v)
{
    uint8_t key[TL_KEY];
    tl_key(key, id, t);
    *k = (MDB_val){TL_KEY, key};
    int rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
    if (rc == 0 && key_of(k, id) && get_be32((uint8_t *)k->mv_data + 4) == t)
        return 0;
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    int prev = mdb_cursor_get(cur, k, v, rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
    if (prev == 0 && key_of(k, id))
        return 0;
    if (prev && prev != MDB_NOTFOUND)
        return prev;
    /* nothing of ours before t: the first after it, if any */
    tl_key(key, id, 0);
    *k = (MDB_val){TL_KEY, key};
    rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
    return rc == 0 && !key_of(k, id) ? MDB_NOTFOUND : rc;
}

/* Reads stored day records of dates [from, to) into the set (their point counts: the points
 * of those days did not change). */
static int seed_days(struct store *s, MDB_txn *txn, uint32_t id, struct day_set *ds, int64_t from,
                     int64_t to)
{
    MDB_cursor *cur;
    MDB_val k, v;
    uint8_t key[TL_KEY];
    struct store_day stored;
    int rc = mdb_cursor_open(txn, s->tl_days, &cur);
    if (rc)
        return rc;
    tl_key(key, id, zone_days_date(from));
    k = (MDB_val){TL_KEY, key};
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && key_of(&k, id);
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if ((rc = day_decode(&k, &v, &stored)))
            break;
        int64_t day = zone_date_days(stored.date);
        if (day >= to)
            break;
        struct store_day *d = day_at(ds, day);
        if (!d) {
            rc = ENOMEM;
            break;
        }
        d->points = stored.points;
        d->first = stored.first;
        d->last = stored.last;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

struct pending_days {
    struct day_set *ds;
    int rc;
};

static void add_pending(void *arg, enum tl_event ev, const struct tl_segment *g)
{
    struct pending_days *pd = arg;
    (void)ev;
    if (pd->rc == 0)
        pd->rc = add_segment(pd->ds, g);
}

/* Adds the segments overlapping the set's days (stored ones, then the open ones). */
static int segments_into_days(struct tl_run *r, struct day_set *ds)
{
    MDB_cursor *cur;
    MDB_val k, v;
    struct seg_rec rec;
    int rc = mdb_cursor_open(r->txn, r->s->tl_segs, &cur);
    if (rc)
        return rc;
    int64_t start, end;
    zone_day_bounds(ds->zone, zone_days_date(ds->first), &start, &end);
    rc = seek_segment(cur, r->id, clamp_u32(start), &k, &v);
    for (; rc == 0 && key_of(&k, r->id); rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if ((rc = seg_decode(&k, &v, &rec)) || (rc = add_segment(ds, &rec.seg)))
            break;
    }
    mdb_cursor_close(cur);
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    struct pending_days pd = {ds, 0};
    tl_pending(&r->det, r->set, add_pending, &pd);
    return pd.rc;
}

/* The first open segment's start after d's last fix (INT64_MAX when none). */
static void first_start(void *arg, enum tl_event ev, const struct tl_segment *g)
{
    int64_t *start = arg;
    (void)ev;
    if (g->start < *start)
        *start = g->start;
}

/* Opens the user's zone; a zone the system no longer has (tzdata changed) falls back to UTC,
 * said once per update so that the timeline still has days. */
static int open_zone(const struct store_user_settings *u, struct zone **z)
{
    int rc = zone_open(u->zone, z);
    if (rc == -EINVAL) {
        wl_log(WL_LOG_WARN, "timeline", "unknown time zone \"%s\": using UTC", u->zone);
        rc = zone_open("UTC", z);
    }
    return rc == -ENOMEM ? ENOMEM : rc;
}

int stl_update(struct store *s, MDB_txn *txn, uint32_t id, const char *user, const char *device,
               uint32_t changed, bool full, struct stl_events *ev)
{
    struct store_user_settings us;
    struct tl_state_rec st;
    struct zone *zone = NULL;
    struct day_set ds = {0};
    struct point_walk w = {0};
    struct chunk_pt pt = {0};
    int rc;

    if (!s->have_timeline)
        return 0;
    if ((rc = users_get(s, txn, user, &us)) || (rc = state_get(s, txn, id, &st)))
        return rc;
    uint64_t hash = settings_hash(&us);
    if (!st.found || !st.resumable || st.hash != hash)
        full = true;
    uint32_t dirty = changed;
    if (st.dirty && st.dirty < dirty)
        dirty = st.dirty;
    if (!full && dirty == UINT32_MAX)
        return 0;
    if ((rc = open_zone(&us, &zone)))
        return rc;

    struct tl_run r = {.s = s,
                       .txn = txn,
                       .id = id,
                       .set = &us.tl,
                       .ev = full ? NULL : ev,
                       .report_after = clamp_u32(st.det.last_tst),
                       .user = user,
                       .device = device,
                       .zone = zone_name(zone)};
    uint32_t resume_after, count_from, days_from_t = 0;
    bool seed_dirty_day = false;
    ds.zone = zone;
    if (full) {
        tl_init(&r.det);
        resume_after = 0;
        count_from = 0;
        if ((rc = delete_from(txn, s->tl_segs, id, 0, true)) ||
            (rc = delete_from(txn, s->tl_ckpt, id, 0, true)) ||
            (rc = delete_from(txn, s->tl_days, id, 0, true)))
            goto out;
    } else if (dirty > st.det.last_tst) {
        /* Newer points only, the usual case: go on from where the last update stopped. The
         * segments still open then may have begun days ago: their days change too. */
        int64_t open_start = INT64_MAX;
        r.det = st.det;
        r.last_ckpt = st.last_ckpt;
        r.since_ckpt = st.since_ckpt;
        resume_after = clamp_u32(st.det.last_tst);
        count_from = resume_after + 1;
        tl_pending(&st.det, &us.tl, first_start, &open_start);
        days_from_t = open_start < dirty ? clamp_u32(open_start) : dirty;
        seed_dirty_day = true;
    } else {
        /* Older points changed: replay from the newest checkpoint before them, once what was
         * closed after it, and the later checkpoints, are gone. */
        uint32_t ck_tst, reclosed;
        if ((rc = find_checkpoint(s, txn, id, dirty, &r.det, &ck_tst)))
            goto out;
        bool found = ck_tst != 0;
        r.last_ckpt = ck_tst;
        resume_after = ck_tst;
        if (found) {
            /* the days that change begin where the checkpoint's open segments do */
            int64_t open_start = INT64_MAX, day_start, day_end;
            tl_pending(&r.det, &us.tl, first_start, &open_start);
            zone_day_bounds(zone, zone_date(zone, dirty), &day_start, &day_end);
            count_from = clamp_u32(day_start);
            days_from_t = open_start < dirty ? clamp_u32(open_start) : dirty;
            if ((rc = first_closed_after(s, txn, id, ck_tst, &reclosed)) ||
                (reclosed != UINT32_MAX &&
                 (rc = delete_from(txn, s->tl_segs, id, reclosed, true))) ||
                (rc = delete_from(txn, s->tl_ckpt, id, ck_tst, false)))
                goto out;
        } else {
            count_from = 0;
            if ((rc = delete_from(txn, s->tl_segs, id, 0, true)) ||
                (rc = delete_from(txn, s->tl_ckpt, id, 0, true)) ||
                (rc = delete_from(txn, s->tl_days, id, 0, true)))
                goto out;
        }
    }
    bool have_first = count_from != 0 || days_from_t != 0;
    if (have_first) {
        ds.first = day_number(zone, days_from_t);
        /* The days before the first whose points changed keep their stored counts. */
        int64_t seed_to = day_number(zone, dirty < count_from ? dirty : count_from);
        if (seed_dirty_day)
            seed_to = day_number(zone, dirty) + 1;
        if ((rc = seed_days(s, txn, id, &ds, ds.first, seed_to)) ||
            (rc = delete_from(txn, s->tl_days, id, zone_days_date(ds.first), true)))
            goto out;
    }

    /* One pass over the points: count those of the days being redone, feed the detector
     * those it has not seen. */
    if ((rc = walk_open(s, txn, id, &w)))
        goto out;
    uint32_t walk_from = count_from < resume_after + 1 ? count_from : resume_after + 1;
    int64_t day_start = 0, day_end = 0;
    struct store_day *day = NULL;
    while ((rc = walk_next(&w, walk_from, &pt)) == 1) {
        if (pt.tst >= count_from && (!day || pt.tst < day_start || pt.tst >= day_end)) {
            int64_t n = day_number(zone, pt.tst);
            if (!have_first) {
                ds.first = n;
                have_first = true;
            }
            /* count_from lies in the first day, so n < ds.first does not happen */
            if (n >= ds.first && !(day = day_at(&ds, n))) {
                rc = ENOMEM;
                break;
            }
            if (day) {
                day_start = day->start;
                day_end = day->end;
            }
        }
        if (pt.tst >= count_from && day)
            count_point(day, pt.tst);
        if (pt.tst > resume_after) {
            struct geo_fix f;
            point_fix(&pt, &f);
            if ((rc = feed(&r, &f)))
                break;
        }
    }
    if (rc)
        goto out;
    if ((rc = state_put(s, txn, id, 0, hash, r.last_ckpt, r.since_ckpt, &r.det)))
        goto out;
    if (have_first && (rc = segments_into_days(&r, &ds)) == 0) {
        for (size_t i = 0; i < ds.n && rc == 0; i++) {
            const struct store_day *d = &ds.d[i];
            if (!d->points && !d->stays && !d->trips)
                continue;
            uint8_t key[TL_KEY], val[DAY_FIXED + STORE_DAY_STAYS * DAY_STAY];
            tl_key(key, id, d->date);
            MDB_val k = {TL_KEY, key}, v = {day_encode(d, val), val};
            rc = mdb_put(txn, s->tl_days, &k, &v, 0);
        }
    }
out:
    walk_close(&w);
    free(ds.d);
    zone_unref(zone);
    return rc;
}

int stl_mark(struct store *s, MDB_txn *txn, uint32_t id, uint32_t t)
{
    struct tl_state_rec st;
    if (!s->have_timeline)
        return 0;
    int rc = state_get(s, txn, id, &st);
    if (rc || !st.found || !st.resumable)
        return rc; /* no usable state: the next update rebuilds anyway */
    if (t == 0)
        t = 1; /* 0 means clean */
    if (st.dirty && st.dirty <= t)
        return 0;
    return state_put(s, txn, id, t, st.hash, st.last_ckpt, st.since_ckpt, &st.det);
}

void stl_deliver(struct store *s, struct stl_events *ev)
{
    for (size_t i = 0; i < ev->n && s->tl_hook; i++)
        s->tl_hook(s->tl_hook_arg, ev->v[i].user, ev->v[i].device, ev->v[i].zone, ev->v[i].ev,
                   &ev->v[i].seg);
    ev->n = 0;
}

void store_set_timeline_deferred(struct store *s, bool deferred)
{
    atomic_store(&s->tl_deferred, deferred);
}

int store_timeline_catch_up(struct store *s)
{
    return stl_catch_up(s);
}

void store_set_timeline_hook(struct store *s, store_timeline_hook fn, void *arg)
{
    s->tl_hook = fn;
    s->tl_hook_arg = arg;
}

/* ---------------------------------------------------------------- one device, in its own
 * transaction */

struct device_update {
    uint32_t id;
    bool full;
    char user[OWNTRACKS_NAME_MAX + 1], device[OWNTRACKS_NAME_MAX + 1];
};

/* The names of device id: 0, MDB_NOTFOUND, or an LMDB error. */
static int device_names(struct store *s, MDB_txn *txn, uint32_t id, char *user, char *device)
{
    uint8_t key[4];
    put_be32(key, id);
    MDB_val k = {4, key}, v;
    int rc = mdb_get(txn, s->devids, &k, &v);
    if (rc)
        return rc;
    const char *p = v.mv_data;
    size_t ul = strnlen(p, v.mv_size);
    if (ul == v.mv_size || ul > OWNTRACKS_NAME_MAX || v.mv_size - ul - 1 > OWNTRACKS_NAME_MAX)
        return MDB_CORRUPTED;
    memcpy(user, p, ul);
    user[ul] = '\0';
    memcpy(device, p + ul + 1, v.mv_size - ul - 1);
    device[v.mv_size - ul - 1] = '\0';
    return 0;
}

static int device_update_fn(struct store *s, MDB_txn *txn, void *arg)
{
    struct device_update *u = arg;
    int rc = device_names(s, txn, u->id, u->user, u->device);
    if (rc == MDB_NOTFOUND)
        return 0; /* deleted meanwhile */
    return rc ? rc : stl_update(s, txn, u->id, u->user, u->device, UINT32_MAX, u->full, NULL);
}

static int update_device(struct store *s, uint32_t id, bool full)
{
    struct device_update u = {.id = id, .full = full};
    return store_with_write_txn(s, device_update_fn, &u, "update timeline");
}

struct refresh_job {
    const char *user, *device;
};

static int refresh_fn(struct store *s, MDB_txn *txn, void *arg)
{
    struct refresh_job *j = arg;
    struct devrec r;
    int rc = store_get_devrec(s, txn, j->user, j->device, &r);
    if (rc == MDB_NOTFOUND)
        return 0;
    return rc ? rc : stl_update(s, txn, r.id, j->user, j->device, UINT32_MAX, false, NULL);
}

int stl_refresh(struct store *s, const char *user, const char *device)
{
    struct refresh_job j = {user, device};
    return store_with_write_txn(s, refresh_fn, &j, "update timeline");
}

/* Is device id's stored timeline up to date for its user's settings? */
static int is_fresh(struct store *s, MDB_txn *txn, uint32_t id, bool *fresh)
{
    char user[OWNTRACKS_NAME_MAX + 1], device[OWNTRACKS_NAME_MAX + 1];
    struct store_user_settings us;
    struct tl_state_rec st;
    int rc = device_names(s, txn, id, user, device);
    *fresh = false;
    if (rc == MDB_NOTFOUND) {
        *fresh = true; /* no device: nothing to read */
        return 0;
    }
    if (rc || (rc = users_get(s, txn, user, &us)) || (rc = state_get(s, txn, id, &st)))
        return rc;
    *fresh = st.found && st.resumable && !st.dirty && st.hash == settings_hash(&us);
    return 0;
}

int stl_catch_up(struct store *s)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    uint32_t *stale = NULL;
    size_t n = 0, cap = 0;
    int rc;

    if (!s->have_timeline || s->read_only)
        return 0;
    if ((rc = store_txn_begin(s, MDB_RDONLY, &txn)))
        return rc;
    if ((rc = mdb_cursor_open(txn, s->devids, &cur)) == 0) {
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            bool fresh;
            uint32_t id = k.mv_size == 4 ? get_be32(k.mv_data) : 0;
            if (!id || (rc = is_fresh(s, txn, id, &fresh)))
                break;
            if (fresh)
                continue;
            uint32_t *p = array_reserve(stale, &cap, n + 1, sizeof(*p), 16);
            if (!p) {
                rc = ENOMEM;
                break;
            }
            stale = p;
            stale[n++] = id;
        }
        mdb_cursor_close(cur);
    }
    store_txn_abort(s, txn);
    if (rc && rc != MDB_NOTFOUND) {
        free(stale);
        return store_lmdb_error("list stale timelines", rc);
    }
    rc = 0;
    if (n)
        wl_log(WL_LOG_INFO, "timeline", "%s: bringing %zu timeline%s up to date", s->dir, n,
               n == 1 ? "" : "s");
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = update_device(s, stale[i], false);
    free(stale);
    return rc;
}

/* ---------------------------------------------------------------- reading */

/* Opens a read transaction in which device id's timeline is up to date, bringing it up to
 * date first if it is not (a crash, a deletion under way in another process, new settings).
 * A read-only store cannot: -EAGAIN. */
static int fresh_read_txn(struct store *s, uint32_t id, MDB_txn **txn)
{
    for (int attempt = 0;; attempt++) {
        bool fresh = true;
        int rc = store_txn_begin(s, MDB_RDONLY, txn);
        if (rc)
            return rc;
        if (!s->have_timeline || (rc = is_fresh(s, *txn, id, &fresh)) || !fresh) {
            store_txn_abort(s, *txn);
            if (rc)
                return store_lmdb_error("read timeline", rc);
            if (s->read_only || attempt == 4)
                return -EAGAIN;
            if ((rc = update_device(s, id, false)))
                return rc;
            continue;
        }
        return 0;
    }
}

struct reader {
    int64_t from, to, after;
    store_timeline_fn cb;
    void *arg;
    int rc;
};

static void read_pending(void *arg, enum tl_event ev, const struct tl_segment *g)
{
    struct reader *r = arg;
    if (r->rc == 0 && g->end >= r->from && g->start <= r->to && g->start > r->after)
        r->rc = r->cb(r->arg, ev, g);
}

int store_timeline_read(struct store *s, uint32_t id, int64_t from, int64_t to, int64_t after,
                        int64_t now, store_timeline_fn cb, void *arg)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    struct seg_rec rec;
    struct tl_state_rec st;
    struct store_user_settings us;
    char user[OWNTRACKS_NAME_MAX + 1], device[OWNTRACKS_NAME_MAX + 1];
    struct reader rd = {.from = from, .to = to, .after = after, .cb = cb, .arg = arg};
    int rc = fresh_read_txn(s, id, &txn);

    if (rc)
        return rc;
    if ((rc = mdb_cursor_open(txn, s->tl_segs, &cur)))
        goto out;
    /* The segment that holds `from` began before it: start there. */
    rc = seek_segment(cur, id, clamp_u32(from), &k, &v);
    for (; rc == 0 && key_of(&k, id) && rd.rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if ((rc = seg_decode(&k, &v, &rec)))
            break;
        if (rec.seg.start > to)
            break;
        read_pending(&rd, TL_CLOSED, &rec.seg);
    }
    mdb_cursor_close(cur);
    if (rc && rc != MDB_NOTFOUND)
        goto out;
    rc = 0;
    if (rd.rc == 0 && (rc = device_names(s, txn, id, user, device)) == 0 &&
        (rc = users_get(s, txn, user, &us)) == 0 && (rc = state_get(s, txn, id, &st)) == 0)
        tl_pending_at(&st.det, &us.tl, now, read_pending, &rd);
    if (rc == MDB_NOTFOUND)
        rc = 0;
out:
    store_txn_abort(s, txn);
    return rc ? store_lmdb_error("read timeline", rc) : rd.rc;
}

int store_days_read(struct store *s, uint32_t id, uint32_t from_date, uint32_t to_date,
                    int (*cb)(void *arg, const struct store_day *day), void *arg)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    uint8_t key[TL_KEY];
    struct store_day d;
    int rc = fresh_read_txn(s, id, &txn), cb_rc = 0;

    if (rc)
        return rc;
    if ((rc = mdb_cursor_open(txn, s->tl_days, &cur)) == 0) {
        tl_key(key, id, from_date);
        k = (MDB_val){TL_KEY, key};
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && key_of(&k, id);
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            if ((rc = day_decode(&k, &v, &d)) || d.date > to_date)
                break;
            if ((cb_rc = cb(arg, &d)))
                break;
        }
        mdb_cursor_close(cur);
    }
    store_txn_abort(s, txn);
    if (rc && rc != MDB_NOTFOUND)
        return store_lmdb_error("read days", rc);
    return cb_rc;
}

/* ---------------------------------------------------------------- settings and rebuilds */

int store_user_settings(struct store *s, const char *user, struct store_user_settings *out)
{
    MDB_txn *txn;
    int rc = store_txn_begin(s, MDB_RDONLY, &txn);
    if (rc)
        return rc;
    rc = users_get(s, txn, user, out);
    store_txn_abort(s, txn);
    return store_lmdb_error("read user settings", rc);
}

struct settings_job {
    const char *user;
    const struct store_user_settings *set;
};

static int settings_fn(struct store *s, MDB_txn *txn, void *arg)
{
    struct settings_job *j = arg;
    return users_put(s, txn, j->user, j->set);
}

/* The ids of a user's devices (all devices for NULL; one for device). */
static int device_ids(struct store *s, const char *user, const char *device, uint32_t **ids,
                      size_t *n)
{
    struct store_device *devs;
    int rc = store_devices(s, user, device, &devs, n);
    *ids = NULL;
    if (rc)
        return rc;
    if (*n && !(*ids = malloc(*n * sizeof(**ids)))) {
        free(devs);
        return -ENOMEM;
    }
    for (size_t i = 0; i < *n; i++)
        (*ids)[i] = devs[i].id;
    free(devs);
    return 0;
}

int store_set_user_settings(struct store *s, const char *user,
                            const struct store_user_settings *set)
{
    const char *why;
    struct zone *z;
    struct settings_job j = {user, set};
    uint32_t *ids;
    size_t n;
    int rc;

    if (strnlen(set->zone, STORE_ZONE_MAX) == STORE_ZONE_MAX || tl_settings_check(&set->tl, &why))
        return -EINVAL;
    if ((rc = zone_open(set->zone, &z)))
        return rc;
    zone_unref(z);
    if (!s->have_timeline)
        return -EROFS;
    if ((rc = store_with_write_txn(s, settings_fn, &j, "set user settings")) ||
        (rc = device_ids(s, user, NULL, &ids, &n)))
        return rc;
    /* Each device is rebuilt in a transaction of its own, so that ingest goes on between
     * them; one left stale by a crash meanwhile is rebuilt when next read or opened. */
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = update_device(s, ids[i], true);
    free(ids);
    return rc;
}

int store_timeline_rebuild(struct store *s, const char *user, const char *device, uint64_t *points)
{
    uint32_t *ids;
    size_t n;
    uint64_t total = 0;
    int rc;

    if (!s->have_timeline)
        return -EROFS;
    if ((rc = device_ids(s, user, device, &ids, &n)))
        return rc;
    if (n == 0 && device) {
        free(ids);
        return -ENOENT;
    }
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = update_device(s, ids[i], true);
    free(ids);
    if (points) {
        struct store_device *devs;
        size_t nd;
        if (rc == 0 && (rc = store_devices(s, user, device, &devs, &nd)) == 0) {
            for (size_t i = 0; i < nd; i++)
                total += devs[i].points;
            free(devs);
        }
        *points = total;
    }
    return rc;
}
