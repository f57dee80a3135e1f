/* A user's places in the store (store.h, "places"; store_places.c) and what places.h makes of
 * them with the timeline: which stays they hold, their visits, and suggestions. */
#include <criterion/criterion.h>
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "geo.h"
#include "helpers.h"
#include "pack.h"
#include "places.h"
#include "store.h"
#include "wtime.h"

static char dir[256];
static struct store *st;
static struct store_user_settings utc;

static void open_store(bool read_only)
{
    struct store_options opt = {.timeline = &utc, .read_only = read_only};
    cr_assert_eq(store_open(dir, &opt, &st), 0);
}

static void setup(void)
{
    tmpdir_make(dir, sizeof(dir));
    snprintf(utc.zone, sizeof(utc.zone), "UTC");
    tl_settings_default(&utc.tl);
    open_store(false);
}

static void teardown(void)
{
    store_close(st);
    tmpdir_remove(dir);
}

TestSuite(store_places, .init = setup, .fini = teardown);

static struct store_place place(const char *user, const char *name, double lat, double lon,
                                double radius)
{
    struct store_place p = {.lat = lat, .lon = lon, .radius_m = radius, .created = 1700000000};
    snprintf(p.user, sizeof(p.user), "%s", user);
    snprintf(p.name, sizeof(p.name), "%s", name);
    return p;
}

Test(store_places, gives_stable_ids_never_reused)
{
    struct store_place a = place("jane", "Home", 48.85, 2.35, 100);
    struct store_place b = place("jane", "Work", 48.868, 2.35, 150);
    struct store_place c = place("jane", "Gym", 48.86, 2.36, 50);
    cr_assert_eq(store_place_add(st, &a), 0);
    cr_assert_eq(store_place_add(st, &b), 0);
    cr_assert_eq(a.id, 1, "ids start at 1");
    cr_assert_eq(b.id, 2);
    cr_assert_eq(store_place_delete(st, b.id), 0);
    cr_assert_eq(store_place_add(st, &c), 0);
    cr_assert_eq(c.id, 3, "a deleted place's id is not given again (got %u)", c.id);

    struct store_place got;
    cr_assert_eq(store_place_get(st, a.id, &got), 0);
    cr_assert_str_eq(got.name, "Home");
    cr_assert_str_eq(got.user, "jane");
    cr_assert_float_eq(got.lat, 48.85, 1e-12);
    cr_assert_float_eq(got.radius_m, 100, 1e-12);
    cr_assert_eq(got.created, 1700000000);
    cr_assert_eq(store_place_get(st, b.id, &got), -ENOENT, "a deleted place is gone");
    cr_assert_eq(store_place_get(st, 0, &got), -ENOENT, "id 0 is no place (the counter)");
    cr_assert_eq(store_place_get(st, 99, &got), -ENOENT);
}

Test(store_places, refuses_bad_places)
{
    const char *why;
    struct store_place ok = place("jane", "Home", 48.85, 2.35, 100), p;
    cr_assert_eq(store_place_check(&ok, &why), 0);
    double radii[] = {0, -5, 4.9, 5000.1, 1e9, NAN, INFINITY};
    for (size_t i = 0; i < sizeof(radii) / sizeof(radii[0]); i++) {
        p = ok;
        p.radius_m = radii[i];
        cr_assert_eq(store_place_add(st, &p), -EINVAL, "radius %g is refused", radii[i]);
    }
    p = ok;
    p.lat = 90.5;
    cr_assert_eq(store_place_add(st, &p), -EINVAL, "lat out of range");
    p = ok;
    p.lon = NAN;
    cr_assert_eq(store_place_add(st, &p), -EINVAL, "lon not a number");
    p = ok;
    p.name[0] = '\0';
    cr_assert_eq(store_place_add(st, &p), -EINVAL, "an empty name");
    p = ok;
    memset(p.name, 'a', STORE_PLACE_NAME_MAX);
    p.name[STORE_PLACE_NAME_MAX] = '\0';
    cr_assert_eq(store_place_add(st, &p), 0, "a name of exactly the longest length is fine");
    p = ok;
    memcpy(p.name, "A\tB", 4);
    cr_assert_eq(store_place_add(st, &p), -EINVAL, "a control character");
    p = ok;
    memcpy(p.name, "\xc3\x28", 3);
    cr_assert_eq(store_place_add(st, &p), -EINVAL, "not UTF-8");
    p = ok;
    p.user[0] = '\0';
    cr_assert_eq(store_place_add(st, &p), -EINVAL, "no user");
    size_t n;
    struct store_place *all;
    cr_assert_eq(store_places(st, NULL, &all, &n), 0);
    cr_assert_eq(n, 1, "only the good place was stored");
    free(all);
}

Test(store_places, updates_keep_the_user_and_creation)
{
    struct store_place a = place("jane", "Home", 48.85, 2.35, 100), got;
    cr_assert_eq(store_place_add(st, &a), 0);
    struct store_place b = a;
    snprintf(b.user, sizeof(b.user), "mallory");
    snprintf(b.name, sizeof(b.name), "Maison");
    b.lat = 48.851;
    b.radius_m = 80;
    b.created = 5;
    b.flags = STORE_PLACE_PRIVATE;
    cr_assert_eq(store_place_update(st, &b), 0);
    cr_assert_eq(store_place_get(st, a.id, &got), 0);
    cr_assert_str_eq(got.name, "Maison");
    cr_assert_str_eq(got.user, "jane", "an update cannot give the place to another user");
    cr_assert_eq(got.created, 1700000000);
    cr_assert_float_eq(got.lat, 48.851, 1e-12);
    cr_assert_eq(got.flags, STORE_PLACE_PRIVATE);
    b.radius_m = 0;
    cr_assert_eq(store_place_update(st, &b), -EINVAL);
    b = got;
    b.id = 77;
    cr_assert_eq(store_place_update(st, &b), -ENOENT);
    cr_assert_eq(store_place_delete(st, 77), -ENOENT);
}

Test(store_places, merge_grows_one_place_to_hold_both)
{
    struct store_place a = place("jane", "Cafe", 48.8500, 2.3500, 50);
    struct store_place b = place("jane", "Office", 48.8510, 2.3500, 100); /* ~111 m north */
    struct store_place far = place("jane", "Lyon", 45.76, 4.83, 100);
    struct store_place other = place("john", "John's", 48.8505, 2.35, 100), m, got;
    cr_assert_eq(store_place_add(st, &a), 0);
    cr_assert_eq(store_place_add(st, &b), 0);
    cr_assert_eq(store_place_add(st, &far), 0);
    cr_assert_eq(store_place_add(st, &other), 0);

    cr_assert_eq(store_place_merge(st, a.id, other.id, &m), -EINVAL, "not across users");
    cr_assert_eq(store_place_merge(st, a.id, a.id, &m), -EINVAL, "not with itself");
    cr_assert_eq(store_place_merge(st, a.id, far.id, &m), -ERANGE, "not 400 km apart");
    cr_assert_eq(store_place_merge(st, a.id, 99, &m), -ENOENT);
    cr_assert_eq(store_place_get(st, a.id, &got), 0, "a refused merge changes nothing");

    cr_assert_eq(store_place_merge(st, a.id, b.id, &m), 0);
    cr_assert_eq(m.id, b.id);
    cr_assert_str_eq(m.name, "Office", "the place merged into keeps its name");
    cr_assert_eq(store_place_get(st, a.id, &got), -ENOENT, "the merged place is gone");
    /* every point of both circles is inside the merged one */
    double da = geo_distance_m(m.lat, m.lon, a.lat, a.lon) + a.radius_m;
    double db = geo_distance_m(m.lat, m.lon, b.lat, b.lon) + b.radius_m;
    cr_assert(da <= m.radius_m + 0.5 && db <= m.radius_m + 0.5,
              "the merged circle holds both (%.1f, %.1f within %.1f)", da, db, m.radius_m);
    cr_assert(m.radius_m < 140, "and is not larger than it must be (%.1f)", m.radius_m);
    cr_assert_eq(store_place_get(st, b.id, &got), 0);
    cr_assert_float_eq(got.radius_m, m.radius_m, 1e-9, "the merge is stored");
}

Test(store_places, lists_a_users_places_and_survives_reopening)
{
    struct store_place a = place("jane", "Home", 48.85, 2.35, 100);
    struct store_place b = place("john", "Home", 40.0, -3.7, 100);
    struct store_place c = place("jane", "Work", 48.868, 2.35, 100);
    cr_assert_eq(store_place_add(st, &a), 0);
    cr_assert_eq(store_place_add(st, &b), 0);
    cr_assert_eq(store_place_add(st, &c), 0);
    store_close(st);
    open_store(true);
    struct store_place *v;
    size_t n;
    cr_assert_eq(store_places(st, "jane", &v, &n), 0);
    cr_assert_eq(n, 2, "jane's two places, not john's");
    cr_assert_eq(v[0].id, a.id);
    cr_assert_eq(v[1].id, c.id);
    free(v);
    cr_assert_eq(store_places(st, "nobody", &v, &n), 0);
    cr_assert_eq(n, 0);
    cr_assert_null(v);
    cr_assert_eq(store_place_add(st, &a), -EROFS, "a read-only store takes no places");
}

/* ---------------------------------------------------------------- with the timeline */

#define M_DEG (1.0 / 111195.0) /* degrees of latitude per metre */
static const double home[2] = {48.8500, 2.3500}, work[2] = {48.8680, 2.3500},
                    shop[2] = {48.8590, 2.3650}, cafe[2] = {48.8650, 2.3560};

/* Appends one fix as a record to write. */
struct day_writer {
    struct sink bufs[2048];
    struct store_record recs[2048];
    size_t n;
    unsigned seed;
};

static double noise(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return (double)((*seed >> 8) & 0xffff) / 32767.5 - 1.0;
}

static void fix(struct day_writer *w, const char *device, int64_t t, double lat, double lon)
{
    char doc[256];
    cr_assert(w->n < 2048);
    lat += 8 * M_DEG * noise(&w->seed);
    lon += 8 * M_DEG * noise(&w->seed);
    snprintf(doc, sizeof(doc),
             "{\"_type\":\"location\",\"lat\":%.7f,\"lon\":%.7f,\"acc\":12,\"tst\":%lld}", lat, lon,
             (long long)t);
    struct json_object *o = json_tokener_parse(doc);
    struct pack_encode_ctx ctx = {.type = "location", .tst = t, .tst_member = true};
    struct sink *b = &w->bufs[w->n];
    cr_assert_eq(sink_init_mem(b, 96), 0);
    cr_assert_eq(pack_encode(b, o, &ctx), 0);
    json_object_put(o);
    w->recs[w->n++] = (struct store_record){.kind = OWNTRACKS_LOCATION,
                                            .user = "jane",
                                            .device = device,
                                            .tst = t,
                                            .data = b->buf,
                                            .len = b->len,
                                            .received = t};
}

static void stay_at(struct day_writer *w, const char *device, int64_t from, int64_t to,
                    const double at[2])
{
    for (int64_t t = from; t < to; t += 300)
        fix(w, device, t, at[0], at[1]);
}

static void go(struct day_writer *w, const char *device, int64_t from, int64_t to,
               const double a[2], const double b[2])
{
    for (int64_t t = from; t < to; t += 30) {
        double k = (double)(t - from) / (double)(to - from);
        fix(w, device, t, a[0] + k * (b[0] - a[0]), a[1] + k * (b[1] - a[1]));
    }
}

static void flush(struct day_writer *w)
{
    enum store_result res[2048];
    cr_assert_eq(store_write_batch(st, w->recs, w->n, res), 0);
    for (size_t i = 0; i < w->n; i++)
        sink_free(&w->bufs[i]);
    w->n = 0;
}

/* 2024-05-03 00:00 UTC */
#define DAY0 1714694400

/* A working day: home, work (with lunch at the cafe on `lunch` days), the shop on `shop_too`
 * days, home: the night at home is one stay with the next morning. */
static void day(struct day_writer *w, const char *device, int64_t d, bool shop_too, bool lunch)
{
    stay_at(w, device, d, d + 8 * 3600, home);
    go(w, device, d + 8 * 3600, d + 8 * 3600 + 1800, home, work);
    if (lunch) {
        stay_at(w, device, d + 8 * 3600 + 1800, d + 12 * 3600, work);
        go(w, device, d + 12 * 3600, d + 12 * 3600 + 600, work, cafe);
        stay_at(w, device, d + 12 * 3600 + 600, d + 13 * 3600, cafe);
        go(w, device, d + 13 * 3600, d + 13 * 3600 + 600, cafe, work);
        stay_at(w, device, d + 13 * 3600 + 600, d + 17 * 3600, work);
    } else {
        stay_at(w, device, d + 8 * 3600 + 1800, d + 17 * 3600, work);
    }
    if (shop_too) {
        go(w, device, d + 17 * 3600, d + 17 * 3600 + 900, work, shop);
        stay_at(w, device, d + 17 * 3600 + 900, d + 18 * 3600, shop);
        go(w, device, d + 18 * 3600, d + 18 * 3600 + 900, shop, home);
        stay_at(w, device, d + 18 * 3600 + 900, d + 86400, home);
    } else {
        go(w, device, d + 17 * 3600, d + 17 * 3600 + 1200, work, home);
        stay_at(w, device, d + 17 * 3600 + 1200, d + 86400, home);
    }
    flush(w);
}

static struct json_object *json_of(int (*fn)(struct store *, const char *, struct sink *))
{
    struct sink out;
    cr_assert_eq(sink_init_mem(&out, 4096), 0);
    cr_assert_eq(fn(st, "jane", &out), 0);
    sink_putc(&out, '\0');
    struct json_object *o = json_tokener_parse(out.buf);
    cr_assert_not_null(o, "valid JSON: %s", out.buf);
    sink_free(&out);
    return o;
}

static struct json_object *member(struct json_object *o, const char *name)
{
    struct json_object *m;
    cr_assert(json_object_object_get_ex(o, name, &m), "has %s: %s", name,
              json_object_to_json_string(o));
    return m;
}

Test(store_places, stays_belong_to_the_place_that_holds_them)
{
    static struct day_writer w = {.seed = 7};
    for (int i = 0; i < 3; i++)
        day(&w, "phone", DAY0 + i * 86400, i == 1, false);

    /* nothing named yet: home and work recur on 3 days, the shop once */
    struct json_object *sg_doc = json_of(places_suggestions_json);
    struct json_object *sg = member(sg_doc, "suggestions");
    cr_assert_eq(json_object_array_length(sg), 2, "home and work are suggested: %s",
                 json_object_to_json_string(sg));
    struct json_object *first = json_object_array_get_idx(sg, 0);
    cr_assert_geq(json_object_get_int(member(first, "stays")), 3);
    cr_assert_geq(json_object_get_int(member(first, "days")), 2);

    struct store_place h = place("jane", "Home", home[0], home[1], 100);
    struct store_place wk = place("jane", "Work", work[0], work[1] + 0.0005, 100);
    /* a larger place whose circle also holds work: the nearer centre wins */
    struct store_place area = place("jane", "Quarter", work[0] + 0.004, work[1], 800);
    cr_assert_eq(store_place_add(st, &h), 0);
    cr_assert_eq(store_place_add(st, &wk), 0);
    cr_assert_eq(store_place_add(st, &area), 0);

    struct json_object *ls = json_of(places_list_json), *pl = member(ls, "places");
    cr_assert_eq(json_object_array_length(pl), 3);
    struct json_object *ph = json_object_array_get_idx(pl, 0),
                       *pw = json_object_array_get_idx(pl, 1),
                       *pq = json_object_array_get_idx(pl, 2);
    /* home: the night before day 0 (one stay from midnight), each evening (the last one open) */
    cr_assert_eq(json_object_get_int(member(ph, "visits")), 4, "home visits: %s",
                 json_object_to_json_string(ph));
    cr_assert_eq(json_object_get_int(member(pw, "visits")), 3, "work, each day: %s",
                 json_object_to_json_string(pw));
    cr_assert_eq(json_object_get_int(member(pq, "visits")), 0,
                 "the larger place loses to the nearer centre: %s", json_object_to_json_string(pq));
    int64_t arrived = json_object_get_int64(member(pw, "first"));
    cr_assert(llabs(arrived - (DAY0 + 8 * 3600 + 1800)) <= 600,
              "the first visit to work begins when the walk there ends: %s",
              json_object_to_json_string(pw));
    int64_t total = json_object_get_int64(member(pw, "total_s"));
    cr_assert(total >= 3 * 8 * 3600 && total <= 3 * 9 * 3600, "about 8.5 h a day at work: %lld",
              (long long)total);

    /* the shop is seen on one day only: no suggestion left */
    json_object_put(sg_doc);
    sg_doc = json_of(places_suggestions_json);
    sg = member(sg_doc, "suggestions");
    cr_assert_eq(json_object_array_length(sg), 0, "%s", json_object_to_json_string(sg));

    /* visits in a range: day 1 only */
    struct sink out;
    cr_assert_eq(sink_init_mem(&out, 4096), 0);
    cr_assert_eq(places_visits_json(st, "jane", wk.id, DAY0 + 86400, DAY0 + 2 * 86400 - 1, &out),
                 0);
    sink_putc(&out, '\0');
    json_object_put(sg_doc);
    json_object_put(ls);
    struct json_object *vs = json_tokener_parse(out.buf);
    cr_assert_eq(json_object_get_int(member(vs, "count")), 1, "%s", out.buf);
    struct json_object *v0 = json_object_array_get_idx(member(vs, "visits"), 0);
    cr_assert_str_eq(json_object_get_string(member(v0, "device")), "phone");
    cr_assert(llabs(json_object_get_int64(member(v0, "start")) -
                    (DAY0 + 86400 + 8 * 3600 + 1800)) <= 600);
    cr_assert_str_eq(json_object_get_string(member(vs, "zone")), "UTC");
    cr_assert(strstr(json_object_get_string(member(v0, "start_iso")), "+00:00"), "%s", out.buf);
    json_object_put(vs);
    /* in the user's own zone, times are local to it, with its offset */
    struct store_user_settings paris = utc;
    snprintf(paris.zone, sizeof(paris.zone), "Europe/Paris");
    cr_assert_eq(store_set_user_settings(st, "jane", &paris), 0);
    out.len = 0;
    cr_assert_eq(places_visits_json(st, "jane", wk.id, DAY0 + 86400, DAY0 + 2 * 86400 - 1, &out),
                 0);
    sink_putc(&out, '\0');
    vs = json_tokener_parse(out.buf);
    cr_assert_str_eq(json_object_get_string(member(vs, "zone")), "Europe/Paris");
    v0 = json_object_array_get_idx(member(vs, "visits"), 0);
    int64_t start = json_object_get_int64(member(v0, "start"));
    char want[40];
    wtime_iso(start + 7200, want); /* May in Paris: UTC+2 */
    memcpy(want + 19, "+02:00", 7);
    cr_assert_str_eq(json_object_get_string(member(v0, "start_iso")), want);
    out.len = 0;
    cr_assert_eq(places_visits_json(st, "jane", 99, WTIME_MIN, WTIME_MAX, &out), -ENOENT);
    cr_assert_eq(places_visits_json(st, "john", wk.id, WTIME_MIN, WTIME_MAX, &out), -ENOENT,
                 "another user's place is no place of john's");
    json_object_put(vs);
    sink_free(&out);

    /* a stay promoted to a place: the one at the shop, found by its start */
    struct places_stay *all, s;
    size_t n;
    int64_t shop_start = 0;
    cr_assert_eq(places_stays(st, "jane", WTIME_MIN, WTIME_MAX, &all, &n), 0);
    for (size_t i = 0; i < n; i++)
        if (geo_distance_m(all[i].lat, all[i].lon, shop[0], shop[1]) < 50)
            shop_start = all[i].start;
    free(all);
    cr_assert_neq(shop_start, 0, "the shop is a stay");
    cr_assert_eq(places_find_stay(st, "jane", "phone", shop_start, &s), 0);
    cr_assert(geo_distance_m(s.lat, s.lon, shop[0], shop[1]) < 30);
    cr_assert_eq(places_find_stay(st, "jane", "tablet", shop_start, &s), -ENOENT,
                 "not on another device");
    cr_assert_eq(places_find_stay(st, "jane", NULL, DAY0 + 12345, &s), -ENOENT);
}

/* A year of one device's days: how long the places answer takes (a figure, not a bound). */
Test(store_places, a_year_of_visits_is_read_at_once, .timeout = 300)
{
    static struct day_writer w = {.seed = 3};
    struct timespec a, b;
    for (int i = 0; i < 365; i++)
        day(&w, "phone", DAY0 + (int64_t)i * 86400, i % 3 == 0, true);
    struct store_place h = place("jane", "Home", home[0], home[1], 100);
    struct store_place wk = place("jane", "Work", work[0], work[1], 100);
    cr_assert_eq(store_place_add(st, &h), 0);
    cr_assert_eq(store_place_add(st, &wk), 0);

    struct sink out;
    cr_assert_eq(sink_init_mem(&out, 65536), 0);
    cr_assert_eq(places_list_json(st, "jane", &out), 0); /* warm */
    clock_gettime(CLOCK_MONOTONIC, &a);
    out.len = 0;
    cr_assert_eq(places_list_json(st, "jane", &out), 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double list_ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    out.len = 0;
    clock_gettime(CLOCK_MONOTONIC, &a);
    cr_assert_eq(places_visits_json(st, "jane", wk.id, WTIME_MIN, WTIME_MAX, &out), 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double visits_ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    struct places_stay *stays;
    size_t n;
    cr_assert_eq(places_stays(st, "jane", WTIME_MIN, WTIME_MAX, &stays, &n), 0);
    free(stays);
    sink_putc(&out, '\0');
    struct json_object *vs = json_tokener_parse(out.buf);
    cr_assert_eq(json_object_get_int(member(vs, "count")), 2 * 365,
                 "two work visits a day (before and after lunch)");
    json_object_put(vs);
    sink_free(&out);
    cr_assert_geq(n, 365 * 4, "four stays a day or more (%zu)", n);
    fprintf(stderr,
            "places: a year of one device (%zu stays): list with visits %.1f ms, visits of one "
            "place %.1f ms\n",
            n, list_ms, visits_ms);
}

/* Stores one non-location message of jane's phone. */
static void put_event(enum owntracks_kind kind, const char *type, int64_t tst, const char *doc)
{
    struct sink b;
    enum store_result res;
    struct json_object *o = json_tokener_parse(doc);
    struct pack_encode_ctx ctx = {.type = type, .tst = tst, .tst_member = true};
    cr_assert_not_null(o);
    cr_assert_eq(sink_init_mem(&b, 256), 0);
    cr_assert_eq(pack_encode(&b, o, &ctx), 0);
    json_object_put(o);
    struct store_record r = {.kind = kind,
                             .user = "jane",
                             .device = "phone",
                             .tst = tst,
                             .data = b.buf,
                             .len = b.len,
                             .received = tst};
    cr_assert_eq(store_write_batch(st, &r, 1, &res), 0);
    sink_free(&b);
}

Test(store_places, regions_and_transitions_of_the_phone)
{
    static struct day_writer w = {.seed = 9};
    day(&w, "phone", DAY0, false, false);
    put_event(OWNTRACKS_WAYPOINTS, "waypoints", DAY0 + 10,
              "{\"_type\":\"waypoints\",\"waypoints\":["
              "{\"_type\":\"waypoint\",\"desc\":\"Bureau\",\"lat\":48.868,\"lon\":2.35,"
              "\"rad\":150,\"tst\":1600000000},"
              "{\"_type\":\"waypoint\",\"desc\":\"Beacon\",\"tst\":1600000001},"
              "{\"_type\":\"waypoint\",\"desc\":\"Off\",\"lat\":1,\"lon\":1,\"rad\":0,"
              "\"tst\":1600000002}]}");
    /* a later edit of the same region (same tst), published alone */
    put_event(OWNTRACKS_WAYPOINT, "waypoint", 1600000000,
              "{\"_type\":\"waypoint\",\"desc\":\"Office\",\"lat\":48.868,\"lon\":2.35,"
              "\"rad\":120,\"tst\":1600000000}");
    put_event(OWNTRACKS_TRANSITION, "transition", DAY0 + 8 * 3600 + 1700,
              "{\"_type\":\"transition\",\"event\":\"enter\",\"desc\":\"Office\",\"lat\":48.868,"
              "\"lon\":2.35,\"acc\":20,\"wtst\":1600000000,\"t\":\"c\",\"tst\":1714723700}");
    put_event(OWNTRACKS_TRANSITION, "transition", DAY0 + 17 * 3600 + 60,
              "{\"_type\":\"transition\",\"event\":\"leave\",\"wtst\":1600000000,"
              "\"tst\":1714755660}");

    struct places_region *rg;
    size_t n;
    cr_assert_eq(places_regions(st, "jane", &rg, &n), 0);
    cr_assert_eq(n, 1, "one geographic region (not the beacon, not the one turned off)");
    cr_assert_str_eq(rg[0].desc, "Office", "the edit replaces the region of the same tst");
    cr_assert_float_eq(rg[0].radius_m, 120, 1e-9);
    free(rg);

    /* the region names the work stay, until the user has a place there */
    struct places_names pn;
    struct places_name nm;
    cr_assert_eq(places_names_open(st, "jane", &pn), 0);
    cr_assert(places_names_find(&pn, work[0], work[1] + 0.0003, &nm));
    cr_assert_str_eq(nm.name, "Office");
    cr_assert_str_eq(nm.source, "owntracks");
    cr_assert_eq(nm.id, 0);
    cr_assert_not(places_names_find(&pn, shop[0], shop[1], &nm));
    places_names_free(&pn);
    struct store_place mine = place("jane", "Work", work[0], work[1], 80);
    cr_assert_eq(store_place_add(st, &mine), 0);
    cr_assert_eq(places_names_open(st, "jane", &pn), 0);
    cr_assert(places_names_find(&pn, work[0], work[1] + 0.0003, &nm));
    cr_assert_str_eq(nm.name, "Work", "the user's own place wins over the phone's region");
    cr_assert_eq(nm.id, mine.id);
    places_names_free(&pn);

    struct store_device d;
    struct sink out;
    cr_assert_eq(store_get_device(st, "jane", "phone", &d), 0);
    cr_assert_eq(sink_init_mem(&out, 1024), 0);
    cr_assert_eq(places_transitions_json(st, d.id, DAY0, DAY0 + 86400, NULL, &out), 0);
    sink_putc(&out, '\0');
    struct json_object *a = json_tokener_parse(out.buf);
    cr_assert_eq(json_object_array_length(a), 2, "%s", out.buf);
    struct json_object *e0 = json_object_array_get_idx(a, 0), *e1 = json_object_array_get_idx(a, 1);
    cr_assert_str_eq(json_object_get_string(member(e0, "event")), "enter");
    cr_assert_str_eq(json_object_get_string(member(e0, "desc")), "Office");
    cr_assert_str_eq(json_object_get_string(member(e0, "trigger")), "c");
    cr_assert_eq(json_object_get_int64(member(e0, "wtst")), 1600000000);
    cr_assert_str_eq(json_object_get_string(member(e1, "event")), "leave");
    cr_assert_str_eq(json_object_get_string(member(e1, "desc")), "", "no desc sent: empty");
    cr_assert_not(json_object_object_get_ex(e1, "lat", NULL), "no position sent: none shown");
    json_object_put(a);
    out.len = 0;
    cr_assert_eq(places_transitions_json(st, d.id, DAY0 + 86400, DAY0 + 2 * 86400, NULL, &out), 0);
    cr_assert_eq(out.len, 2, "an empty array outside the range");
    sink_free(&out);
}
