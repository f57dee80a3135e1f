/*
 * share.h - share links: a secret in a URL that shows one device's live position or a fixed
 * range of its track to anyone who has it, read-only, until it expires or is revoked; and the
 * privacy rule that such a view never shows a point inside one of the user's private circles.
 * The shares live in the store (store.h, "Share links"), read for every request that carries
 * one, never a copy: a revoked link fails at its next request, whoever revoked it.
 *
 * A secret is SHARE_PREFIX and SHARE_RANDOM_BYTES bytes from libsodium's randombytes in
 * unpadded URL-safe base64 ("wls_" and 43 characters), hashed like an API token (token.h); only
 * the hash is stored, the secret is shown once. A share secret is never an API token: auth.h
 * refuses it as a Bearer token, and only the share routes (route.h, ROUTE_SHARE) read it.
 *
 * No state of its own: any thread, with the store's rules (store.h).
 */
#ifndef WL_SHARE_H
#define WL_SHARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define SHARE_PREFIX       "wls_"
#define SHARE_RANDOM_BYTES 32 /* 256 bits, as a token's */
#define SHARE_SECRET_LEN   (sizeof(SHARE_PREFIX) - 1 + (SHARE_RANDOM_BYTES * 4 + 2) / 3)
#define SHARE_SECRET_SIZE  (SHARE_SECRET_LEN + 1)
/* A live share shows the device from this long before it was made: a phone reports every few
 * minutes or less when it moves, so "where it is now" is its fix of a while ago. */
#define SHARE_LIVE_BACK_S 3600
/* Expiry bounds: "minutes to months". */
#define SHARE_EXPIRY_MIN_S 60
#define SHARE_EXPIRY_MAX_S (366 * 86400)
/* The last opening is written at most this often (a durable write per page load would let
 * anyone with a link make the server fsync at will). */
#define SHARE_OPEN_RECORD_S 60

/* Makes a new secret (NUL-terminated), its hash, and a random id (STORE_SHARE_ID_LEN hex). */
void share_make(char secret[SHARE_SECRET_SIZE], uint8_t hash[STORE_TOKEN_HASH_BYTES],
                char id[STORE_SHARE_ID_LEN + 1]);

/* What a new share is to be (the texts as a person or a client gave them). */
struct share_request {
    const char *creator; /* whose share it is */
    const char *owner;   /* the device's user (the creator, or one they may see) */
    const char *device;
    bool live;
    int64_t from, to;    /* the range when not live (from <= to) */
    const char *expires; /* a duration or a time (token_parse_expiry) */
    const char *label;   /* or NULL */
};

/*
 * Makes and stores a share. On success returns 0 with the secret (shown once) and the stored
 * share in *out. Otherwise returns -EINVAL (with *why: a bad expiry, a range in a live share,
 * a label too long), -ENOENT (no such device; *why set), -EROFS or a store error.
 */
int share_create(struct store *s, const struct share_request *rq, int64_t now,
                 char secret[SHARE_SECRET_SIZE], struct store_share *out, const char **why);

/* The times a share shows, [*from, *to]: its range, or for a live share from SHARE_LIVE_BACK_S
 * before it was made until it expires. Not cut at now: a range that reaches into the future
 * (today) fills as fixes arrive, and a phone's clock may run ahead. (pure) */
void share_window(const struct store_share *sh, int64_t *from, int64_t *to);

enum share_verdict {
    SHARE_VALID,
    SHARE_MALFORMED, /* not a share secret at all */
    SHARE_UNKNOWN,   /* no such share */
    SHARE_EXPIRED,   /* its expiry is at or before now */
    SHARE_REVOKED,
};

/* Looks up the share whose secret this is (len bytes), comparing every stored hash in
 * constant time. Returns a verdict (>= 0), with *out set for VALID, EXPIRED and REVOKED; or a
 * store error. */
int share_verify(struct store *s, const char *secret, size_t len, int64_t now,
                 struct store_share *out);

/* Records that sh was opened at now, unless the record is less than SHARE_OPEN_RECORD_S old.
 * Failures are logged and otherwise ignored. */
void share_note_open(struct store *s, const struct store_share *sh, int64_t now);

/* Is (lat, lon) inside one of the n circles? (pure) */
bool share_is_private(const struct store_private *circles, size_t n, double lat, double lon);

/* Cutting a track at private circles, fix by fix in time order: a fix inside one is dropped
 * and ends the line; the next fix outside starts a new line. (pure) */
enum share_cut_step {
    SHARE_CUT_DROP,     /* inside a private circle: not shown */
    SHARE_CUT_NEW_LINE, /* shown, starting a line (the first fix, or the first after a cut) */
    SHARE_CUT_CONTINUE, /* shown, continuing the current line */
};
struct share_cut {
    bool in_line; /* start with {false} */
};
enum share_cut_step share_cut_next(struct share_cut *c, const struct store_private *circles,
                                   size_t n, double lat, double lon);

/* The private circles of `user`: those of `wherelog private` and the user's places marked
 * private (store.h, STORE_PLACE_PRIVATE), in an array the caller frees (NULL with *n 0 when
 * none). Returns 0, -ENOMEM or a store error. */
int share_private_circles(struct store *s, const char *user, struct store_private **out, size_t *n);

/* Writes an epoch time as ISO 8601 UTC, or "-" for 0 (for listings). */
const char *share_time(int64_t t, char buf[32]);

#endif
