/*
 * store_places.c - a user's places kept in the store (store.h, "places"): adding, reading,
 * changing, merging and removing them. Which stays they hold is worked out when they are read
 * (places.h), not here.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "geo.h"
#include "store_internal.h"
#include "wl.h"

#define PLACE_VERSION 1
#define PLACE_FIXED   (2 + 8 * 4 + 1) /* version, flags, lat, lon, radius, created, user length */
#define PLACE_VAL_MAX (PLACE_FIXED + OWNTRACKS_NAME_MAX + STORE_PLACE_NAME_MAX)
#define NEXT_ID_KEY   0 /* the counter's key: ids start at 1 */

int spl_open_dbs(struct store *s, MDB_txn *txn)
{
    int rc = mdb_dbi_open(txn, "places", s->read_only ? 0 : MDB_CREATE, &s->places);
    if (rc == MDB_NOTFOUND && s->read_only)
        return 0; /* a store from before places, opened read-only: it has none */
    s->have_places = rc == 0;
    return rc;
}

/* What store_place_check says of everything but the user. */
static int check_area(const struct store_place *p, const char **why)
{
    size_t nlen = strnlen(p->name, sizeof(p->name));
    *why = NULL;
    if (nlen == 0)
        *why = "the name is empty";
    else if (nlen > STORE_PLACE_NAME_MAX)
        *why = "the name is longer than 128 bytes";
    else if (!owntracks_utf8_valid(p->name, nlen))
        *why = "the name is not UTF-8";
    else if (!isfinite(p->lat) || fabs(p->lat) > 90)
        *why = "lat must be a number from -90 to 90";
    else if (!isfinite(p->lon) || fabs(p->lon) > 180)
        *why = "lon must be a number from -180 to 180";
    else if (!isfinite(p->radius_m) || p->radius_m < STORE_PLACE_RADIUS_MIN ||
             p->radius_m > STORE_PLACE_RADIUS_MAX)
        *why = "the radius must be from 5 to 5000 metres";
    for (size_t i = 0; !*why && i < nlen; i++)
        if ((unsigned char)p->name[i] < 0x20 || p->name[i] == 0x7f)
            *why = "the name has a control character";
    return *why ? -EINVAL : 0;
}

int store_place_check(const struct store_place *p, const char **why)
{
    size_t ulen = strnlen(p->user, sizeof(p->user));
    if (ulen == 0 || ulen > OWNTRACKS_NAME_MAX) {
        *why = "the user must be a name of 1 to 64 bytes";
        return -EINVAL;
    }
    return check_area(p, why);
}

static size_t place_encode(const struct store_place *p, uint8_t *val)
{
    size_t ulen = strlen(p->user), nlen = strlen(p->name);
    val[0] = PLACE_VERSION;
    val[1] = p->flags;
    put_f64(val + 2, p->lat);
    put_f64(val + 10, p->lon);
    put_f64(val + 18, p->radius_m);
    put_le64(val + 26, (uint64_t)p->created);
    val[34] = (uint8_t)ulen;
    memcpy(val + PLACE_FIXED, p->user, ulen);
    memcpy(val + PLACE_FIXED + ulen, p->name, nlen);
    return PLACE_FIXED + ulen + nlen;
}

/* 0 or MDB_CORRUPTED (a record this build cannot read). */
static int place_decode(const MDB_val *k, const MDB_val *v, struct store_place *p)
{
    const uint8_t *b = v->mv_data;
    if (k->mv_size != 4 || v->mv_size < PLACE_FIXED || b[0] != PLACE_VERSION)
        return MDB_CORRUPTED;
    size_t ulen = b[34];
    if (ulen == 0 || ulen > OWNTRACKS_NAME_MAX || PLACE_FIXED + ulen > v->mv_size ||
        v->mv_size - PLACE_FIXED - ulen > STORE_PLACE_NAME_MAX)
        return MDB_CORRUPTED;
    size_t nlen = v->mv_size - PLACE_FIXED - ulen;
    memset(p, 0, sizeof(*p));
    p->id = get_be32(k->mv_data);
    p->flags = b[1];
    p->lat = get_f64(b + 2);
    p->lon = get_f64(b + 10);
    p->radius_m = get_f64(b + 18);
    p->created = (int64_t)get_le64(b + 26);
    memcpy(p->user, b + PLACE_FIXED, ulen);
    memcpy(p->name, b + PLACE_FIXED + ulen, nlen);
    return 0;
}

static const char version_key[] = "places_version";

int spl_version(struct store *s, MDB_txn *txn, uint32_t *version)
{
    MDB_val k = {sizeof(version_key) - 1, (void *)version_key}, v;
    int rc = mdb_get(txn, s->meta, &k, &v);
    *version = 0;
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc == 0 && v.mv_size != 4)
        return MDB_CORRUPTED;
    if (rc == 0)
        *version = get_le32(v.mv_data);
    return rc;
}

/* Counts a write of the places, in its transaction (spl_version). */
static int changed(struct store *s, MDB_txn *txn)
{
    uint32_t version;
    uint8_t b[4];
    int rc = spl_version(s, txn, &version);
    if (rc)
        return rc;
    put_le32(b, version + 1);
    MDB_val k = {sizeof(version_key) - 1, (void *)version_key}, v = {4, b};
    return mdb_put(txn, s->meta, &k, &v, 0);
}

static int place_put(struct store *s, MDB_txn *txn, const struct store_place *p)
{
    uint8_t key[4], val[PLACE_VAL_MAX];
    put_be32(key, p->id);
    MDB_val k = {4, key}, v = {place_encode(p, val), val};
    int rc = mdb_put(txn, s->places, &k, &v, 0);
    return rc ? rc : changed(s, txn);
}

/* 0, MDB_NOTFOUND or an LMDB error. */
static int place_get(struct store *s, MDB_txn *txn, uint32_t id, struct store_place *p)
{
    uint8_t key[4];
    if (id == NEXT_ID_KEY)
        return MDB_NOTFOUND;
    put_be32(key, id);
    MDB_val k = {4, key}, v;
    int rc = mdb_get(txn, s->places, &k, &v);
    return rc ? rc : place_decode(&k, &v, p);
}

/* Counts the places of one user (up to `max`) inside txn. */
static int count_user_places(struct store *s, MDB_txn *txn, const char *user, size_t max, size_t *n)
{
    MDB_cursor *cur;
    MDB_val k, v;
    struct store_place p;
    int rc = mdb_cursor_open(txn, s->places, &cur);
    *n = 0;
    for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && *n < max;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        if (get_be32(k.mv_data) != NEXT_ID_KEY && place_decode(&k, &v, &p) == 0 &&
            strcmp(p.user, user) == 0)
            (*n)++;
    if (cur)
        mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int add_fn(struct store *s, MDB_txn *txn, void *arg)
{
    struct store_place *p = arg;
    uint8_t key[4], val[4];
    uint32_t next = 1;
    size_t have;
    int rc;

    put_be32(key, NEXT_ID_KEY);
    MDB_val k = {4, key}, v;
    if ((rc = mdb_get(txn, s->places, &k, &v)) == 0 && v.mv_size == 4)
        next = get_le32(v.mv_data);
    else if (rc && rc != MDB_NOTFOUND)
        return rc;
    if (next == 0 || next == UINT32_MAX)
        return -EDQUOT; /* four billion places given: never in practice */
    if ((rc = count_user_places(s, txn, p->user, STORE_PLACES_MAX, &have)))
        return rc;
    if (have >= STORE_PLACES_MAX)
        return -EDQUOT;
    p->id = next;
    put_le32(val, next + 1);
    v = (MDB_val){4, val};
    if ((rc = mdb_put(txn, s->places, &k, &v, 0)))
        return rc;
    return place_put(s, txn, p);
}

static int places_ready(struct store *s)
{
    if (s->read_only)
        return -EROFS;
    return s->have_places ? 0 : -EROFS;
}

int store_place_add(struct store *s, struct store_place *p)
{
    const char *why;
    int rc;
    if (store_place_check(p, &why))
        return -EINVAL;
    if ((rc = places_ready(s)))
        return rc;
    return store_with_write_txn(s, add_fn, p, "add a place");
}

int store_place_get(struct store *s, uint32_t id, struct store_place *out)
{
    MDB_txn *txn;
    int rc;
    if (!s->have_places)
        return -ENOENT;
    if ((rc = store_txn_begin(s, MDB_RDONLY, &txn)))
        return rc;
    rc = place_get(s, txn, id, out);
    store_txn_abort(s, txn);
    return rc == MDB_NOTFOUND    ? -ENOENT
           : rc == MDB_CORRUPTED ? WL_ECORRUPT
           : rc                  ? store_lmdb_error("get a place", rc)
                                 : 0;
}

/* The outcome of a write job that the LMDB layer should not log as a failure. */
struct place_job {
    const struct store_place *p;
    uint32_t from, into;
    struct store_place merged;
    int outcome; /* -ENOENT, -EINVAL, -ERANGE: found while running; nothing was written */
};

static int update_fn(struct store *s, MDB_txn *txn, void *arg)
{
    struct place_job *j = arg;
    struct store_place old;
    int rc = place_get(s, txn, j->p->id, &old);
    j->outcome = 0;
    if (rc == MDB_NOTFOUND) {
        j->outcome = -ENOENT;
        return STORE_ABORT;
    }
    if (rc)
        return rc;
    struct store_place p = *j->p;
    memcpy(p.user, old.user, sizeof(p.user));
    p.created = old.created;
    return place_put(s, txn, &p);
}

int store_place_update(struct store *s, const struct store_place *p)
{
    const char *why;
    struct place_job j = {.p = p};
    int rc;
    if (check_area(p, &why)) /* the stored user stays */
        return -EINVAL;
    if ((rc = places_ready(s)))
        return rc;
    rc = store_with_write_txn(s, update_fn, &j, "change a place");
    return rc ? rc : j.outcome;
}

static int delete_fn(struct store *s, MDB_txn *txn, void *arg)
{
    struct place_job *j = arg;
    uint8_t key[4];
    put_be32(key, j->from);
    MDB_val k = {4, key};
    int rc = j->from == NEXT_ID_KEY ? MDB_NOTFOUND : mdb_del(txn, s->places, &k, NULL);
    j->outcome = 0;
    if (rc == MDB_NOTFOUND) {
        j->outcome = -ENOENT;
        return STORE_ABORT;
    }
    return rc ? rc : changed(s, txn);
}

int store_place_delete(struct store *s, uint32_t id)
{
    struct place_job j = {.from = id};
    int rc = places_ready(s);
    if (rc)
        return rc;
    rc = store_with_write_txn(s, delete_fn, &j, "delete a place");
    return rc ? rc : j.outcome;
}

/*
 * The smallest circle holding circles a and b: if one holds the other, that one; else the
 * circle whose diameter runs from a's far side to b's far side, its centre on the line between
 * the centres. Distances are small (a few km at most), so the centre is interpolated in degrees.
 */
static void enclose(const struct store_place *a, const struct store_place *b, double *lat,
                    double *lon, double *radius)
{
    double d = geo_distance_m(a->lat, a->lon, b->lat, b->lon);
    if (d + b->radius_m <= a->radius_m) {
        *lat = a->lat, *lon = a->lon, *radius = a->radius_m;
        return;
    }
    if (d + a->radius_m <= b->radius_m) {
        *lat = b->lat, *lon = b->lon, *radius = b->radius_m;
        return;
    }
    double r = (d + a->radius_m + b->radius_m) / 2;
    double t = d > 0 ? (r - a->radius_m) / d : 0; /* from a's centre towards b's */
    *lat = a->lat + (b->lat - a->lat) * t;
    *lon = a->lon + (b->lon - a->lon) * t;
    *radius = r;
}

static int merge_fn(struct store *s, MDB_txn *txn, void *arg)
{
    struct place_job *j = arg;
    struct store_place from, into;
    uint8_t key[4];
    int rc;

    j->outcome = 0;
    if ((rc = place_get(s, txn, j->from, &from)) == 0)
        rc = place_get(s, txn, j->into, &into);
    if (rc == MDB_NOTFOUND) {
        j->outcome = -ENOENT;
        return STORE_ABORT;
    }
    if (rc)
        return rc;
    if (j->from == j->into || strcmp(from.user, into.user) != 0) {
        j->outcome = -EINVAL;
        return STORE_ABORT;
    }
    enclose(&into, &from, &into.lat, &into.lon, &into.radius_m);
    if (into.radius_m > STORE_PLACE_RADIUS_MAX) {
        j->outcome = -ERANGE;
        return STORE_ABORT;
    }
    put_be32(key, j->from);
    MDB_val k = {4, key};
    if ((rc = mdb_del(txn, s->places, &k, NULL)) || (rc = place_put(s, txn, &into)))
        return rc;
    j->merged = into;
    return 0;
}

int store_place_merge(struct store *s, uint32_t from, uint32_t into, struct store_place *out)
{
    struct place_job j = {.from = from, .into = into};
    int rc = places_ready(s);
    if (rc)
        return rc;
    rc = store_with_write_txn(s, merge_fn, &j, "merge places");
    if (rc == 0 && j.outcome == 0 && out)
        *out = j.merged;
    return rc ? rc : j.outcome;
}

int store_places(struct store *s, const char *user, struct store_place **out, size_t *n)
{
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    struct store_place *arr = NULL;
    size_t cap = 0;
    int rc;

    *out = NULL;
    *n = 0;
    if (!s->have_places)
        return 0;
    if ((rc = store_txn_begin(s, MDB_RDONLY, &txn)))
        return rc;
    if ((rc = mdb_cursor_open(txn, s->places, &cur)))
        goto out;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        struct store_place p;
        if (k.mv_size == 4 && get_be32(k.mv_data) == NEXT_ID_KEY)
            continue;
        if ((rc = place_decode(&k, &v, &p)))
            break;
        if (user && strcmp(p.user, user) != 0)
            continue;
        if (*n == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            struct store_place *m = realloc(arr, ncap * sizeof(*m));
            if (!m) {
                rc = ENOMEM;
                break;
            }
            arr = m;
            cap = ncap;
        }
        arr[(*n)++] = p;
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
out:
    if (cur)
        mdb_cursor_close(cur);
    store_txn_abort(s, txn);
    if (rc) {
        free(arr);
        *n = 0;
        return rc == MDB_CORRUPTED ? WL_ECORRUPT : store_lmdb_error("list places", rc);
    }
    *out = arr;
    return 0;
}

int spl_get(struct store *s, MDB_txn *txn, uint32_t id, struct store_place *out)
{
    return place_get(s, txn, id, out);
}

int spl_each(struct store *s, MDB_txn *txn, const char *user,
             int (*fn)(void *arg, const struct store_place *p), void *arg)
{
    MDB_cursor *cur;
    MDB_val k, v;
    struct store_place p;
    int rc = mdb_cursor_open(txn, s->places, &cur);
    if (rc)
        return rc;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size == 4 && get_be32(k.mv_data) == NEXT_ID_KEY)
            continue;
        if ((rc = place_decode(&k, &v, &p)))
            break;
        if (strcmp(p.user, user) == 0 && (rc = fn(arg, &p)))
            break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}
