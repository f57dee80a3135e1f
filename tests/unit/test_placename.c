#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gazetteer.h"
#include "helpers.h"
#include "pack.h"
#include "placename.h"
#include "sink.h"
#include "store.h"

static char dir[PATH_MAX];
static struct store *s;
static struct gazetteer *gz;
static struct placename *p;

static void setup(void)
{
    struct placename_options opt = {.precision = 7, .max_age = 86400};
    tmpdir_make(dir, sizeof(dir));
    cr_assert_eq(store_open(dir, NULL, &s), 0);
    cr_assert_eq(gazetteer_open(&gz), 0);
    cr_assert_eq(placename_new(s, gz, &opt, NULL, 0, &p), 0);
}

static void teardown(void)
{
    placename_free(p);
    gazetteer_free(gz);
    store_close(s);
    tmpdir_remove(dir);
}

TestSuite(placename, .init = setup, .fini = teardown);

static void cache(const char *ghash, const char *cc, const char *addr, const char *locality)
{
    struct store_geo e = {.fetched = 1733065200};
    snprintf(e.cc, sizeof(e.cc), "%s", cc);
    snprintf(e.addr, sizeof(e.addr), "%s", addr);
    snprintf(e.locality, sizeof(e.locality), "%s", locality);
    snprintf(e.provider, sizeof(e.provider), "nominatim");
    cr_assert_eq(store_geo_put(s, &ghash, &e, 1), 0);
}

Test(placename, the_cache_keeps_what_a_geocoder_said)
{
    struct store_geo e;
    uint64_t n;
    cr_expect_eq(store_geo_get(s, "u09tvw0", &e), -ENOENT);
    cache("u09tvw0", "FR", "Place de l'Hôtel de Ville, Paris", "Paris");
    cr_assert_eq(store_geo_get(s, "u09tvw0", &e), 0);
    cr_expect_str_eq(e.addr, "Place de l'Hôtel de Ville, Paris");
    cr_expect_str_eq(e.provider, "nominatim");
    cr_expect_str_empty(e.tzname);
    cr_expect_eq(e.fetched, 1733065200);
    cr_assert_eq(store_geo_peek(s, "u09tvw0", &e), 0, "peeking finds it too");
    cr_assert_eq(store_geo_count(s, &n), 0);
    cr_expect_eq(n, 1);
    const char *bad = "u09tvw0u09tvw0";
    cr_expect_eq(store_geo_put(s, &bad, &e, 1), -EINVAL, "a key longer than 12 is refused");
}

Test(placename, the_cache_comes_first_and_the_cities_fill_in)
{
    struct placename_answer a;
    cr_assert_eq(placename_lookup(p, 48.856632, 2.352251, PLACENAME_CACHE, &a), 0);
    cr_expect_str_eq(a.ghash, "u09tvw0");
    cr_expect_str_eq(a.cc, "FR");
    cr_expect_str_eq(a.locality, "Paris");
    cr_expect_str_eq(a.tzname, "Europe/Paris");
    cr_expect_str_empty(a.addr, "an address needs a geocoder");
    cr_expect(!a.cached);
    cache("u09tvw0", "", "4 Place de l'Hôtel de Ville", "Paris 4e");
    cr_assert_eq(placename_lookup(p, 48.856632, 2.352251, PLACENAME_CACHE, &a), 0);
    cr_expect(a.cached);
    cr_expect_str_eq(a.addr, "4 Place de l'Hôtel de Ville");
    cr_expect_str_eq(a.locality, "Paris 4e", "the geocoder's locality wins");
    cr_expect_str_eq(a.cc, "FR", "what it left out comes from the cities");
    cr_expect_eq(placename_lookup(p, NAN, 2, PLACENAME_CACHE, &a), -EINVAL);
}

/* Writes a point's members through a memo, as the JSON writer does. */
static void members(struct placename_memo *m, double lat, double lon, const char *only,
                    uint64_t have, char *out, size_t size)
{
    struct sink k;
    cr_assert_eq(sink_init_mem(&k, 256), 0);
    sink_putc(&k, '{');
    placename_write_members(m, lat, lon, only, have, false, &k);
    sink_putc(&k, '}');
    snprintf(out, size, "%.*s", (int)k.len, k.buf);
    sink_free(&k);
}

Test(placename, members_as_the_recorder_writes_them)
{
    char out[2048];
    cache("u09tvw0", "FR", "Hôtel de Ville \"HdV\"", "Paris");
    struct placename_memo *m = placename_memo_new(p);
    cr_assert_not_null(m);
    for (int i = 0; i < 2; i++) { /* the second time from the memo */
        members(m, 48.856632, 2.352251, NULL, 0, out, sizeof(out));
        cr_expect_str_eq(out, "{\"ghash\":\"u09tvw0\",\"cc\":\"FR\",\"addr\":\"Hôtel de Ville "
                              "\\\"HdV\\\"\",\"locality\":\"Paris\",\"tzname\":\"Europe/Paris\"}");
    }
    members(m, 48.856632, 2.352251, "tzname", 0, out, sizeof(out));
    cr_expect_str_eq(out, "{\"tzname\":\"Europe/Paris\"}");
    members(m, 48.856632, 2.352251, NULL,
            (uint64_t)1 << PACK_KEY_TZNAME | (uint64_t)1 << PACK_KEY_GHASH, out, sizeof(out));
    cr_expect_str_eq(
        out, "{\"cc\":\"FR\",\"addr\":\"Hôtel de Ville \\\"HdV\\\"\",\"locality\":\"Paris\"}",
        "members the point has are not written twice");
    members(m, 40, -40, NULL, 0, out, sizeof(out));
    cr_expect_str_eq(out, "{\"ghash\":\"ep5e9cb\"}", "at sea: only the geohash");
    members(m, 91, 0, NULL, 0, out, sizeof(out));
    cr_expect_str_eq(out, "{}", "no position, no members");
    placename_memo_free(m);
}

Test(placename, an_address_too_long_to_keep_is_written_all_the_same)
{
    char addr[STORE_GEO_ADDR_MAX], out[4096], want[4096];
    memset(addr, '\x01', sizeof(addr) - 1); /* escaped as \u0001: six bytes each */
    addr[sizeof(addr) - 1] = '\0';
    cache("u09tvw0", "FR", addr, "Paris");
    struct placename_memo *m = placename_memo_new(p);
    cr_assert_not_null(m);
    members(m, 48.856632, 2.352251, "addr", 0, out, sizeof(out));
    size_t o = (size_t)snprintf(want, sizeof(want), "{\"addr\":\"");
    for (size_t i = 0; i < strlen(addr); i++)
        o += (size_t)snprintf(want + o, sizeof(want) - o, "\\u0001");
    snprintf(want + o, sizeof(want) - o, "\"}");
    cr_expect_str_eq(out, want);
    placename_memo_free(m);
}

Test(placename, without_geocoders_nothing_is_queued)
{
    struct placename_stats st;
    placename_note(p, 48.85, 2.35);
    placename_get_stats(p, &st);
    cr_expect_eq(st.providers, 0);
    cr_expect_eq(st.queued + st.requests + st.queue_drops, 0);
}
