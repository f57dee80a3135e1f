/*
 * store_share.c - the store's share links and private circles (store.h, "Share links" and
 * "Private circles"): two small tables keyed by "user" NUL "name", read per request.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "store_internal.h"
#include "wl.h"

#define SHARE_FORMAT     1
#define SHARE_LIVE       0x01
#define SHARE_REVOKED    0x02
#define SHARE_FIXED      (2 + STORE_TOKEN_HASH_BYTES + 5 * 8)
#define SHARE_RECORD_MAX (SHARE_FIXED + 2 + 2 * OWNTRACKS_NAME_MAX + STORE_SHARE_LABEL_MAX)
#define PRIVATE_RECORD   (3 * 8)
#define KEY_MAX          (2 * OWNTRACKS_NAME_MAX + 1)

/* Came after the tokens: a store opened for writing gains both tables; a read-only store
 * from before has neither (nothing to read). */
int store_share_open_dbs(struct store *s, MDB_txn *txn)
{
    unsigned flags = s->read_only ? 0 : MDB_CREATE;
    int rc = mdb_dbi_open(txn, "shares", flags, &s->shares);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "private", flags, &s->private_circles);
    s->have_shares = rc == 0;
    return rc == MDB_NOTFOUND && s->read_only ? 0 : rc;
}

/* "user" NUL "name"; 0 when either is empty or too long. */
static size_t make_key(uint8_t key[KEY_MAX], const char *user, const char *name)
{
    size_t ul = strlen(user), nl = strlen(name);
    if (!ul || !nl || ul > OWNTRACKS_NAME_MAX || nl > OWNTRACKS_NAME_MAX)
        return 0;
    memcpy(key, user, ul + 1);
    memcpy(key + ul + 1, name, nl);
    return ul + 1 + nl;
}

/* Splits a key into its two names (each at most `max` bytes); false if malformed. */
static bool split_key(const MDB_val *k, char *user, char *name, size_t max)
{
    size_t ul = strnlen(k->mv_data, k->mv_size);
    if (ul == 0 || ul > OWNTRACKS_NAME_MAX || ul >= k->mv_size || k->mv_size - ul - 1 == 0 ||
        k->mv_size - ul - 1 > max)
        return false;
    memcpy(user, k->mv_data, ul);
    user[ul] = '\0';
    memcpy(name, (const char *)k->mv_data + ul + 1, k->mv_size - ul - 1);
    name[k->mv_size - ul - 1] = '\0';
    return true;
}

/* ---------------------------------------------------------------- share links */

static size_t share_encode(const struct store_share *sh, uint8_t v[SHARE_RECORD_MAX])
{
    size_t ol = strlen(sh->owner), dl = strlen(sh->device), ll = strlen(sh->label);
    uint8_t *p = v;
    *p++ = SHARE_FORMAT;
    *p++ = (uint8_t)((sh->live ? SHARE_LIVE : 0) | (sh->revoked ? SHARE_REVOKED : 0));
    memcpy(p, sh->hash, STORE_TOKEN_HASH_BYTES);
    p += STORE_TOKEN_HASH_BYTES;
    const int64_t times[] = {sh->from, sh->to, sh->created, sh->expires, sh->last_opened};
    for (size_t i = 0; i < WL_ARRAY_LEN(times); i++, p += 8)
        put_le64(p, (uint64_t)times[i]);
    *p++ = (uint8_t)ol;
    memcpy(p, sh->owner, ol);
    p += ol;
    *p++ = (uint8_t)dl;
    memcpy(p, sh->device, dl);
    memcpy(p + dl, sh->label, ll);
    return (size_t)(p - v) + dl + ll;
}

static int share_decode(const MDB_val *k, const MDB_val *v, struct store_share *sh)
{
    const uint8_t *p = v->mv_data;
    memset(sh, 0, sizeof(*sh));
    if (!split_key(k, sh->user, sh->id, STORE_SHARE_ID_LEN) || v->mv_size < SHARE_FIXED ||
        p[0] != SHARE_FORMAT)
        return WL_ECORRUPT;
    /* A name: u8 length (1..OWNTRACKS_NAME_MAX) | bytes, within the record. */
    const uint8_t *q = p + SHARE_FIXED, *end = p + v->mv_size;
    char *names[] = {sh->owner, sh->device};
    for (size_t i = 0; i < WL_ARRAY_LEN(names); i++) {
        size_t n = q < end ? *q : 0;
        if (n == 0 || n > OWNTRACKS_NAME_MAX || (size_t)(end - q - 1) < n)
            return WL_ECORRUPT;
        memcpy(names[i], q + 1, n);
        names[i][n] = '\0';
        q += 1 + n;
    }
    if ((size_t)(end - q) > STORE_SHARE_LABEL_MAX)
        return WL_ECORRUPT;
    sh->live = p[1] & SHARE_LIVE;
    sh->revoked = p[1] & SHARE_REVOKED;
    memcpy(sh->hash, p + 2, STORE_TOKEN_HASH_BYTES);
    const uint8_t *t = p + 2 + STORE_TOKEN_HASH_BYTES;
    int64_t *times[] = {&sh->from, &sh->to, &sh->created, &sh->expires, &sh->last_opened};
    for (size_t i = 0; i < WL_ARRAY_LEN(times); i++, t += 8)
        *times[i] = (int64_t)get_le64(t);
    memcpy(sh->label, q, (size_t)(end - q));
    return 0;
}

enum share_change { SHARE_ADD, SHARE_REVOKE, SHARE_TOUCH };

struct share_job {
    enum share_change change;
    uint8_t key_bytes[KEY_MAX];
    MDB_val key;
    const struct store_share *share; /* SHARE_ADD */
    const uint8_t *hash;             /* SHARE_TOUCH */
    int64_t when;                    /* SHARE_TOUCH */
};

/* Drops the user's shares whose expiry passed STORE_SHARE_KEEP_S before `now`. */
static int drop_old_shares(struct store *s, MDB_txn *txn, const char *user, int64_t now)
{
    MDB_cursor *cur;
    MDB_val k, v;
    size_t ul = strlen(user);
    int rc = mdb_cursor_open(txn, s->shares, &cur);
    if (rc)
        return rc;
    k = (MDB_val){ul + 1, (void *)user};
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        struct store_share old;
        if (k.mv_size <= ul || memcmp(k.mv_data, user, ul + 1) != 0)
            break;
        if (share_decode(&k, &v, &old) == 0 && old.expires + STORE_SHARE_KEEP_S < now &&
            (rc = mdb_cursor_del(cur, 0)))
            break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int share_fn(struct store *s, MDB_txn *txn, void *arg)
{
    struct share_job *j = arg;
    uint8_t rec[SHARE_RECORD_MAX];
    MDB_val v = {0, rec}, old;
    struct store_share sh;
    int rc;

    if (j->change == SHARE_ADD) {
        if ((rc = drop_old_shares(s, txn, j->share->user, j->share->created)))
            return rc;
        v.mv_size = share_encode(j->share, rec);
        rc = mdb_put(txn, s->shares, &j->key, &v, MDB_NOOVERWRITE);
        return rc == MDB_KEYEXIST ? -EEXIST : rc;
    }
    if ((rc = mdb_get(txn, s->shares, &j->key, &old)))
        return rc;
    if ((rc = share_decode(&j->key, &old, &sh)))
        return rc;
    if (j->change == SHARE_REVOKE) {
        if (sh.revoked)
            return STORE_ABORT;
        sh.revoked = true;
    } else {
        if (memcmp(sh.hash, j->hash, STORE_TOKEN_HASH_BYTES) != 0)
            return -ENOENT;
        if (j->when <= sh.last_opened)
            return STORE_ABORT; /* another request recorded it meanwhile */
        sh.last_opened = j->when;
    }
    v.mv_size = share_encode(&sh, rec);
    return mdb_put(txn, s->shares, &j->key, &v, 0);
}

static int share_change(struct store *s, struct share_job *j, const char *user, const char *id)
{
    size_t n = make_key(j->key_bytes, user, id);
    if (!n || strlen(id) > STORE_SHARE_ID_LEN)
        return -EINVAL;
    if (!s->have_shares)
        return -EROFS; /* only a read-only store lacks the table */
    j->key = (MDB_val){n, j->key_bytes};
    return store_with_write_txn(s, share_fn, j, "update share"); /* MDB_NOTFOUND: -ENOENT */
}

int store_share_put(struct store *s, const struct store_share *sh)
{
    struct share_job j = {.change = SHARE_ADD, .share = sh};
    size_t ol = strlen(sh->owner), dl = strlen(sh->device);
    if (!ol || ol > OWNTRACKS_NAME_MAX || !dl || dl > OWNTRACKS_NAME_MAX ||
        strlen(sh->label) > STORE_SHARE_LABEL_MAX)
        return -EINVAL;
    return share_change(s, &j, sh->user, sh->id);
}

int store_share_revoke(struct store *s, const char *user, const char *id)
{
    struct share_job j = {.change = SHARE_REVOKE};
    return share_change(s, &j, user, id);
}

int store_share_touch(struct store *s, const char *user, const char *id,
                      const uint8_t hash[STORE_TOKEN_HASH_BYTES], int64_t when)
{
    struct share_job j = {.change = SHARE_TOUCH, .hash = hash, .when = when};
    return share_change(s, &j, user, id);
}

/* Walks the keys of `user` (all if NULL) in dbi, calling decode_cb for each. */
static int walk(struct store *s, MDB_dbi dbi, const char *user, const char *what,
                int (*each)(const MDB_val *k, const MDB_val *v, void *arg), void *arg)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    size_t ul = user ? strlen(user) : 0;
    int rc, stop = 0;

    if (!s->have_shares)
        return 0;
    if ((rc = store_txn_begin(s, MDB_RDONLY, &txn)))
        return rc;
    if ((rc = mdb_cursor_open(txn, dbi, &cur))) {
        store_txn_abort(s, txn);
        return store_lmdb_error("open cursor", rc);
    }
    k = (MDB_val){user ? ul + 1 : 0, (void *)user};
    rc = mdb_cursor_get(cur, &k, &v, user ? MDB_SET_RANGE : MDB_FIRST);
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (user && (k.mv_size <= ul || memcmp(k.mv_data, user, ul + 1) != 0))
            break;
        if ((stop = each(&k, &v, arg)))
            break;
    }
    mdb_cursor_close(cur);
    store_txn_abort(s, txn);
    if (stop)
        return stop;
    return rc == MDB_NOTFOUND || rc == 0 ? 0 : store_lmdb_error(what, rc);
}

struct share_walk {
    int (*cb)(void *arg, const struct store_share *sh);
    void *arg;
};

static int each_share(const MDB_val *k, const MDB_val *v, void *arg)
{
    struct share_walk *w = arg;
    struct store_share sh;
    int rc = share_decode(k, v, &sh);
    return rc ? rc : w->cb(w->arg, &sh);
}

int store_share_list(struct store *s, const char *user,
                     int (*cb)(void *arg, const struct store_share *sh), void *arg)
{
    struct share_walk w = {cb, arg};
    return walk(s, s->shares, user, "list shares", each_share, &w);
}

/* ---------------------------------------------------------------- private circles */

struct private_job {
    bool remove;
    uint8_t key_bytes[KEY_MAX];
    MDB_val key;
    const struct store_private *circle;
};

static int private_fn(struct store *s, MDB_txn *txn, void *arg)
{
    struct private_job *j = arg;
    uint8_t rec[PRIVATE_RECORD];
    MDB_val v = {sizeof(rec), rec};
    if (j->remove)
        return mdb_del(txn, s->private_circles, &j->key, NULL);
    put_f64(rec, j->circle->lat);
    put_f64(rec + 8, j->circle->lon);
    put_f64(rec + 16, j->circle->radius_m);
    return mdb_put(txn, s->private_circles, &j->key, &v, 0);
}

static int private_change(struct store *s, struct private_job *j, const char *user,
                          const char *name)
{
    size_t n = make_key(j->key_bytes, user, name);
    if (!n)
        return -EINVAL;
    if (!s->have_shares)
        return -EROFS;
    j->key = (MDB_val){n, j->key_bytes};
    return store_with_write_txn(s, private_fn, j, "update private circle");
}

int store_private_put(struct store *s, const struct store_private *p)
{
    struct private_job j = {.circle = p};
    if (!(p->lat >= -90 && p->lat <= 90 && p->lon >= -180 && p->lon <= 180 && p->radius_m > 0 &&
          p->radius_m <= STORE_PRIVATE_RADIUS_MAX))
        return -EINVAL;
    return private_change(s, &j, p->user, p->name);
}

int store_private_delete(struct store *s, const char *user, const char *name)
{
    struct private_job j = {.remove = true};
    return private_change(s, &j, user, name);
}

struct private_walk {
    int (*cb)(void *arg, const struct store_private *p);
    void *arg;
};

static int each_private(const MDB_val *k, const MDB_val *v, void *arg)
{
    struct private_walk *w = arg;
    struct store_private p;
    if (!split_key(k, p.user, p.name, OWNTRACKS_NAME_MAX) || v->mv_size != PRIVATE_RECORD)
        return WL_ECORRUPT;
    p.lat = get_f64(v->mv_data);
    p.lon = get_f64((const uint8_t *)v->mv_data + 8);
    p.radius_m = get_f64((const uint8_t *)v->mv_data + 16);
    return w->cb(w->arg, &p);
}

int store_private_list(struct store *s, const char *user,
                       int (*cb)(void *arg, const struct store_private *p), void *arg)
{
    struct private_walk w = {cb, arg};
    return walk(s, s->private_circles, user, "list private circles", each_private, &w);
}
