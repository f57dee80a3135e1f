/*
 * store_events.c - events derived at ingest, kept beside the points: their history (evlog),
 * what derivation remembers per device (evstate), webhooks and their durable outbox. The
 * layout and the rules are in store.h ("events").
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "array.h"
#include "geo.h"
#include "log.h"
#include "pack.h"
#include "sink.h"
#include "store_internal.h"
#include "wl.h"

#define EV_KEY     12 /* u32 device id | u32 tst | u32 seq */
#define OUTBOX_KEY 12 /* u32 webhook id | u32 device id | u32 seq */
#define OUTBOX_VAL 8  /* u32le event tst | u32le enqueued at */
#define STATE_OLD  5  /* u8 flags | u32le last fix: a value from before places */
#define STATE_HEAD 9  /* and u32le place id, then its name (the rest) */
#define STATE_MAX  (STATE_HEAD + STORE_PLACE_NAME_MAX)
/* Users whose places derivation keeps: a household's or a small club's devices; beyond it,
 * a user's places are read again when their slot was taken (what every fix did before). */
#define PLACES_CACHED 16
/* Records trimmed per transaction: ingest waits at most this long behind a trim. */
#define TRIM_BATCH 512

static const char *const kind_names[STORE_EV_KIND_END] = {
    [STORE_EV_STAY_STARTED] = "stay_started",
    [STORE_EV_STAY_ENDED] = "stay_ended",
    [STORE_EV_TRIP_STARTED] = "trip_started",
    [STORE_EV_TRIP_ENDED] = "trip_ended",
    [STORE_EV_BATTERY_LOW] = "battery_low",
    [STORE_EV_TRANSITION] = "transition",
    [STORE_EV_SILENT] = "silent",
    [STORE_EV_PLACE_ENTERED] = "place_entered",
    [STORE_EV_PLACE_LEFT] = "place_left",
};

const char *store_event_kind_name(enum store_event_kind kind)
{
    return kind > 0 && kind < STORE_EV_KIND_END ? kind_names[kind] : NULL;
}

enum store_event_kind store_event_kind_from_name(const char *name, size_t len)
{
    for (int k = 1; k < STORE_EV_KIND_END; k++)
        if (strlen(kind_names[k]) == len && memcmp(kind_names[k], name, len) == 0)
            return (enum store_event_kind)k;
    return 0;
}

int store_event_kinds_parse(const char *list, unsigned *set)
{
    unsigned bits = 0;
    const char *p = list;
    while (p && *p) {
        size_t len = strcspn(p, ",");
        enum store_event_kind k = store_event_kind_from_name(p, len);
        if (!k)
            return -EINVAL;
        bits |= STORE_EVENT_KIND_BIT(k);
        p += len;
        if (*p == ',')
            p++;
    }
    *set = bits;
    return 0;
}

int sev_open_dbs(struct store *s, MDB_txn *txn)
{
    struct {
        const char *name;
        MDB_dbi *dbi;
    } dbs[] = {{"evlog", &s->evlog},
               {"evstate", &s->evstate},
               {"webhooks", &s->webhooks},
               {"outbox", &s->outbox}};
    for (size_t i = 0; i < WL_ARRAY_LEN(dbs); i++) {
        int rc = mdb_dbi_open(txn, dbs[i].name, s->read_only ? 0 : MDB_CREATE, dbs[i].dbi);
        if (rc == MDB_NOTFOUND && s->read_only)
            return 0; /* a store from before events, opened read-only */
        if (rc)
            return rc;
    }
    s->have_events = true;
    return 0;
}

void store_set_event_hook(struct store *s, store_event_hook fn, void *arg)
{
    s->ev_hook = fn;
    s->ev_hook_arg = arg;
}

/* ---------------------------------------------------------------- records */

static int next_seq(struct store *s, MDB_txn *txn, uint32_t *seq)
{
    static const char name[] = "next_event";
    MDB_val k = {sizeof(name) - 1, (void *)name}, v;
    uint8_t b[4];
    uint32_t n = 1; /* 0 is never an id */
    int rc = mdb_get(txn, s->meta, &k, &v);
    if (rc == 0 && v.mv_size == 4)
        n = get_le32(v.mv_data);
    else if (rc == 0)
        return MDB_CORRUPTED;
    else if (rc != MDB_NOTFOUND)
        return rc;
    put_le32(b, n + 1);
    v = (MDB_val){4, b};
    *seq = n;
    return mdb_put(txn, s->meta, &k, &v, 0);
}

/* Decodes a webhook record; false if it does not. */
static bool webhook_decode(const MDB_val *k, const MDB_val *v, struct store_webhook *w)
{
    const char *p = v->mv_data, *end = p + v->mv_size;
    const char *user_end = memchr(p, 0, (size_t)(end - p));
    if (k->mv_size != 4 || !user_end)
        return false;
    const char *url = user_end + 1;
    const char *url_end = memchr(url, 0, (size_t)(end - url));
    if (!url_end || end - (url_end + 1) < 4)
        return false;
    size_t ulen = (size_t)(user_end - p), llen = (size_t)(url_end - url);
    size_t slen = (size_t)(end - (url_end + 1)) - 4;
    if (ulen > OWNTRACKS_NAME_MAX || llen > STORE_URL_MAX || slen > STORE_SECRET_MAX)
        return false;
    w->id = get_be32(k->mv_data);
    memcpy(w->user, p, ulen + 1);
    memcpy(w->url, url, llen + 1);
    w->kinds = get_le32((const uint8_t *)url_end + 1);
    w->secret_len = slen;
    memcpy(w->secret, url_end + 5, slen);
    return true;
}

/* Stores one event: evlog, an outbox record per webhook of the user that wants it, and a copy
 * for the hook. */
static int put_event(struct store *s, MDB_txn *txn, uint32_t id, const char *user,
                     const char *device, enum store_event_kind kind, int64_t tst,
                     const struct sink *fields, struct sev_list *out)
{
    uint8_t key[EV_KEY], val[1 + STORE_EVENT_FIELDS_MAX];
    uint32_t seq, t = tst < 0 ? 0 : tst > UINT32_MAX ? UINT32_MAX : (uint32_t)tst;
    size_t flen = fields ? fields->len : 0;
    int rc;

    if (flen >= STORE_EVENT_FIELDS_MAX)
        flen = 0; /* the builders keep below it; never store a cut object */
    if ((rc = next_seq(s, txn, &seq)))
        return rc;
    put_be32(key, id);
    put_be32(key + 4, t);
    put_be32(key + 8, seq);
    val[0] = (uint8_t)kind;
    if (flen)
        memcpy(val + 1, fields->buf, flen);
    MDB_val k = {EV_KEY, key}, v = {1 + flen, val};
    if ((rc = mdb_put(txn, s->evlog, &k, &v, 0)))
        return rc;

    MDB_cursor *cur;
    MDB_val wk, wv;
    if ((rc = mdb_cursor_open(txn, s->webhooks, &cur)))
        return rc;
    uint32_t now = (uint32_t)time(NULL);
    for (rc = mdb_cursor_get(cur, &wk, &wv, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &wk, &wv, MDB_NEXT)) {
        struct store_webhook w;
        if (!webhook_decode(&wk, &wv, &w))
            continue; /* store_check's business; an event is not refused for it */
        if (strcmp(w.user, user) != 0 || (w.kinds && !(w.kinds & STORE_EVENT_KIND_BIT(kind))))
            continue;
        uint8_t ok[OUTBOX_KEY], ov[OUTBOX_VAL];
        put_be32(ok, w.id);
        put_be32(ok + 4, id);
        put_be32(ok + 8, seq);
        put_le32(ov, t);
        put_le32(ov + 4, now);
        MDB_val k2 = {OUTBOX_KEY, ok}, v2 = {OUTBOX_VAL, ov};
        if ((rc = mdb_put(txn, s->outbox, &k2, &v2, 0)))
            break;
    }
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND)
        return rc;

    if (out) {
        struct store_event *e = array_reserve(out->v, &out->cap, out->n + 1, sizeof(*e), 8);
        if (!e)
            return ENOMEM;
        out->v = e;
        e = &out->v[out->n++];
        e->seq = seq;
        e->kind = kind;
        e->tst = t;
        snprintf(e->user, sizeof(e->user), "%s", user);
        snprintf(e->device, sizeof(e->device), "%s", device);
        memcpy(e->fields, val + 1, flen);
        e->fields[flen] = 0;
    }
    return 0;
}

static int load_state(struct store *s, MDB_txn *txn, struct sev_dev *d, uint32_t id)
{
    uint8_t key[4];
    MDB_val k = {4, key}, v;
    if (d->loaded)
        return 0;
    put_be32(key, id);
    int rc = mdb_get(txn, s->evstate, &k, &v);
    *d = (struct sev_dev){.loaded = true};
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return rc;
    const uint8_t *p = v.mv_data;
    if (v.mv_size != STATE_OLD && (v.mv_size < STATE_HEAD || v.mv_size > STATE_MAX))
        return MDB_CORRUPTED;
    d->flags = p[0];
    d->last_fix = get_le32(p + 1);
    if (v.mv_size >= STATE_HEAD) {
        d->place = get_le32(p + 5);
        memcpy(d->place_name, p + STATE_HEAD, v.mv_size - STATE_HEAD);
        d->place_name[v.mv_size - STATE_HEAD] = 0;
    }
    return 0;
}

int sev_finish(struct store *s, MDB_txn *txn, struct sev_dev *d, uint32_t id)
{
    uint8_t key[4], val[STATE_MAX];
    if (!d->dirty)
        return 0;
    size_t nlen = d->place ? strlen(d->place_name) : 0;
    put_be32(key, id);
    val[0] = d->flags;
    put_le32(val + 1, d->last_fix);
    put_le32(val + 5, d->place);
    memcpy(val + STATE_HEAD, d->place_name, nlen);
    MDB_val k = {4, key}, v = {STATE_HEAD + nlen, val};
    d->dirty = false;
    return mdb_put(txn, s->evstate, &k, &v, 0);
}

int sev_seen(struct store *s, MDB_txn *txn, struct sev_dev *d, uint32_t id)
{
    int rc;
    if (!s->have_events)
        return 0;
    if ((rc = load_state(s, txn, d, id)))
        return rc;
    if (d->flags & SEV_SILENT) {
        d->flags &= (uint8_t)~SEV_SILENT;
        d->dirty = true;
    }
    return 0;
}

/* ---------------------------------------------------------------- derivation */

/* A member copied from the packed message, if it is there. */
static void copy_member(struct sink *out, const struct store_record *r, const char *type,
                        const char *name)
{
    struct pack_value v;
    if (pack_find(r->data, r->len, r->tst, type, name, &v) != 1)
        return;
    if (out->len)
        sink_putc(out, ',');
    sink_json_string(out, name, strlen(name));
    sink_putc(out, ':');
    pack_write_value_json(out, &v, r->tst);
}

/* ---------------------------------------------------------------- places */

/* One of a user's places, as a fix is tested against it. */
struct sev_place {
    uint32_t id;
    double lat, lon, radius_m;
};

/* A user's places, kept between writes while meta "places_version" says they are unchanged. */
struct sev_places {
    char user[OWNTRACKS_NAME_MAX + 1]; /* "": a free slot */
    uint32_t version;
    struct sev_place *v;
    size_t n, cap;
};

static int collect_place(void *arg, const struct store_place *p)
{
    struct sev_places *c = arg;
    struct sev_place *v = array_reserve(c->v, &c->cap, c->n + 1, sizeof(*v), 16);
    if (!v)
        return ENOMEM;
    c->v = v;
    c->v[c->n++] = (struct sev_place){p->id, p->lat, p->lon, p->radius_m};
    return 0;
}

/* The places of `user` as of `version`: from the cache, else read into a slot of it. */
static int user_places(struct store *s, MDB_txn *txn, const char *user, uint32_t version,
                       const struct sev_places **out)
{
    struct sev_places *slot = NULL;
    if (!s->ev_places && !(s->ev_places = calloc(PLACES_CACHED, sizeof(*s->ev_places))))
        return ENOMEM;
    for (unsigned i = 0; i < PLACES_CACHED && !slot; i++)
        if (strcmp(s->ev_places[i].user, user) == 0)
            slot = &s->ev_places[i];
    if (slot && slot->version == version) {
        *out = slot;
        return 0;
    }
    if (!slot) {
        slot = &s->ev_places[s->ev_places_next];
        s->ev_places_next = (s->ev_places_next + 1) % PLACES_CACHED;
    }
    slot->user[0] = 0; /* until it is read whole */
    slot->n = 0;
    int rc = s->have_places ? spl_each(s, txn, user, collect_place, slot) : 0;
    if (rc)
        return rc;
    snprintf(slot->user, sizeof(slot->user), "%s", user);
    slot->version = version;
    *out = slot;
    return 0;
}

void sev_close(struct store *s)
{
    for (unsigned i = 0; s->ev_places && i < PLACES_CACHED; i++)
        free(s->ev_places[i].v);
    free(s->ev_places);
    s->ev_places = NULL;
}

/* Writes a place event: "place":ID,"name":"..."[,"deleted":true], the fix's lat, lon, acc. */
static int put_place_event(struct store *s, MDB_txn *txn, uint32_t id, const struct store_record *r,
                           enum store_event_kind kind, uint32_t place, const char *name,
                           bool deleted, struct sev_list *out)
{
    struct sink f;
    if (sink_init_mem(&f, 256))
        return ENOMEM;
    sink_printf(&f, "\"place\":%u,\"name\":", place);
    sink_json_string(&f, name, strlen(name));
    if (deleted)
        sink_puts(&f, ",\"deleted\":true");
    copy_member(&f, r, "location", "lat");
    copy_member(&f, r, "location", "lon");
    copy_member(&f, r, "location", "acc");
    int rc = f.err ? ENOMEM : put_event(s, txn, id, r->user, r->device, kind, r->tst, &f, out);
    sink_free(&f);
    return rc;
}

/* Which of the user's places a newer fix enters or leaves (store.h, "events"). */
static int derive_place(struct store *s, MDB_txn *txn, struct sev_dev *d, uint32_t id,
                        const struct store_record *r, struct sev_list *out)
{
    struct pack_value v;
    double lat, lon, acc = NAN;
    const struct sev_places *pl;
    int rc;

    if (pack_find(r->data, r->len, r->tst, "location", "lat", &v) != 1 ||
        !pack_to_double(&v, &lat) ||
        pack_find(r->data, r->len, r->tst, "location", "lon", &v) != 1 || !pack_to_double(&v, &lon))
        return 0;
    if (pack_find(r->data, r->len, r->tst, "location", "acc", &v) == 1 && !pack_to_double(&v, &acc))
        acc = NAN;
    if (!d->places_checked) {
        if ((rc = spl_version(s, txn, &d->places_version)) ||
            (rc = stl_max_acc(s, txn, r->user, &d->max_acc_m)))
            return rc;
        d->places_checked = true;
    }
    if (acc > d->max_acc_m) /* NaN, unknown, is not worse */
        return 0;
    if ((rc = user_places(s, txn, r->user, d->places_version, &pl)))
        return rc;

    if (d->place) {
        const struct sev_place *in = NULL;
        for (size_t i = 0; i < pl->n && !in; i++)
            if (pl->v[i].id == d->place)
                in = &pl->v[i];
        double margin = acc > STORE_PLACE_HYSTERESIS_M ? acc : STORE_PLACE_HYSTERESIS_M;
        if (in && !(geo_distance_m(lat, lon, in->lat, in->lon) > in->radius_m + margin))
            return 0; /* still there */
        struct store_place now;
        const char *name = d->place_name;
        if (in && (rc = spl_get(s, txn, in->id, &now)) == 0)
            name = now.name;
        else if (in && rc != MDB_NOTFOUND)
            return rc;
        if ((rc = put_place_event(s, txn, id, r, STORE_EV_PLACE_LEFT, d->place, name, !in, out)))
            return rc;
        d->place = 0;
        d->place_name[0] = 0;
    }

    /* The place whose centre is nearest relative to its radius: of a small place inside a
     * large one, the small one, wherever in it the fix lies. */
    const struct sev_place *best = NULL;
    double best_ratio = INFINITY;
    for (size_t i = 0; i < pl->n; i++) {
        double ratio = geo_distance_m(lat, lon, pl->v[i].lat, pl->v[i].lon) / pl->v[i].radius_m;
        if (ratio <= 1 && ratio < best_ratio) {
            best = &pl->v[i];
            best_ratio = ratio;
        }
    }
    if (!best)
        return 0;
    struct store_place p;
    if ((rc = spl_get(s, txn, best->id, &p)))
        return rc;
    d->place = p.id;
    snprintf(d->place_name, sizeof(d->place_name), "%s", p.name);
    return put_place_event(s, txn, id, r, STORE_EV_PLACE_ENTERED, p.id, p.name, false, out);
}

int sev_location(struct store *s, MDB_txn *txn, struct sev_dev *d, uint32_t id,
                 const struct store_record *r, struct sev_list *out)
{
    struct pack_value v;
    int64_t batt;
    int rc;

    if (!s->have_events)
        return 0;
    if ((rc = load_state(s, txn, d, id)))
        return rc;
    if ((uint32_t)r->tst <= d->last_fix)
        return 0; /* a late fix says nothing about the battery or the place now */
    d->last_fix = (uint32_t)r->tst;
    d->dirty = true;
    if ((rc = derive_place(s, txn, d, id, r, out)))
        return rc;
    if (pack_find(r->data, r->len, r->tst, "location", "batt", &v) != 1 || !pack_to_int(&v, &batt))
        return 0;
    if (batt >= s->battery_low + STORE_BATTERY_REARM) {
        d->flags &= (uint8_t)~SEV_BATTERY_LOW;
        return 0;
    }
    if (batt >= s->battery_low || (d->flags & SEV_BATTERY_LOW))
        return 0;
    d->flags |= SEV_BATTERY_LOW;

    struct sink f;
    if (sink_init_mem(&f, 128))
        return ENOMEM;
    sink_printf(&f, "\"batt\":%lld,\"level\":%d", (long long)batt, s->battery_low);
    copy_member(&f, r, "location", "lat");
    copy_member(&f, r, "location", "lon");
    rc = f.err ? ENOMEM
               : put_event(s, txn, id, r->user, r->device, STORE_EV_BATTERY_LOW, r->tst, &f, out);
    sink_free(&f);
    return rc;
}

int sev_transition(struct store *s, MDB_txn *txn, struct sev_dev *d, uint32_t id,
                   const struct store_record *r, struct sev_list *out)
{
    static const char *const members[] = {"event", "desc", "t", "lat", "lon", "acc", "rid"};
    struct sink f;
    int rc;

    if (!s->have_events)
        return 0;
    if ((rc = load_state(s, txn, d, id)))
        return rc;
    if (sink_init_mem(&f, 256))
        return ENOMEM;
    for (size_t i = 0; i < WL_ARRAY_LEN(members) && !f.err; i++) {
        size_t before = f.len;
        copy_member(&f, r, "transition", members[i]);
        if (f.len >= STORE_EVENT_FIELDS_MAX - 1) /* a desc too long to keep whole: without it */
            f.len = before;
    }
    rc = f.err ? ENOMEM
               : put_event(s, txn, id, r->user, r->device, STORE_EV_TRANSITION, r->tst, &f, out);
    sink_free(&f);
    return rc;
}

int sev_timeline(struct store *s, MDB_txn *txn, struct sev_dev *d, uint32_t id,
                 const struct stl_event *v, size_t n, struct sev_list *out)
{
    int rc;
    if (!s->have_events || n == 0)
        return 0;
    if ((rc = load_state(s, txn, d, id)))
        return rc;
    for (size_t i = 0; i < n; i++) {
        const struct tl_segment *g = &v[i].seg;
        bool closed = v[i].ev == TL_CLOSED;
        enum store_event_kind kind;
        if (g->kind == TL_STAY)
            kind = closed ? STORE_EV_STAY_ENDED : STORE_EV_STAY_STARTED;
        else if (g->kind == TL_TRIP)
            kind = closed ? STORE_EV_TRIP_ENDED : STORE_EV_TRIP_STARTED;
        else
            continue; /* a gap is the absence of news, not news */
        struct sink f;
        if (sink_init_mem(&f, 256))
            return ENOMEM;
        sink_printf(&f, "\"start\":%lld,\"lat\":%.6f,\"lon\":%.6f", (long long)g->start, g->lat,
                    g->lon);
        if (g->kind == TL_STAY)
            sink_printf(&f, ",\"radius_m\":%.0f", g->radius_m);
        if (closed) {
            sink_printf(&f, ",\"end\":%lld,\"duration_s\":%lld", (long long)g->end,
                        (long long)(g->end - g->start));
            if (g->kind == TL_TRIP)
                sink_printf(&f,
                            ",\"end_lat\":%.6f,\"end_lon\":%.6f,\"distance_m\":%.0f,"
                            "\"mode\":\"%s\"",
                            g->end_lat, g->end_lon, g->distance_m, tl_mode_name(g->mode));
        }
        rc = f.err ? ENOMEM
                   : put_event(s, txn, id, v[i].user, v[i].device, kind, closed ? g->end : g->start,
                               &f, out);
        sink_free(&f);
        if (rc)
            return rc;
    }
    return 0;
}

void sev_deliver(struct store *s, struct sev_list *l)
{
    for (size_t i = 0; i < l->n && s->ev_hook; i++)
        s->ev_hook(s->ev_hook_arg, &l->v[i]);
    l->n = 0;
}

/* ---------------------------------------------------------------- reading */

static bool event_decode(const MDB_val *k, const MDB_val *v, struct store_event *e)
{
    const uint8_t *p = v->mv_data;
    if (k->mv_size != EV_KEY || v->mv_size < 1 || v->mv_size > STORE_EVENT_FIELDS_MAX ||
        !store_event_kind_name(p[0]))
        return false;
    e->tst = get_be32((const uint8_t *)k->mv_data + 4);
    e->seq = get_be32((const uint8_t *)k->mv_data + 8);
    e->kind = p[0];
    memcpy(e->fields, p + 1, v->mv_size - 1);
    e->fields[v->mv_size - 1] = 0;
    return true;
}

int store_events_read(struct store *s, const struct store_device *d, int64_t from, int64_t to,
                      unsigned kinds, int (*cb)(void *arg, const struct store_event *ev), void *arg)
{
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    uint8_t key[EV_KEY] = {0};
    MDB_val k = {EV_KEY, key}, v;
    struct store_event *e = malloc(sizeof(*e));
    int rc, stop = 0;

    if (!e)
        return -ENOMEM;
    if (!s->have_events || from > to || to < 0) {
        free(e);
        return 0;
    }
    if ((rc = store_txn_begin(s, MDB_RDONLY, &txn))) {
        free(e);
        return rc;
    }
    snprintf(e->user, sizeof(e->user), "%s", d->user);
    snprintf(e->device, sizeof(e->device), "%s", d->device);
    put_be32(key, d->id);
    put_be32(key + 4, from < 0 ? 0 : from > UINT32_MAX ? UINT32_MAX : (uint32_t)from);
    rc = mdb_cursor_open(txn, s->evlog, &cur);
    for (int op = MDB_SET_RANGE; rc == 0; op = MDB_NEXT) {
        if ((rc = mdb_cursor_get(cur, &k, &v, op)))
            break;
        if (k.mv_size != EV_KEY || get_be32(k.mv_data) != d->id ||
            get_be32((const uint8_t *)k.mv_data + 4) > to) {
            rc = MDB_NOTFOUND;
            break;
        }
        if (!event_decode(&k, &v, e)) {
            rc = MDB_CORRUPTED;
            break;
        }
        if (kinds && !(kinds & STORE_EVENT_KIND_BIT(e->kind)))
            continue;
        if ((stop = cb(arg, e)))
            break;
    }
    if (cur)
        mdb_cursor_close(cur);
    store_txn_abort(s, txn);
    free(e);
    if (stop)
        return stop;
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc == MDB_CORRUPTED)
        return WL_ECORRUPT;
    return rc > 0 ? store_lmdb_error("read events", rc) : rc;
}

int store_event_place(struct store *s, const struct store_device *d, uint32_t *id, char *name)
{
    MDB_txn *txn;
    struct sev_dev st = {0};
    struct store_place p;
    int rc;

    *id = 0;
    name[0] = 0;
    if (!s->have_events)
        return 0;
    if ((rc = store_txn_begin(s, MDB_RDONLY, &txn)))
        return rc;
    rc = load_state(s, txn, &st, d->id);
    if (rc == 0 && st.place) {
        *id = st.place;
        snprintf(name, STORE_PLACE_NAME_MAX + 1, "%s", st.place_name);
        rc = s->have_places ? spl_get(s, txn, st.place, &p) : MDB_NOTFOUND;
        if (rc == 0)
            snprintf(name, STORE_PLACE_NAME_MAX + 1, "%s", p.name);
        else if (rc == MDB_NOTFOUND)
            rc = 0; /* deleted since: the name it had */
    }
    store_txn_abort(s, txn);
    if (rc == MDB_CORRUPTED)
        return WL_ECORRUPT;
    return rc ? store_lmdb_error("read a device's place", rc) : 0;
}

/* ---------------------------------------------------------------- silence */

struct silence_job {
    int64_t now, after;
    unsigned found;
    struct sev_list out;
};

static int silence_fn(struct store *s, MDB_txn *txn, void *arg)
{
    struct silence_job *j = arg;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc;

    j->found = 0;
    j->out.n = 0;
    if ((rc = mdb_cursor_open(txn, s->devices, &cur)))
        return rc;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const char *user = k.mv_data;
        const char *sep = memchr(user, 0, k.mv_size);
        char u[OWNTRACKS_NAME_MAX + 1], dname[OWNTRACKS_NAME_MAX + 1];
        if (!sep || v.mv_size < DEVREC_FIXED)
            continue;
        size_t ul = (size_t)(sep - user), dl = k.mv_size - ul - 1;
        if (ul > OWNTRACKS_NAME_MAX || dl > OWNTRACKS_NAME_MAX)
            continue;
        uint32_t id = get_le32(v.mv_data), seen = get_le32((const uint8_t *)v.mv_data + 16);
        if (seen == 0 || (int64_t)seen >= j->now - j->after)
            continue;
        struct sev_dev d = {0};
        if ((rc = load_state(s, txn, &d, id)))
            break;
        if (d.flags & SEV_SILENT)
            continue;
        memcpy(u, user, ul);
        u[ul] = 0;
        memcpy(dname, sep + 1, dl);
        dname[dl] = 0;
        d.flags |= SEV_SILENT;
        d.dirty = true;
        struct sink f;
        if (sink_init_mem(&f, 64)) {
            rc = ENOMEM;
            break;
        }
        sink_printf(&f, "\"last_seen\":%u,\"silent_s\":%lld", seen, (long long)(j->now - seen));
        rc = f.err ? ENOMEM : put_event(s, txn, id, u, dname, STORE_EV_SILENT, j->now, &f, &j->out);
        sink_free(&f);
        if (rc || (rc = sev_finish(s, txn, &d, id)))
            break;
        j->found++;
    }
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND)
        rc = 0;
    return rc == 0 && j->found == 0 ? STORE_ABORT : rc;
}

int store_events_check_silence(struct store *s, int64_t now, int64_t after, unsigned *found)
{
    struct silence_job j = {.now = now, .after = after};
    int rc = s->have_events ? store_with_write_txn(s, silence_fn, &j, "check for silence") : 0;
    if (rc == 0)
        sev_deliver(s, &j.out);
    if (found)
        *found = rc == 0 ? j.found : 0;
    free(j.out.v);
    return rc;
}

/* ---------------------------------------------------------------- webhooks */

struct webhook_job {
    const struct store_webhook *w;
    uint32_t id;
    const char *user;
    bool deleted;
};

static int webhook_add_fn(struct store *s, MDB_txn *txn, void *arg)
{
    struct webhook_job *j = arg;
    MDB_stat st;
    uint8_t key[4], val[OWNTRACKS_NAME_MAX + STORE_URL_MAX + 6 + STORE_SECRET_MAX];
    static const char name[] = "next_webhook";
    MDB_val mk = {sizeof(name) - 1, (void *)name}, mv;
    uint32_t id = 1;
    int rc;

    if ((rc = mdb_stat(txn, s->webhooks, &st)))
        return rc;
    if (st.ms_entries >= STORE_WEBHOOKS_MAX)
        return -ENOSPC;
    rc = mdb_get(txn, s->meta, &mk, &mv);
    if (rc == 0 && mv.mv_size == 4)
        id = get_le32(mv.mv_data);
    else if (rc != MDB_NOTFOUND)
        return rc ? rc : MDB_CORRUPTED;
    uint8_t nb[4];
    put_le32(nb, id + 1);
    mv = (MDB_val){4, nb};
    if ((rc = mdb_put(txn, s->meta, &mk, &mv, 0)))
        return rc;
    size_t ul = strlen(j->w->user), ll = strlen(j->w->url);
    memcpy(val, j->w->user, ul + 1);
    memcpy(val + ul + 1, j->w->url, ll + 1);
    put_le32(val + ul + ll + 2, j->w->kinds);
    memcpy(val + ul + ll + 6, j->w->secret, j->w->secret_len);
    put_be32(key, id);
    MDB_val k = {4, key}, v = {ul + ll + 6 + j->w->secret_len, val};
    j->id = id;
    return mdb_put(txn, s->webhooks, &k, &v, MDB_NOOVERWRITE);
}

int store_webhook_add(struct store *s, const struct store_webhook *w, uint32_t *id)
{
    struct webhook_job j = {.w = w};
    size_t ll = strnlen(w->url, sizeof(w->url));
    if (ll > STORE_URL_MAX || w->secret_len > STORE_SECRET_MAX ||
        (strncmp(w->url, "http://", 7) != 0 && strncmp(w->url, "https://", 8) != 0) ||
        strnlen(w->user, sizeof(w->user)) == 0 ||
        strnlen(w->user, sizeof(w->user)) > OWNTRACKS_NAME_MAX)
        return -EINVAL;
    if (!s->have_events)
        return -EROFS;
    int rc = store_with_write_txn(s, webhook_add_fn, &j, "add a webhook");
    if (rc == 0 && id)
        *id = j.id;
    return rc;
}

int store_webhook_list(struct store *s, const char *user,
                       int (*cb)(void *arg, const struct store_webhook *w), void *arg)
{
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    struct store_webhook *w = malloc(sizeof(*w));
    int rc = 0, stop = 0;

    if (!w)
        return -ENOMEM;
    if (!s->have_events || (rc = store_txn_begin(s, MDB_RDONLY, &txn))) {
        free(w);
        return s->have_events ? rc : 0;
    }
    rc = mdb_cursor_open(txn, s->webhooks, &cur);
    for (int op = MDB_FIRST; rc == 0; op = MDB_NEXT) {
        if ((rc = mdb_cursor_get(cur, &k, &v, op)))
            break;
        if (!webhook_decode(&k, &v, w)) {
            rc = MDB_CORRUPTED;
            break;
        }
        if (user && strcmp(user, w->user) != 0)
            continue;
        if ((stop = cb(arg, w)))
            break;
    }
    if (cur)
        mdb_cursor_close(cur);
    store_txn_abort(s, txn);
    memset(w, 0, sizeof(*w)); /* the secrets */
    free(w);
    if (stop)
        return stop;
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc == MDB_CORRUPTED)
        return WL_ECORRUPT;
    return rc > 0 ? store_lmdb_error("list webhooks", rc) : rc;
}

int store_webhook_get(struct store *s, uint32_t id, struct store_webhook *out)
{
    MDB_txn *txn;
    uint8_t key[4];
    MDB_val k = {4, key}, v;
    int rc;

    if (!s->have_events)
        return -ENOENT;
    if ((rc = store_txn_begin(s, MDB_RDONLY, &txn)))
        return rc;
    put_be32(key, id);
    rc = mdb_get(txn, s->webhooks, &k, &v);
    if (rc == 0 && !webhook_decode(&k, &v, out))
        rc = MDB_CORRUPTED;
    store_txn_abort(s, txn);
    if (rc == MDB_NOTFOUND)
        return -ENOENT;
    if (rc == MDB_CORRUPTED)
        return WL_ECORRUPT;
    return rc ? store_lmdb_error("read a webhook", rc) : 0;
}

/* Deletes the outbox records of webhook wh (dev UINT32_MAX: all devices), up to max. */
static int outbox_delete_prefix(struct store *s, MDB_txn *txn, uint32_t wh, size_t max,
                                uint64_t *count)
{
    MDB_cursor *cur;
    uint8_t key[OUTBOX_KEY] = {0};
    MDB_val k = {OUTBOX_KEY, key}, v;
    int rc = mdb_cursor_open(txn, s->outbox, &cur);
    if (rc)
        return rc;
    put_be32(key, wh);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && max;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), max--) {
        if (k.mv_size != OUTBOX_KEY || get_be32(k.mv_data) != wh)
            break;
        if ((rc = mdb_cursor_del(cur, 0)))
            break;
        (*count)++;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int webhook_delete_fn(struct store *s, MDB_txn *txn, void *arg)
{
    struct webhook_job *j = arg;
    struct store_webhook w;
    uint8_t key[4];
    MDB_val k = {4, key}, v;
    uint64_t count = 0;
    put_be32(key, j->id);
    int rc = mdb_get(txn, s->webhooks, &k, &v);
    if (rc == MDB_NOTFOUND)
        return STORE_ABORT;
    if (rc)
        return rc;
    if (!webhook_decode(&k, &v, &w))
        return MDB_CORRUPTED;
    if (j->user && strcmp(j->user, w.user) != 0)
        return STORE_ABORT;
    j->deleted = true;
    if ((rc = mdb_del(txn, s->webhooks, &k, NULL)))
        return rc;
    /* A receiver gone for long may have a large outbox: the records go with it, in the
     * same transaction, so that a webhook and its records never outlive each other. */
    return outbox_delete_prefix(s, txn, j->id, SIZE_MAX, &count);
}

int store_webhook_delete(struct store *s, const char *user, uint32_t id)
{
    struct webhook_job j = {.id = id, .user = user};
    if (!s->have_events)
        return -ENOENT;
    int rc = store_with_write_txn(s, webhook_delete_fn, &j, "delete a webhook");
    return rc ? rc : j.deleted ? 0 : -ENOENT;
}

/* ---------------------------------------------------------------- the outbox */

long store_outbox_heads(struct store *s, struct store_delivery *out, size_t max, size_t per_group)
{
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    uint8_t key[OUTBOX_KEY] = {0};
    MDB_val k = {OUTBOX_KEY, key}, v;
    size_t n = 0, taken = 0;
    uint32_t group_wh = 0, group_dev = 0;
    bool have_group = false;
    int rc;

    if (!s->have_events || max == 0)
        return 0;
    if ((rc = store_txn_begin(s, MDB_RDONLY, &txn)))
        return rc;
    rc = mdb_cursor_open(txn, s->outbox, &cur);
    for (int op = MDB_FIRST; rc == 0 && n < max;) {
        if ((rc = mdb_cursor_get(cur, &k, &v, op)))
            break;
        if (k.mv_size != OUTBOX_KEY || v.mv_size != OUTBOX_VAL) {
            rc = MDB_CORRUPTED;
            break;
        }
        struct store_delivery *d = &out[n];
        const uint8_t *kp = k.mv_data;
        d->webhook = get_be32(kp);
        d->device = get_be32(kp + 4);
        if (!have_group || d->webhook != group_wh || d->device != group_dev) {
            group_wh = d->webhook;
            group_dev = d->device;
            taken = 0;
            have_group = true;
        }
        if (taken == per_group) { /* enough of this one: on to the next (webhook, device) */
            uint32_t dev = d->device, wh = d->webhook;
            if (dev == UINT32_MAX) {
                if (wh == UINT32_MAX)
                    break;
                wh++;
                dev = 0;
            } else {
                dev++;
            }
            put_be32(key, wh);
            put_be32(key + 4, dev);
            put_be32(key + 8, 0);
            k = (MDB_val){OUTBOX_KEY, key};
            op = MDB_SET_RANGE;
            continue;
        }
        taken++;
        d->enqueued = get_le32((const uint8_t *)v.mv_data + 4);
        uint32_t seq = get_be32(kp + 8), tst = get_le32(v.mv_data);

        /* The event itself, and its device's names. */
        uint8_t ek[EV_KEY], ik[4];
        put_be32(ek, d->device);
        put_be32(ek + 4, tst);
        put_be32(ek + 8, seq);
        put_be32(ik, d->device);
        MDB_val ekv = {EV_KEY, ek}, evv, ikv = {4, ik}, names;
        int erc = mdb_get(txn, s->evlog, &ekv, &evv);
        int nrc = erc ? erc : mdb_get(txn, s->devids, &ikv, &names);
        if (erc == 0 && nrc == 0 && event_decode(&ekv, &evv, &d->ev)) {
            const char *u = names.mv_data, *sep = memchr(u, 0, names.mv_size);
            size_t ul = sep ? (size_t)(sep - u) : 0, dl = sep ? names.mv_size - ul - 1 : 0;
            if (sep && ul <= OWNTRACKS_NAME_MAX && dl <= OWNTRACKS_NAME_MAX) {
                memcpy(d->ev.user, u, ul);
                d->ev.user[ul] = 0;
                memcpy(d->ev.device, sep + 1, dl);
                d->ev.device[dl] = 0;
                n++;
            }
        } else if (erc != 0 && erc != MDB_NOTFOUND) {
            rc = erc;
            break;
        }
        /* (An event deleted with its device leaves nothing to send: the record is skipped
         * here and dropped by the trim.) */
        op = MDB_NEXT;
    }
    if (cur)
        mdb_cursor_close(cur);
    store_txn_abort(s, txn);
    if (rc == 0 || rc == MDB_NOTFOUND)
        return (long)n;
    if (rc == MDB_CORRUPTED)
        return WL_ECORRUPT;
    return store_lmdb_error("read the outbox", rc);
}

struct done_job {
    const struct store_delivery *const *d;
    size_t n;
};

static int done_fn(struct store *s, MDB_txn *txn, void *arg)
{
    struct done_job *j = arg;
    for (size_t i = 0; i < j->n; i++) {
        uint8_t key[OUTBOX_KEY];
        put_be32(key, j->d[i]->webhook);
        put_be32(key + 4, j->d[i]->device);
        put_be32(key + 8, j->d[i]->ev.seq);
        MDB_val k = {OUTBOX_KEY, key};
        int rc = mdb_del(txn, s->outbox, &k, NULL);
        if (rc && rc != MDB_NOTFOUND)
            return rc;
    }
    return 0;
}

int store_outbox_done(struct store *s, const struct store_delivery *const *d, size_t n)
{
    struct done_job j = {.d = d, .n = n};
    return n ? store_with_write_txn(s, done_fn, &j, "remove delivered events") : 0;
}

struct trim_job {
    int64_t before; /* enqueued earlier than this: dropped */
    uint64_t max_count;
    uint64_t dropped, left;
    bool more;
};

/* Is the event of this outbox record gone (its device deleted)? */
static bool orphan(struct store *s, MDB_txn *txn, const MDB_val *k, const MDB_val *v)
{
    uint8_t ek[EV_KEY];
    memcpy(ek, (const uint8_t *)k->mv_data + 4, 4);
    put_be32(ek + 4, get_le32(v->mv_data));
    memcpy(ek + 8, (const uint8_t *)k->mv_data + 8, 4);
    MDB_val ekv = {EV_KEY, ek}, evv;
    return mdb_get(txn, s->evlog, &ekv, &evv) == MDB_NOTFOUND;
}

static int trim_fn(struct store *s, MDB_txn *txn, void *arg)
{
    struct trim_job *j = arg;
    MDB_cursor *cur;
    MDB_stat st;
    MDB_val k, v;
    uint64_t dropped = 0;
    int rc;

    if ((rc = mdb_stat(txn, s->outbox, &st)))
        return rc;
    uint64_t entries = st.ms_entries;
    if ((rc = mdb_cursor_open(txn, s->outbox, &cur)))
        return rc;
    size_t budget = TRIM_BATCH;
    /* Oldest first is not key order (that is webhook, device, seq): a record is dropped
     * when it is too old, an orphan, or (over the count) its seq is among the oldest, which
     * a first pass cannot know cheaply; over the count, drop from the front of the key
     * order, which drops the oldest of the first webhook and device first. */
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && budget;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != OUTBOX_KEY || v.mv_size != OUTBOX_VAL) {
            rc = MDB_CORRUPTED;
            break;
        }
        bool old = j->before > 0 && (int64_t)get_le32((const uint8_t *)v.mv_data + 4) < j->before;
        bool over = j->max_count && entries - dropped > j->max_count;
        if (!old && !over && !orphan(s, txn, &k, &v))
            continue;
        if ((rc = mdb_cursor_del(cur, 0)))
            break;
        dropped++;
        budget--;
    }
    mdb_cursor_close(cur);
    j->more = rc == 0 && budget == 0;
    if (rc == MDB_NOTFOUND)
        rc = 0;
    j->dropped += dropped;
    j->left = entries - dropped;
    return rc == 0 && dropped == 0 ? STORE_ABORT : rc;
}

int store_outbox_trim(struct store *s, int64_t now, int64_t max_age, uint64_t max_count,
                      uint64_t *dropped, uint64_t *left)
{
    struct trim_job j = {.before = max_age > 0 ? now - max_age : 0, .max_count = max_count};
    int rc = 0;
    if (s->have_events) {
        do {
            j.more = false;
            j.left = 0;
            rc = store_with_write_txn(s, trim_fn, &j, "trim the outbox");
        } while (rc == 0 && j.more);
    }
    if (dropped)
        *dropped = j.dropped;
    if (left)
        *left = j.left;
    return rc;
}

int sev_delete_device(struct store *s, MDB_txn *txn, uint32_t id, bool dry_run, size_t max,
                      uint64_t *count, bool *done)
{
    int rc;
    bool ev_done = true;
    *done = true;
    if (!s->have_events)
        return 0;
    if ((rc = store_delete_prefixed(txn, s->evlog, id, dry_run, max, count, &ev_done)))
        return rc;
    *done = ev_done;
    if (!ev_done || dry_run)
        return 0;
    uint8_t key[4];
    MDB_val k = {4, key};
    put_be32(key, id);
    rc = mdb_del(txn, s->evstate, &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc; /* its outbox records are orphans: the trim drops them */
}
