#include <criterion/criterion.h>
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <string.h>

#include "helpers.h"
#include "store.h"
#include "token.h"
#include "wl.h"
#include "wtime.h"

/* 2026-12-06T00:00:00Z: the tests pass `now` in, so they hold on any date. */
#define NOW 1796515200LL

static char dir[256];
static struct store *st;

static void setup(void)
{
    tmpdir_make(dir, sizeof(dir));
    cr_assert_eq(store_open(dir, NULL, &st), 0);
}

static void teardown(void)
{
    store_close(st);
    tmpdir_remove(dir);
}

TestSuite(token, .init = setup, .fini = teardown);

/* Makes a token for user/name in the store; its secret goes into secret. */
static void add(const char *user, const char *name, bool read_only, int64_t expires,
                char secret[TOKEN_SECRET_SIZE])
{
    struct store_token t = {.read_only = read_only, .created = NOW, .expires = expires};
    snprintf(t.user, sizeof(t.user), "%s", user);
    snprintf(t.name, sizeof(t.name), "%s", name);
    token_make(secret, t.hash);
    cr_assert_eq(store_token_put(st, &t), 0, "a new token is stored");
}

Test(token, secrets_are_long_random_url_safe_and_prefixed)
{
    char a[TOKEN_SECRET_SIZE], b[TOKEN_SECRET_SIZE];
    uint8_t ha[STORE_TOKEN_HASH_BYTES], hb[STORE_TOKEN_HASH_BYTES], again[STORE_TOKEN_HASH_BYTES];
    token_make(a, ha);
    token_make(b, hb);
    cr_assert_eq(strlen(a), TOKEN_SECRET_LEN);
    cr_assert_eq(strlen(a), 47, "wlt_ and 43 base64 characters of 32 random bytes");
    cr_assert_eq(strncmp(a, "wlt_", 4), 0, "the prefix makes a token recognisable");
    cr_assert_eq(strspn(a + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                 43, "URL-safe base64 without padding: %s", a);
    cr_assert_str_neq(a, b, "two secrets differ");
    cr_assert_neq(memcmp(ha, hb, sizeof(ha)), 0, "and so do their hashes");
    cr_assert_eq(token_hash(a, strlen(a), again), 0);
    cr_assert_eq(memcmp(ha, again, sizeof(ha)), 0, "the stored hash is the secret's hash");
}

Test(token, only_a_well_formed_secret_is_hashed)
{
    char s[TOKEN_SECRET_SIZE];
    uint8_t h[STORE_TOKEN_HASH_BYTES];
    token_make(s, h);
    cr_assert_eq(token_hash(s, strlen(s) - 1, h), -EINVAL, "one character short");
    s[0] = 'x';
    cr_assert_eq(token_hash(s, strlen(s), h), -EINVAL, "another prefix");
    s[0] = 'w';
    s[10] = '+';
    cr_assert_eq(token_hash(s, strlen(s), h), -EINVAL, "standard base64 is not ours");
    s[10] = ' ';
    cr_assert_eq(token_hash(s, strlen(s), h), -EINVAL);
    cr_assert_eq(token_hash("", 0, h), -EINVAL);
    cr_assert_eq(token_hash("wlt_", 4, h), -EINVAL);
}

struct seen {
    char names[8][2 * OWNTRACKS_NAME_MAX + 2];
    size_t n;
};

static int collect(void *arg, const struct store_token *t)
{
    struct seen *s = arg;
    cr_assert_lt(s->n, 8);
    snprintf(s->names[s->n++], sizeof(s->names[0]), "%s/%s", t->user, t->name);
    return 0;
}

Test(token, are_stored_by_user_and_name_and_listed_in_order)
{
    char secret[TOKEN_SECRET_SIZE];
    add("bob", "cron", false, 0, secret);
    add("alice", "homeassistant", true, NOW + 3600, secret);
    add("alice", "backup", false, 0, secret);
    add("al", "x", false, 0, secret);

    struct store_token t;
    cr_assert_eq(store_token_get(st, "alice", "homeassistant", &t), 0);
    cr_assert_str_eq(t.user, "alice");
    cr_assert_str_eq(t.name, "homeassistant");
    cr_assert(t.read_only);
    cr_assert_eq(t.created, NOW);
    cr_assert_eq(t.expires, NOW + 3600);
    cr_assert_eq(t.last_used, 0, "never used yet");
    cr_assert_eq(store_token_get(st, "alice", "cron", &t), -ENOENT);

    struct store_token dup = t;
    cr_assert_eq(store_token_put(st, &dup), -EEXIST, "one name per user");

    struct seen all = {0}, alice = {0}, nobody = {0};
    cr_assert_eq(store_token_list(st, NULL, collect, &all), 0);
    cr_assert_eq(all.n, 4);
    cr_assert_str_eq(all.names[0], "al/x");
    cr_assert_str_eq(all.names[1], "alice/backup");
    cr_assert_str_eq(all.names[2], "alice/homeassistant");
    cr_assert_str_eq(all.names[3], "bob/cron");
    cr_assert_eq(store_token_list(st, "alice", collect, &alice), 0);
    cr_assert_eq(alice.n, 2, "a user's tokens only, not those of a user whose name starts alike");
    cr_assert_str_eq(alice.names[0], "alice/backup");
    cr_assert_eq(store_token_list(st, "carol", collect, &nobody), 0);
    cr_assert_eq(nobody.n, 0);

    cr_assert_eq(store_token_delete(st, "alice", "backup"), 0);
    cr_assert_eq(store_token_delete(st, "alice", "backup"), -ENOENT, "revoked already");
    cr_assert_eq(store_token_get(st, "alice", "backup", &t), -ENOENT);
}

Test(token, a_secret_finds_its_token_until_it_expires_or_is_revoked)
{
    char ha[TOKEN_SECRET_SIZE], cron[TOKEN_SECRET_SIZE], other[TOKEN_SECRET_SIZE];
    uint8_t unused[STORE_TOKEN_HASH_BYTES];
    struct store_token t;
    add("alice", "homeassistant", true, NOW + 3600, ha);
    add("bob", "cron", false, 0, cron);
    token_make(other, unused); /* never stored */

    cr_assert_eq(token_verify(st, ha, strlen(ha), NOW, &t), TOKEN_VALID);
    cr_assert_str_eq(t.user, "alice");
    cr_assert_str_eq(t.name, "homeassistant");
    cr_assert(t.read_only);
    cr_assert_eq(token_verify(st, cron, strlen(cron), NOW, &t), TOKEN_VALID);
    cr_assert_str_eq(t.user, "bob");
    cr_assert_not(t.read_only);
    cr_assert_eq(token_verify(st, other, strlen(other), NOW, &t), TOKEN_UNKNOWN);
    cr_assert_eq(token_verify(st, "wlt_short", 9, NOW, &t), TOKEN_MALFORMED);

    cr_assert_eq(token_verify(st, ha, strlen(ha), NOW + 3599, &t), TOKEN_VALID);
    cr_assert_eq(token_verify(st, ha, strlen(ha), NOW + 3600, &t), TOKEN_EXPIRED,
                 "refused from its expiry on");
    cr_assert_str_eq(t.name, "homeassistant", "an expired token is still named (for the log)");
    cr_assert_eq(token_verify(st, cron, strlen(cron), NOW + 100 * 365 * 86400LL, &t), TOKEN_VALID,
                 "no expiry: never expires");

    cr_assert_eq(store_token_delete(st, "bob", "cron"), 0);
    cr_assert_eq(token_verify(st, cron, strlen(cron), NOW, &t), TOKEN_UNKNOWN,
                 "revoked: unknown at the next look");
}

Test(token, last_use_is_written_at_most_once_a_minute)
{
    char secret[TOKEN_SECRET_SIZE];
    struct store_token t, now;
    add("alice", "ha", false, 0, secret);

    cr_assert_eq(token_verify(st, secret, strlen(secret), NOW, &t), TOKEN_VALID);
    token_note_use(st, &t, NOW, "127.0.0.1");
    cr_assert_eq(store_token_get(st, "alice", "ha", &now), 0);
    cr_assert_eq(now.last_used, NOW, "the first use is recorded");

    cr_assert_eq(token_verify(st, secret, strlen(secret), NOW + 59, &t), TOKEN_VALID);
    token_note_use(st, &t, NOW + 59, "127.0.0.1");
    cr_assert_eq(store_token_get(st, "alice", "ha", &now), 0);
    cr_assert_eq(now.last_used, NOW, "not written again within TOKEN_USE_RECORD_S");

    cr_assert_eq(token_verify(st, secret, strlen(secret), NOW + 60, &t), TOKEN_VALID);
    token_note_use(st, &t, NOW + 60, "127.0.0.1");
    cr_assert_eq(store_token_get(st, "alice", "ha", &now), 0);
    cr_assert_eq(now.last_used, NOW + 60, "written again a minute later");

    cr_assert_eq(store_token_touch(st, "alice", "ha", t.hash, NOW + 30), 0);
    cr_assert_eq(store_token_get(st, "alice", "ha", &now), 0);
    cr_assert_eq(now.last_used, NOW + 60, "a late writer never moves it back");

    /* Revoked and made again under the same name: the old token's use is not the new one's. */
    cr_assert_eq(store_token_delete(st, "alice", "ha"), 0);
    add("alice", "ha", false, 0, secret);
    cr_assert_eq(store_token_touch(st, "alice", "ha", t.hash, NOW + 120), -ENOENT);
    cr_assert_eq(store_token_get(st, "alice", "ha", &now), 0);
    cr_assert_eq(now.last_used, 0);
}

Test(token, a_store_made_before_tokens_gains_the_table_when_opened_for_writing)
{
    char secret[TOKEN_SECRET_SIZE];
    add("alice", "ha", false, 0, secret);
    store_close(st);
    st = NULL;
    /* What an older wherelog made: the same store without the tokens table. */
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi tokens;
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 8);
    cr_assert_eq(mdb_env_open(env, dir, 0, 0600), 0);
    cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    cr_assert_eq(mdb_dbi_open(txn, "tokens", 0, &tokens), 0);
    cr_assert_eq(mdb_drop(txn, tokens, 1), 0);
    cr_assert_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    struct store_options ro = {.read_only = true};
    struct store_token t;
    struct seen seen = {0};
    cr_assert_eq(store_open(dir, &ro, &st), 0, "a read-only open does not need the table");
    cr_assert_eq(store_token_list(st, NULL, collect, &seen), 0);
    cr_assert_eq(seen.n, 0);
    cr_assert_eq(store_token_get(st, "alice", "ha", &t), -ENOENT);
    cr_assert_eq(token_verify(st, secret, strlen(secret), NOW, &t), TOKEN_UNKNOWN);
    cr_assert_eq(store_token_delete(st, "alice", "ha"), -EROFS);
    store_close(st);

    cr_assert_eq(store_open(dir, NULL, &st), 0, "opened for writing, it gains the table");
    add("alice", "ha", false, 0, secret);
    cr_assert_eq(token_verify(st, secret, strlen(secret), NOW, &t), TOKEN_VALID);
}

Test(token, expiry_is_a_duration_or_a_later_time)
{
    int64_t e = 0;
    const char *why = NULL;
    cr_assert_eq(token_parse_expiry("90m", NOW, &e, &why), 0);
    cr_assert_eq(e, NOW + 90 * 60);
    cr_assert_eq(token_parse_expiry("24h", NOW, &e, &why), 0);
    cr_assert_eq(e, NOW + 86400);
    cr_assert_eq(token_parse_expiry("30d", NOW, &e, &why), 0);
    cr_assert_eq(e, NOW + 30 * 86400);
    cr_assert_eq(token_parse_expiry("2w", NOW, &e, &why), 0);
    cr_assert_eq(e, NOW + 14 * 86400);
    cr_assert_eq(token_parse_expiry("45s", NOW, &e, &why), 0);
    cr_assert_eq(e, NOW + 45);
    cr_assert_eq(token_parse_expiry("2027-01-01", NOW, &e, &why), 0);
    cr_assert_eq(e, 1798761600, "a date is its first moment");
    cr_assert_eq(token_parse_expiry("2w", WTIME_MAX - 60, &e, &why), 0,
                 "an expiry may lie beyond the last point time wherelog stores");
    cr_assert_eq(e, WTIME_MAX - 60 + 14 * 86400);
    const char *bad[] = {"",     "0h",  "h",          "5x",         "5 h",        "-5h",
                         "1.5h", "10y", "2020-01-01", "1796515200", "1234567890w"};
    for (size_t i = 0; i < WL_ARRAY_LEN(bad); i++) {
        why = NULL;
        cr_assert_eq(token_parse_expiry(bad[i], NOW, &e, &why), -EINVAL, "'%s' is refused", bad[i]);
        cr_assert_not_null(why, "and the refusal says why");
    }
}
