#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "share.h"
#include "store.h"
#include "wl.h"

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

TestSuite(share, .init = setup, .fini = teardown);

/* Stores a share of owner/device made by user; its secret goes into secret. */
static struct store_share add(const char *user, bool live, int64_t created, int64_t expires,
                              const char *label, char secret[SHARE_SECRET_SIZE])
{
    struct store_share sh = {.live = live,
                             .from = live ? 0 : NOW - 86400,
                             .to = live ? 0 : NOW - 3600,
                             .created = created,
                             .expires = expires};
    snprintf(sh.user, sizeof(sh.user), "%s", user);
    snprintf(sh.owner, sizeof(sh.owner), "%s", "owner");
    snprintf(sh.device, sizeof(sh.device), "%s", "phone");
    snprintf(sh.label, sizeof(sh.label), "%s", label);
    share_make(secret, sh.hash, sh.id);
    cr_assert_eq(store_share_put(st, &sh), 0, "a new share is stored");
    return sh;
}

struct seen {
    struct store_share v[8];
    size_t n;
};

static int collect(void *arg, const struct store_share *sh)
{
    struct seen *s = arg;
    cr_assert_lt(s->n, 8);
    s->v[s->n++] = *sh;
    return 0;
}

Test(share, secrets_are_long_random_and_prefixed_and_ids_hex)
{
    char a[SHARE_SECRET_SIZE], b[SHARE_SECRET_SIZE], ida[STORE_SHARE_ID_LEN + 1],
        idb[STORE_SHARE_ID_LEN + 1];
    uint8_t ha[STORE_TOKEN_HASH_BYTES], hb[STORE_TOKEN_HASH_BYTES];
    share_make(a, ha, ida);
    share_make(b, hb, idb);
    cr_assert_eq(strlen(a), 47, "wls_ and 43 base64 characters of 32 random bytes");
    cr_assert_eq(strncmp(a, "wls_", 4), 0);
    cr_assert_eq(strspn(a + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                 43);
    cr_assert_str_neq(a, b);
    cr_assert_neq(memcmp(ha, hb, sizeof(ha)), 0);
    cr_assert_eq(strlen(ida), STORE_SHARE_ID_LEN);
    cr_assert_eq(strspn(ida, "0123456789abcdef"), STORE_SHARE_ID_LEN);
    cr_assert_str_neq(ida, idb);
}

Test(share, a_stored_share_reads_back_whole_by_user)
{
    char s1[SHARE_SECRET_SIZE], s2[SHARE_SECRET_SIZE];
    char label[STORE_SHARE_LABEL_MAX + 1];
    memset(label, 'x', STORE_SHARE_LABEL_MAX);
    label[STORE_SHARE_LABEL_MAX] = '\0';
    struct store_share a = add("alice", false, NOW, NOW + 3600, label, s1);
    add("bob", true, NOW, NOW + 60, "", s2);
    struct seen seen = {0};
    cr_assert_eq(store_share_list(st, "alice", collect, &seen), 0);
    cr_assert_eq(seen.n, 1, "only alice's");
    struct store_share *b = &seen.v[0];
    cr_assert_str_eq(b->user, "alice");
    cr_assert_str_eq(b->id, a.id);
    cr_assert_str_eq(b->owner, "owner");
    cr_assert_str_eq(b->device, "phone");
    cr_assert_str_eq(b->label, label, "a label of the longest length survives");
    cr_assert_eq(memcmp(b->hash, a.hash, sizeof(a.hash)), 0);
    cr_assert(!b->live && !b->revoked);
    cr_assert_eq(b->from, NOW - 86400);
    cr_assert_eq(b->to, NOW - 3600);
    cr_assert_eq(b->created, NOW);
    cr_assert_eq(b->expires, NOW + 3600);
    cr_assert_eq(b->last_opened, 0);
    seen.n = 0;
    cr_assert_eq(store_share_list(st, NULL, collect, &seen), 0);
    cr_assert_eq(seen.n, 2, "everyone's");
    cr_assert(seen.v[1].live);
}

Test(share, bad_shares_are_refused)
{
    char s[SHARE_SECRET_SIZE];
    struct store_share sh = add("alice", true, NOW, NOW + 60, "", s);
    cr_assert_eq(store_share_put(st, &sh), -EEXIST, "one id per user");
    struct store_share bad = sh;
    bad.device[0] = '\0';
    cr_assert_eq(store_share_put(st, &bad), -EINVAL);
    bad = sh;
    memset(bad.label, 'x', sizeof(bad.label) - 1);
    bad.label[sizeof(bad.label) - 1] = '\0';
    bad.id[0] = sh.id[0] == 'f' ? 'e' : 'f'; /* another id */
    bad.label[STORE_SHARE_LABEL_MAX - 1] = 'y';
    cr_assert_eq(store_share_put(st, &bad), 0, "a label of exactly the maximum");
    cr_assert_eq(store_share_revoke(st, "alice", "nosuchid"), -ENOENT);
    cr_assert_eq(store_share_revoke(st, "nobody", sh.id), -ENOENT);
    cr_assert_eq(store_share_revoke(st, "alice", "0123456789abcdef"), -EINVAL, "too long an id");
}

Test(share, verify_tells_valid_unknown_malformed_expired_and_revoked_apart)
{
    char s[SHARE_SECRET_SIZE], other[SHARE_SECRET_SIZE];
    uint8_t h[STORE_TOKEN_HASH_BYTES];
    char id[STORE_SHARE_ID_LEN + 1];
    struct store_share made = add("alice", true, NOW, NOW + 600, "walk", s), out;
    share_make(other, h, id);

    cr_assert_eq(share_verify(st, s, strlen(s), NOW, &out), SHARE_VALID);
    cr_assert_str_eq(out.id, made.id);
    cr_assert_eq(share_verify(st, other, strlen(other), NOW, &out), SHARE_UNKNOWN);
    cr_assert_eq(share_verify(st, s, strlen(s) - 1, NOW, &out), SHARE_MALFORMED);
    char wrong[SHARE_SECRET_SIZE];
    memcpy(wrong, s, sizeof(wrong));
    wrong[10] = '/';
    cr_assert_eq(share_verify(st, wrong, strlen(wrong), NOW, &out), SHARE_MALFORMED);
    cr_assert_eq(share_verify(st, "wlt_x", 5, NOW, &out), SHARE_MALFORMED, "a token is not");
    cr_assert_eq(share_verify(st, s, strlen(s), NOW + 599, &out), SHARE_VALID);
    cr_assert_eq(share_verify(st, s, strlen(s), NOW + 600, &out), SHARE_EXPIRED, "at expiry");
    cr_assert_eq(store_share_revoke(st, "alice", made.id), 0);
    cr_assert_eq(store_share_revoke(st, "alice", made.id), 0, "twice is harmless");
    cr_assert_eq(share_verify(st, s, strlen(s), NOW, &out), SHARE_REVOKED, "at once");
    cr_assert(out.revoked);
}

Test(share, opening_is_recorded_at_most_once_a_minute)
{
    char s[SHARE_SECRET_SIZE];
    struct store_share sh = add("alice", true, NOW, NOW + 3600, "", s), out;
    share_note_open(st, &sh, NOW + 10);
    cr_assert_eq(share_verify(st, s, strlen(s), NOW + 10, &out), SHARE_VALID);
    cr_assert_eq(out.last_opened, NOW + 10);
    share_note_open(st, &out, NOW + 10 + SHARE_OPEN_RECORD_S - 1);
    cr_assert_eq(share_verify(st, s, strlen(s), NOW, &out), SHARE_VALID);
    cr_assert_eq(out.last_opened, NOW + 10, "not again within the minute");
    share_note_open(st, &out, NOW + 10 + SHARE_OPEN_RECORD_S);
    cr_assert_eq(share_verify(st, s, strlen(s), NOW, &out), SHARE_VALID);
    cr_assert_eq(out.last_opened, NOW + 10 + SHARE_OPEN_RECORD_S);
    cr_assert_eq(
        store_share_touch(st, "alice", out.id, (uint8_t[STORE_TOKEN_HASH_BYTES]){0}, NOW + 9999),
        -ENOENT, "another secret under the id does not touch it");
}

Test(share, old_expired_shares_go_when_a_new_one_is_made)
{
    char s[SHARE_SECRET_SIZE];
    add("alice", true, NOW - 90 * 86400, NOW - 60 * 86400, "old", s);
    add("alice", true, NOW - 86400, NOW - 3600, "recent", s);
    add("bob", true, NOW - 90 * 86400, NOW - 60 * 86400, "bob's", s);
    add("alice", true, NOW, NOW + 60, "new", s);
    struct seen seen = {0};
    cr_assert_eq(store_share_list(st, NULL, collect, &seen), 0);
    cr_assert_eq(seen.n, 3, "alice's share that expired 60 days ago is gone");
    for (size_t i = 0; i < seen.n; i++)
        cr_assert_str_neq(seen.v[i].label, "old");
}

Test(share, create_checks_expiry_range_label_and_device)
{
    char s[SHARE_SECRET_SIZE];
    struct store_share out;
    const char *why = NULL;
    struct share_request rq = {
        .creator = "alice", .owner = "alice", .device = "phone", .live = true, .expires = "30s"};
    cr_assert_eq(share_create(st, &rq, NOW, s, &out, &why), -EINVAL, "under a minute");
    rq.expires = "400d";
    cr_assert_eq(share_create(st, &rq, NOW, s, &out, &why), -EINVAL, "over a year");
    rq.expires = "soon";
    cr_assert_eq(share_create(st, &rq, NOW, s, &out, &why), -EINVAL);
    rq.expires = "24h";
    rq.live = false;
    rq.from = NOW;
    rq.to = NOW - 1;
    cr_assert_eq(share_create(st, &rq, NOW, s, &out, &why), -EINVAL);
    cr_assert_str_eq(why, "the range starts after it ends");
    rq.to = NOW;
    cr_assert_eq(share_create(st, &rq, NOW, s, &out, &why), -ENOENT);
    cr_assert_str_eq(why, "no such device");
}

Test(share, the_window_is_the_range_or_from_before_a_live_share_began_until_it_expires)
{
    struct store_share sh = {
        .from = NOW - 100, .to = NOW + 100, .created = NOW - 50, .expires = NOW + 1000};
    int64_t from, to;
    share_window(&sh, &from, &to);
    cr_assert_eq(from, NOW - 100);
    cr_assert_eq(to, NOW + 100, "a range into the future fills as fixes arrive");
    sh.live = true;
    share_window(&sh, &from, &to);
    cr_assert_eq(from, NOW - 50 - SHARE_LIVE_BACK_S);
    cr_assert_eq(to, NOW + 1000);
}

Test(share, private_circles_are_per_user_and_checked)
{
    struct store_private home = {
        .user = "alice", .name = "home", .lat = 48.0, .lon = 2.0, .radius_m = 100};
    cr_assert_eq(store_private_put(st, &home), 0);
    struct store_private bad = home;
    bad.radius_m = 0;
    cr_assert_eq(store_private_put(st, &bad), -EINVAL);
    bad.radius_m = STORE_PRIVATE_RADIUS_MAX + 1;
    cr_assert_eq(store_private_put(st, &bad), -EINVAL);
    bad = home;
    bad.lat = 91;
    cr_assert_eq(store_private_put(st, &bad), -EINVAL);
    struct store_private work = home;
    snprintf(work.user, sizeof(work.user), "bob");
    cr_assert_eq(store_private_put(st, &work), 0);

    struct store_private *c;
    size_t n;
    cr_assert_eq(share_private_circles(st, "alice", &c, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(c[0].name, "home");
    cr_assert_float_eq(c[0].lat, 48.0, 1e-12);
    cr_assert_float_eq(c[0].radius_m, 100, 1e-12);
    cr_assert(share_is_private(c, n, 48.0005, 2.0), "55 m from the centre");
    cr_assert(!share_is_private(c, n, 48.002, 2.0), "220 m away");
    free(c);
    cr_assert_eq(store_private_delete(st, "alice", "home"), 0);
    cr_assert_eq(store_private_delete(st, "alice", "home"), -ENOENT);
    cr_assert_eq(share_private_circles(st, "alice", &c, &n), 0);
    cr_assert_eq(n, 0);
    cr_assert_null(c);
}

Test(share, places_marked_private_are_private_circles_too)
{
    struct store_place park = {.user = "alice",
                               .name = "park",
                               .lat = 10,
                               .lon = 20,
                               .radius_m = 50},
                       home = park;
    snprintf(home.name, sizeof(home.name), "home");
    home.lat = 11;
    home.flags = STORE_PLACE_PRIVATE;
    cr_assert_eq(store_place_add(st, &park), 0);
    cr_assert_eq(store_place_add(st, &home), 0);
    struct store_private own = {
        .user = "alice", .name = "office", .lat = 12, .lon = 20, .radius_m = 100};
    cr_assert_eq(store_private_put(st, &own), 0);
    struct store_private *c;
    size_t n;
    cr_assert_eq(share_private_circles(st, "alice", &c, &n), 0);
    cr_assert_eq(n, 2, "the private circle and the private place, not the park");
    cr_assert(share_is_private(c, n, 11, 20), "home");
    cr_assert(share_is_private(c, n, 12, 20), "the office");
    cr_assert(!share_is_private(c, n, 10, 20), "the park is not private");
    free(c);
    cr_assert_eq(share_private_circles(st, "bob", &c, &n), 0);
    cr_assert_eq(n, 0, "alice's places are hers");
}

Test(share, the_cut_drops_fixes_inside_and_breaks_the_line)
{
    const struct store_private home[] = {{.lat = 0, .lon = 0, .radius_m = 1000}};
    /* Along the equator: out, out, in, in, out, in, out. 0.01 degree is 1.1 km. */
    const double lon[] = {-0.05, -0.02, -0.005, 0.005, 0.02, 0.0, 0.03};
    const enum share_cut_step want[] = {SHARE_CUT_NEW_LINE, SHARE_CUT_CONTINUE, SHARE_CUT_DROP,
                                        SHARE_CUT_DROP,     SHARE_CUT_NEW_LINE, SHARE_CUT_DROP,
                                        SHARE_CUT_NEW_LINE};
    struct share_cut cut = {false};
    for (size_t i = 0; i < WL_ARRAY_LEN(lon); i++)
        cr_assert_eq(share_cut_next(&cut, home, 1, 0, lon[i]), want[i], "fix %zu", i);
    struct share_cut none = {false};
    cr_assert_eq(share_cut_next(&none, NULL, 0, 0, 0), SHARE_CUT_NEW_LINE, "no circles");
    cr_assert_eq(share_cut_next(&none, NULL, 0, 0, 0), SHARE_CUT_CONTINUE);
}
