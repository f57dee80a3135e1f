#include <criterion/criterion.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "helpers.h"
#include "pack.h"
#include "query.h"
#include "store.h"
#include "wtime.h"

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

TestSuite(query, .init = setup, .fini = teardown);

/* Writes points p[0..n) (lat, lon) one second apart from t0. */
static void write_track(const double (*p)[2], size_t n, int64_t t0)
{
    struct store_record *recs = calloc(n, sizeof(*recs));
    struct sink *bufs = calloc(n, sizeof(*bufs));
    enum store_result *res = calloc(n, sizeof(*res));
    for (size_t i = 0; i < n; i++) {
        char doc[160];
        snprintf(doc, sizeof(doc),
                 "{\"_type\":\"location\",\"lat\":%.6f,\"lon\":%.6f,\"tst\":%lld}", p[i][0],
                 p[i][1], (long long)(t0 + (int64_t)i));
        struct json_object *o = json_tokener_parse(doc);
        struct pack_encode_ctx ctx = {
            .type = "location", .tst = t0 + (int64_t)i, .tst_member = true};
        sink_init_mem(&bufs[i], 64);
        cr_assert_eq(pack_encode(&bufs[i], o, &ctx), 0);
        json_object_put(o);
        recs[i] = (struct store_record){.kind = OWNTRACKS_LOCATION,
                                        .user = "jane",
                                        .device = "phone",
                                        .tst = t0 + (int64_t)i,
                                        .data = bufs[i].buf,
                                        .len = bufs[i].len,
                                        .received = 1};
    }
    cr_assert_eq(store_write_batch(st, recs, n, res), 0);
    for (size_t i = 0; i < n; i++)
        sink_free(&bufs[i]);
    free(recs);
    free(bufs);
    free(res);
}

/* Writes one point (lat 1, lon 2) at each of tsts[0..n). */
static void write_at(const int64_t *tsts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double p[1][2] = {{1, 2}};
        write_track(p, 1, tsts[i]);
    }
}

/* Runs an opened track export to its end and parses it; frees the sink and the track. */
static struct json_object *finish_json(struct query_track *t, struct sink *out)
{
    int rc;
    while ((rc = query_track_fill(t, out, SIZE_MAX)) == 1)
        ;
    cr_assert_eq(rc, 0);
    query_track_close(t);
    sink_putc(out, '\0');
    struct json_object *o = json_tokener_parse(out->buf);
    cr_assert_not_null(o);
    sink_free(out);
    return o;
}

/* Plans jane/phone's export and starts it as JSON, as the doors do. */
static int open_track(const struct query_range *range, struct sink *out, struct query_track **t)
{
    struct query_plan plan;
    int rc = query_plan_export(st, "jane", "phone", range, &plan);
    if (rc == 0)
        rc = query_track_open(st, &plan, FMT_JSON, NULL, out, t);
    query_plan_free(&plan);
    return rc;
}

/* Runs a track export as JSON and parses it. */
static struct json_object *export_json(const struct query_range *range)
{
    struct sink out;
    struct query_track *t;
    sink_init_mem(&out, 4096);
    cr_assert_eq(open_track(range, &out, &t), 0);
    int rc;
    while ((rc = query_track_fill(t, &out, SIZE_MAX)) == 1)
        ;
    cr_assert_eq(rc, 0);
    query_track_close(t);
    sink_putc(&out, '\0');
    struct json_object *o = json_tokener_parse(out.buf);
    cr_assert_not_null(o);
    sink_free(&out);
    return o;
}

Test(query, thinning_keeps_the_ends_and_the_corners)
{
    enum { N = 10000 };
    static double p[N][2];
    /* east for 4000 points, a sharp corner, then north; a spike in the middle of the first
     * leg (a detour worth keeping). */
    for (int i = 0; i < N; i++) {
        if (i < 4000) {
            p[i][0] = 48.0;
            p[i][1] = 2.0 + i * 1e-5;
        } else {
            p[i][0] = 48.0 + (i - 4000) * 1e-5;
            p[i][1] = 2.04;
        }
    }
    p[2000][0] = 48.01; /* the spike */
    write_track(p, N, 1000000);

    struct query_range all = {.from = 0, .to = WTIME_MAX};
    struct json_object *full = export_json(&all);
    cr_expect_eq(json_object_array_length(full), N);
    json_object_put(full);

    struct query_range thin = {.from = 0, .to = WTIME_MAX, .max_points = 100};
    struct json_object *o = export_json(&thin);
    size_t n = json_object_array_length(o);
    cr_expect_leq(n, 100);
    cr_expect_geq(n, 90);
    int64_t prev = -1;
    bool corner = false, spike = false;
    for (size_t i = 0; i < n; i++) {
        struct json_object *pt = json_object_array_get_idx(o, i), *v;
        json_object_object_get_ex(pt, "tst", &v);
        int64_t tst = json_object_get_int64(v);
        cr_assert_gt(tst, prev, "in time order");
        prev = tst;
        if (i == 0)
            cr_expect_eq(tst, 1000000, "the first point is kept");
        if (i == n - 1)
            cr_expect_eq(tst, 1000000 + N - 1, "the last point is kept");
        corner |= tst >= 1000000 + 3995 && tst <= 1000000 + 4005;
        spike |= tst == 1000000 + 2000;
    }
    cr_expect(corner, "a point at the corner is kept");
    cr_expect(spike, "the detour is kept");
    json_object_put(o);

    struct query_range few = {.from = 0, .to = WTIME_MAX, .max_points = 50000};
    o = export_json(&few);
    cr_expect_eq(json_object_array_length(o), N, "no thinning when there are fewer points");
    json_object_put(o);

    struct sink out;
    struct query_track *t;
    struct query_range bad = {.from = 0, .to = WTIME_MAX, .max_points = 3};
    sink_init_mem(&out, 64);
    cr_expect_eq(open_track(&bad, &out, &t), -EINVAL);
    sink_free(&out);
}

Test(query, limit_takes_the_newest_in_order)
{
    static double p[100][2];
    for (int i = 0; i < 100; i++) {
        p[i][0] = 1;
        p[i][1] = 2;
    }
    write_track(p, 100, 5000);
    struct query_range r = {.from = 0, .to = 5089, .limit = 3};
    struct json_object *o = export_json(&r);
    cr_assert_eq(json_object_array_length(o), 3);
    struct json_object *v;
    json_object_object_get_ex(json_object_array_get_idx(o, 0), "tst", &v);
    cr_expect_eq(json_object_get_int64(v), 5087);
    json_object_put(o);
}

/* ---------------------------------------------------------------- the store changes */

Test(query, limit_counts_what_it_writes_while_points_arrive)
{
    static double p[100][2];
    for (int i = 0; i < 100; i++) {
        p[i][0] = 1;
        p[i][1] = 2;
    }
    write_track(p, 50, 10000); /* 10000..10049: the newest 3 are 10047..10049 */
    struct query_range r = {.from = 0, .to = WTIME_MAX, .limit = 3};
    struct sink out;
    struct query_track *t;
    sink_init_mem(&out, 256);
    cr_assert_eq(open_track(&r, &out, &t), 0);
    /* Between the walk back and the export: newer points, an older one and a copy. */
    write_track(p, 100, 20000);
    const int64_t late[] = {9000, 10047};
    write_at(late, 2);
    struct json_object *o = finish_json(t, &out);
    size_t n = json_object_array_length(o);
    cr_assert_eq(n, 3, "limit 3 writes 3 points, not what arrived since");
    for (size_t i = 0; i < n; i++) {
        struct json_object *v;
        json_object_object_get_ex(json_object_array_get_idx(o, i), "tst", &v);
        cr_expect_eq(json_object_get_int64(v), 10047 + (int64_t)i,
                     "the newest 3 when the export began");
    }
    json_object_put(o);
}

Test(query, limit_stays_bounded_when_late_points_land_inside_it)
{
    const int64_t even[] = {100, 102, 104, 106, 108, 110};
    write_at(even, 6);
    struct query_range r = {.from = 0, .to = WTIME_MAX, .limit = 3};
    struct sink out;
    struct query_track *t;
    sink_init_mem(&out, 256);
    cr_assert_eq(open_track(&r, &out, &t), 0);
    const int64_t odd[] = {105, 107, 109};
    write_at(odd, 3);
    struct json_object *o = finish_json(t, &out);
    cr_assert_eq(json_object_array_length(o), 3, "late points do not stretch the limit");
    json_object_put(o);
}

Test(query, thinning_writes_what_it_chose_while_points_arrive)
{
    static double p[200][2];
    for (int i = 0; i < 200; i++) {
        p[i][0] = 48 + i * 1e-4;
        p[i][1] = 2 + (i % 7) * 1e-4;
    }
    /* Few enough not to thin: the export is exactly the points the count saw. */
    write_track(p, 20, 1000);
    struct query_range r = {.from = 0, .to = WTIME_MAX, .max_points = 30};
    struct sink out;
    struct query_track *t;
    sink_init_mem(&out, 256);
    cr_assert_eq(open_track(&r, &out, &t), 0);
    write_track(p, 200, 5000); /* newer points */
    const int64_t late[] = {500, 1005 /* a duplicate */};
    write_at(late, 2);
    struct json_object *o = finish_json(t, &out);
    cr_expect_eq(json_object_array_length(o), 20, "the 20 points counted, no more");
    json_object_put(o);

    /* Thinned: at most max_points, whatever arrived since. */
    r.max_points = 16;
    sink_init_mem(&out, 256);
    cr_assert_eq(open_track(&r, &out, &t), 0);
    write_track(p, 200, 9000);
    o = finish_json(t, &out);
    cr_expect_leq(json_object_array_length(o), 16);
    cr_expect_geq(json_object_array_length(o), 14);
    json_object_put(o);
}

Test(query, a_plan_looks_the_device_up_once_and_knows_an_unknown_one)
{
    const int64_t tsts[] = {100, 200, 300};
    write_at(tsts, 3);
    struct query_range all = {.from = 0, .to = WTIME_MAX};
    struct query_plan plan;
    cr_assert_eq(query_plan_export(st, "jane", "phone", &all, &plan), 0);
    cr_expect(plan.found);
    cr_expect_eq(plan.dev.first_tst, 100, "the plan holds the device's first point");
    cr_expect_eq(plan.dev.last_tst, 300);
    query_plan_free(&plan);

    struct query_range newest = {.from = 0, .to = WTIME_MAX, .limit = 2};
    cr_assert_eq(query_plan_export(st, "jane", "phone", &newest, &plan), 0);
    cr_expect_eq(plan.from, 200, "limit narrows the stretch to read to the newest two");
    cr_expect_eq(plan.to, 300);
    query_plan_free(&plan);

    cr_assert_eq(query_plan_export(st, "jane", "nothing", &all, &plan), 0);
    cr_expect_not(plan.found, "an unknown device is a plan with nothing to read");
    struct sink out;
    struct query_track *t;
    sink_init_mem(&out, 64);
    cr_assert_eq(query_track_open(st, &plan, FMT_JSON, NULL, &out, &t), 0);
    struct json_object *o = finish_json(t, &out);
    cr_expect_eq(json_object_array_length(o), 0, "its export is an empty document");
    json_object_put(o);
    query_plan_free(&plan);
}

Test(query, months_list_the_months_with_visible_points)
{
    /* 2024-01-05, 2024-01-31 23:59:59, 2024-02-10 (hidden: its month has nothing to show),
     * 2024-03-01 00:00:00, 2024-12-31, 2025-01-01 */
    const int64_t tsts[] = {1704412800, 1706745599, 1707523200, 1709251200, 1735603200,
                            1735689600};
    write_at(tsts, sizeof(tsts) / sizeof(tsts[0]));
    cr_assert_eq(store_set_hidden(st, "jane", "phone", 1707523200, true), 0);
    struct sink out;
    cr_assert_eq(sink_init_mem(&out, 256), 0);
    cr_assert_eq(query_months_json(st, "jane", "phone", &out), 0);
    sink_putc(&out, 0);
    cr_expect_str_eq(out.buf, "[\"2024-01\",\"2024-03\",\"2024-12\",\"2025-01\"]");
    sink_free(&out);
    cr_assert_eq(sink_init_mem(&out, 256), 0);
    cr_assert_eq(query_months_json(st, "jane", "nobody", &out), 0);
    sink_putc(&out, 0);
    cr_expect_str_eq(out.buf, "[]");
    sink_free(&out);
}
