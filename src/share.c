#include "share.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geo.h"
#include "log.h"
#include "token.h"
#include "wl.h"
#include "wtime.h"

#define PREFIX_LEN (sizeof(SHARE_PREFIX) - 1)
_Static_assert(SHARE_SECRET_LEN == PREFIX_LEN + 43, "32 bytes are 43 base64 characters");

/* A fast unkeyed hash is enough for 256 random bits (token.c says why). */
static void hash_secret(const char *secret, size_t len, uint8_t hash[STORE_TOKEN_HASH_BYTES])
{
    crypto_generichash(hash, STORE_TOKEN_HASH_BYTES, (const unsigned char *)secret, len, NULL, 0);
}

void share_make(char secret[SHARE_SECRET_SIZE], uint8_t hash[STORE_TOKEN_HASH_BYTES],
                char id[STORE_SHARE_ID_LEN + 1])
{
    unsigned char rnd[SHARE_RANDOM_BYTES], idb[STORE_SHARE_ID_LEN / 2];

    if (sodium_init() < 0)
        abort(); /* no safe randomness: nothing sensible to make */
    randombytes_buf(rnd, sizeof(rnd));
    randombytes_buf(idb, sizeof(idb));
    memcpy(secret, SHARE_PREFIX, PREFIX_LEN);
    sodium_bin2base64(secret + PREFIX_LEN, SHARE_SECRET_SIZE - PREFIX_LEN, rnd, sizeof(rnd),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_bin2hex(id, STORE_SHARE_ID_LEN + 1, idb, sizeof(idb));
    sodium_memzero(rnd, sizeof(rnd));
    hash_secret(secret, SHARE_SECRET_LEN, hash);
}

static bool url_safe(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

struct search {
    uint8_t hash[STORE_TOKEN_HASH_BYTES];
    struct store_share *found;
};

static int match(void *arg, const struct store_share *sh)
{
    struct search *s = arg;
    if (sodium_memcmp(sh->hash, s->hash, STORE_TOKEN_HASH_BYTES) != 0)
        return 0;
    *s->found = *sh;
    return 1;
}

int share_verify(struct store *s, const char *secret, size_t len, int64_t now,
                 struct store_share *out)
{
    struct search search = {.found = out};

    if (len != SHARE_SECRET_LEN || memcmp(secret, SHARE_PREFIX, PREFIX_LEN) != 0)
        return SHARE_MALFORMED;
    for (size_t i = PREFIX_LEN; i < len; i++)
        if (!url_safe(secret[i]))
            return SHARE_MALFORMED;
    hash_secret(secret, len, search.hash);
    int rc = store_share_list(s, NULL, match, &search);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return SHARE_UNKNOWN;
    if (out->revoked)
        return SHARE_REVOKED;
    return now >= out->expires ? SHARE_EXPIRED : SHARE_VALID;
}

void share_note_open(struct store *s, const struct store_share *sh, int64_t now)
{
    if (now >= sh->last_opened && now - sh->last_opened < SHARE_OPEN_RECORD_S)
        return;
    int rc = store_share_touch(s, sh->user, sh->id, sh->hash, now);
    if (rc == 0)
        wl_log(WL_LOG_INFO, "share", "share opened user=%s id=%s", sh->user, sh->id);
    else if (rc != -ENOENT)
        wl_log(WL_LOG_WARN, "share", "cannot record the opening of share user=%s id=%s: %s",
               sh->user, sh->id, wl_strerror(rc));
}

bool share_is_private(const struct store_private *circles, size_t n, double lat, double lon)
{
    for (size_t i = 0; i < n; i++)
        if (geo_distance_m(lat, lon, circles[i].lat, circles[i].lon) <= circles[i].radius_m)
            return true;
    return false;
}

enum share_cut_step share_cut_next(struct share_cut *c, const struct store_private *circles,
                                   size_t n, double lat, double lon)
{
    if (share_is_private(circles, n, lat, lon)) {
        c->in_line = false;
        return SHARE_CUT_DROP;
    }
    if (c->in_line)
        return SHARE_CUT_CONTINUE;
    c->in_line = true;
    return SHARE_CUT_NEW_LINE;
}

struct collect {
    struct store_private *v;
    size_t n, cap;
};

static int collect(void *arg, const struct store_private *p)
{
    struct collect *c = arg;
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 8;
        struct store_private *v = realloc(c->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n++] = *p;
    return 0;
}

int share_private_circles(struct store *s, const char *user, struct store_private **out, size_t *n)
{
    struct collect c = {0};
    struct store_place *places = NULL;
    size_t nplaces = 0;
    int rc = store_private_list(s, user, collect, &c);
    /* The user's places marked private (wherelog place add --private, the map's places). */
    if (rc == 0)
        rc = store_places(s, user, &places, &nplaces);
    for (size_t i = 0; rc == 0 && i < nplaces; i++) {
        if (!(places[i].flags & STORE_PLACE_PRIVATE))
            continue;
        struct store_private p = {
            .lat = places[i].lat, .lon = places[i].lon, .radius_m = places[i].radius_m};
        snprintf(p.user, sizeof(p.user), "%s", places[i].user);
        snprintf(p.name, sizeof(p.name), "%.*s", (int)sizeof(p.name) - 1, places[i].name);
        rc = collect(&c, &p);
    }
    free(places);
    if (rc) {
        free(c.v);
        c.v = NULL;
        c.n = 0;
    }
    *out = c.v;
    *n = c.n;
    return rc;
}

const char *share_time(int64_t t, char buf[32])
{
    char iso[WTIME_ISO_SIZE];
    if (!t) {
        snprintf(buf, 32, "-");
        return buf;
    }
    wtime_iso(t, iso);
    snprintf(buf, 32, "%s", iso);
    return buf;
}

int share_create(struct store *s, const struct share_request *rq, int64_t now,
                 char secret[SHARE_SECRET_SIZE], struct store_share *out, const char **why)
{
    struct store_device dev;
    int rc;

    memset(out, 0, sizeof(*out));
    if (token_parse_expiry(rq->expires, now, &out->expires, why) != 0)
        return -EINVAL;
    if (out->expires - now < SHARE_EXPIRY_MIN_S || out->expires - now > SHARE_EXPIRY_MAX_S) {
        *why = "a share expires after a minute at the least and a year at the most";
        return -EINVAL;
    }
    if (!rq->live && rq->from > rq->to) {
        *why = "the range starts after it ends";
        return -EINVAL;
    }
    if (rq->label && strlen(rq->label) > STORE_SHARE_LABEL_MAX) {
        *why = "the label is longer than 100 bytes";
        return -EINVAL;
    }
    if (strlen(rq->creator) > OWNTRACKS_NAME_MAX || strlen(rq->owner) > OWNTRACKS_NAME_MAX ||
        strlen(rq->device) > OWNTRACKS_NAME_MAX) {
        *why = "a name is too long";
        return -EINVAL;
    }
    if ((rc = store_get_device(s, rq->owner, rq->device, &dev)) != 0) {
        *why = "no such device";
        return rc;
    }
    snprintf(out->user, sizeof(out->user), "%s", rq->creator);
    snprintf(out->owner, sizeof(out->owner), "%s", rq->owner);
    snprintf(out->device, sizeof(out->device), "%s", rq->device);
    snprintf(out->label, sizeof(out->label), "%s", rq->label ? rq->label : "");
    out->live = rq->live;
    out->from = rq->live ? 0 : rq->from;
    out->to = rq->live ? 0 : rq->to;
    out->created = now;
    /* A new id on the rare clash of 48 random bits within one user's shares. */
    for (int tries = 0; tries < 4; tries++) {
        share_make(secret, out->hash, out->id);
        if ((rc = store_share_put(s, out)) != -EEXIST)
            break;
    }
    if (rc)
        *why = wl_strerror(rc);
    return rc;
}

void share_window(const struct store_share *sh, int64_t *from, int64_t *to)
{
    *from = sh->live ? sh->created - SHARE_LIVE_BACK_S : sh->from;
    *to = sh->live ? sh->expires : sh->to;
}
