#include "token.h"

#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "wl.h"
#include "wtime.h"

#define PREFIX_LEN (sizeof(TOKEN_PREFIX) - 1)
_Static_assert(TOKEN_SECRET_LEN == PREFIX_LEN + 43, "32 bytes are 43 base64 characters");

/*
 * The stored hash is a plain BLAKE2b-256 (crypto_generichash) of the secret text. A slow
 * password hash (bcrypt, Argon2) exists to make guessing a low-entropy password from a
 * stolen hash expensive; a token carries 256 random bits, which nobody can enumerate however
 * fast each try is, so a fast hash loses no safety, costs a request a microsecond instead of
 * tens of milliseconds, and a stolen store still yields no usable token. No key either: one
 * kept beside the hashes in the store would add nothing.
 */
static void hash_secret(const char *secret, size_t len, uint8_t hash[STORE_TOKEN_HASH_BYTES])
{
    crypto_generichash(hash, STORE_TOKEN_HASH_BYTES, (const unsigned char *)secret, len, NULL, 0);
}

void token_make(char secret[TOKEN_SECRET_SIZE], uint8_t hash[STORE_TOKEN_HASH_BYTES])
{
    unsigned char rnd[TOKEN_RANDOM_BYTES];

    if (sodium_init() < 0)
        abort(); /* no safe randomness: nothing sensible to make */
    randombytes_buf(rnd, sizeof(rnd));
    memcpy(secret, TOKEN_PREFIX, PREFIX_LEN);
    sodium_bin2base64(secret + PREFIX_LEN, TOKEN_SECRET_SIZE - PREFIX_LEN, rnd, sizeof(rnd),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(rnd, sizeof(rnd));
    hash_secret(secret, TOKEN_SECRET_LEN, hash);
}

static bool url_safe(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

int token_hash(const char *secret, size_t len, uint8_t hash[STORE_TOKEN_HASH_BYTES])
{
    if (len != TOKEN_SECRET_LEN || memcmp(secret, TOKEN_PREFIX, PREFIX_LEN) != 0)
        return -EINVAL;
    for (size_t i = PREFIX_LEN; i < len; i++)
        if (!url_safe(secret[i]))
            return -EINVAL;
    hash_secret(secret, len, hash);
    return 0;
}

struct search {
    const uint8_t *hash;
    struct store_token *found;
};

/* Compares every stored hash in constant time (sodium_memcmp), so that how long a lookup takes
 * says nothing about how close a guess came to any token. */
static int match(void *arg, const struct store_token *t)
{
    struct search *s = arg;
    if (sodium_memcmp(t->hash, s->hash, STORE_TOKEN_HASH_BYTES) != 0)
        return 0;
    *s->found = *t;
    return 1;
}

int token_verify(struct store *s, const char *secret, size_t len, int64_t now,
                 struct store_token *out)
{
    uint8_t hash[STORE_TOKEN_HASH_BYTES];
    struct search search = {.hash = hash, .found = out};

    if (token_hash(secret, len, hash) != 0)
        return TOKEN_MALFORMED;
    int rc = store_token_list(s, NULL, match, &search);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return TOKEN_UNKNOWN;
    return out->expires && now >= out->expires ? TOKEN_EXPIRED : TOKEN_VALID;
}

void token_note_use(struct store *s, const struct store_token *t, int64_t now, const char *client)
{
    char name[WL_LOG_QUOTE_SIZE];

    if (now >= t->last_used && now - t->last_used < TOKEN_USE_RECORD_S)
        return;
    wl_log_quote(name, sizeof(name), t->name, strlen(t->name));
    int rc = store_token_touch(s, t->user, t->name, t->hash, now);
    if (rc == 0)
        wl_log(WL_LOG_INFO, "token", "token used user=%s token=\"%s\" client=%s", t->user, name,
               client);
    else if (rc != -ENOENT) /* -ENOENT: revoked meanwhile; this request was already let in */
        wl_log(WL_LOG_WARN, "token", "cannot record the use of token user=%s token=\"%s\": %s",
               t->user, name, wl_strerror(rc));
}

int token_parse_expiry(const char *text, int64_t now, int64_t *expires, const char **why)
{
    struct wtime t;
    int64_t n;

    /* digits alone are a time (epoch seconds), not a duration in seconds */
    if (text[strspn(text, "0123456789")] && wtime_parse_duration(text, TOKEN_EXPIRY_MAX, &n) == 0) {
        if (n <= 0) {
            *why = "a duration must be longer than 0";
            return -EINVAL;
        }
        *expires = now + n;
        return 0;
    }
    if (wtime_parse(text, &t) != 0) {
        *why = "not a duration (90m, 24h, 30d, 2w) or a time (2027-01-01, 2027-01-01T12:00Z)";
        return -EINVAL;
    }
    if (t.t <= now) {
        *why = "that time has passed already";
        return -EINVAL;
    }
    *expires = t.t;
    return 0;
}
