/*
 * token.h - per-user API tokens for scripts (Home Assistant, cron jobs): making their secrets,
 * recognising them, and recording their use. A token acts as its user, seeing what the ACL
 * lets that user see (auth.h); a read-only one changes nothing. The tokens live in the store
 * (store.h, "API tokens"): the command line adds and revokes them while the server runs, and
 * the server reads the store for every request that carries one, never a copy, so a revoked
 * token fails at its next request.
 *
 * A secret is TOKEN_PREFIX followed by TOKEN_RANDOM_BYTES bytes from libsodium's randombytes
 * in unpadded URL-safe base64 ("wlt_" and 43 characters of [A-Za-z0-9_-]): the prefix lets
 * people and secret scanners recognise one. Only its hash is stored; the secret is shown once,
 * when it is made, and never logged.
 *
 * No state of its own: any thread, with the store's rules (store.h).
 */
#ifndef WL_TOKEN_H
#define WL_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define TOKEN_PREFIX       "wlt_"
#define TOKEN_RANDOM_BYTES 32 /* 256 bits: never guessed, however many tries (token.c) */
#define TOKEN_SECRET_LEN   (sizeof(TOKEN_PREFIX) - 1 + (TOKEN_RANDOM_BYTES * 4 + 2) / 3)
#define TOKEN_SECRET_SIZE  (TOKEN_SECRET_LEN + 1)
/* A token's last use is written to the store at most this often: a script polling every few
 * seconds must not cost a durable write (an fsync) per request, and a minute is as precise
 * as anybody reading `token list` needs. */
#define TOKEN_USE_RECORD_S 60

/* Makes a new secret (NUL-terminated) and the hash to store for it. Cannot fail (libsodium is
 * initialised here if need be; a libsodium that cannot start aborts). */
void token_make(char secret[TOKEN_SECRET_SIZE], uint8_t hash[STORE_TOKEN_HASH_BYTES]);
/* The hash of a presented secret of len bytes. Returns 0, or -EINVAL when the text cannot be
 * a wherelog token (another prefix, length or alphabet): nothing to look up. */
int token_hash(const char *secret, size_t len, uint8_t hash[STORE_TOKEN_HASH_BYTES]);

enum token_verdict {
    TOKEN_VALID,
    TOKEN_MALFORMED, /* not a wherelog token at all */
    TOKEN_UNKNOWN,   /* no such token: a wrong secret, or a revoked token */
    TOKEN_EXPIRED,   /* its expiry is at or before now */
};

/*
 * Looks up the token whose secret this is (len bytes) in the store, as it is now. Returns a
 * verdict (>= 0): for TOKEN_VALID and TOKEN_EXPIRED, *out is that token; or a store error.
 */
int token_verify(struct store *s, const char *secret, size_t len, int64_t now,
                 struct store_token *out);

/*
 * Records that token t (as token_verify returned it) was used at `now` by `client` (an
 * address, for the log), unless its recorded last use is less than TOKEN_USE_RECORD_S old.
 * When it records, it also logs the use by user and token name (info). Failures are logged
 * and otherwise ignored: the request goes on.
 */
void token_note_use(struct store *s, const struct store_token *t, int64_t now, const char *client);

/*
 * When a token made at `now` expires, from what a person typed: a duration with units
 * ("90m", "24h", "30d", "2w", "1d12h": wtime_parse_duration, at most TOKEN_EXPIRY_MAX) or a
 * time as wtime_parse() reads it ("2027-01-01"; digits alone are epoch seconds), which must lie
 * after now. Returns 0 with *expires set, or -EINVAL with *why (static text) set.
 */
#define TOKEN_EXPIRY_MAX (100LL * 366 * 86400) /* a century: "never" is no expiry at all */
int token_parse_expiry(const char *text, int64_t now, int64_t *expires, const char **why);

#endif
