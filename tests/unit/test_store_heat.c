/* The heat counts kept in the store (store.h, "heat"; store_heat.c) as heat_read reads them:
 * whatever order the points come in, whatever is deleted or hidden, imported or reopened, the
 * grid from the counts is the grid of the points counted one by one. */
#include <criterion/criterion.h>
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heat.h"
#include "helpers.h"
#include "pack.h"
#include "store.h"
#include "store_internal.h"
#include "varint.h"
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

TestSuite(store_heat, .init = setup, .fini = teardown);

/* 2024-05-03T00:00:00Z */
#define DAY0  1714694400
#define DAY_S 86400

static unsigned rnd(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return (*seed >> 8) & 0xffffff;
}

/* n fixes of a walk around Paris from `start`, one every 1..200 s, with now and then a jump of
 * a few km and a fix that repeats the one before's position; times in order. */
static size_t make_walk(struct test_fix *f, size_t n, int64_t start, unsigned seed)
{
    double lat = 48.85, lon = 2.35;
    int64_t t = start;
    for (size_t i = 0; i < n; i++) {
        unsigned r = rnd(&seed);
        if (r % 50 == 0) {
            lat += ((int)(rnd(&seed) % 2001) - 1000) * 2e-5;
            lon += ((int)(rnd(&seed) % 2001) - 1000) * 2e-5;
        } else if (r % 7) {
            lat += ((int)(rnd(&seed) % 2001) - 1000) * 1e-7;
            lon += ((int)(rnd(&seed) % 2001) - 1000) * 1e-7;
        }
        t += 1 + rnd(&seed) % 200;
        f[i] = (struct test_fix){.tst = t, .lat = lat, .lon = lon};
    }
    return n;
}

/* The reference: every visible point read back through the store's iterator and counted in
 * its cell, the box judged as heat.h says (by the centre of the point's cell at
 * STORE_HEAT_ZOOM up to that zoom, by the point itself beyond). */
static void count_points(struct store *s, const char *device, int64_t from, int64_t to, int zoom,
                         const struct heat_bbox *box, struct heat_grid *g)
{
    struct store_device *devs;
    size_t nd;
    heat_grid_init(g, zoom);
    cr_assert_eq(store_devices(s, "jane", device, &devs, &nd), 0);
    for (size_t d = 0; d < nd; d++) {
        struct store_iter *it;
        struct store_item item;
        int rc;
        cr_assert_eq(store_iter_points(s, devs[d].id, from, to, 0, &it), 0);
        while ((rc = store_iter_next(it, &item)) == 1) {
            struct pack_value v;
            double lat, lon;
            uint32_t x, y, bx, by;
            cr_assert_eq(pack_find(item.data, item.len, item.tst, "location", "lat", &v), 1);
            cr_assert(pack_to_double(&v, &lat));
            cr_assert_eq(pack_find(item.data, item.len, item.tst, "location", "lon", &v), 1);
            cr_assert(pack_to_double(&v, &lon));
            cr_assert(mercator_cell(lat, lon, zoom, &x, &y));
            if (box && zoom <= STORE_HEAT_ZOOM) {
                cr_assert(mercator_cell(lat, lon, STORE_HEAT_ZOOM, &bx, &by));
                if (!heat_bbox_contains(box, mercator_row_lat(by, STORE_HEAT_ZOOM),
                                        mercator_column_lon(bx, STORE_HEAT_ZOOM)))
                    continue;
            } else if (box && !heat_bbox_contains(box, lat, lon)) {
                continue;
            }
            cr_assert_eq(heat_grid_add_cell(g, x, y, 1), 0);
        }
        cr_assert_eq(rc, 0);
        store_iter_close(it);
    }
    free(devs);
    cr_assert_eq(heat_grid_sort(g), 0);
}

static void read_heat(struct store *s, const char *device, int64_t from, int64_t to, int zoom,
                      const struct heat_bbox *box, bool scan, struct heat_grid *g)
{
    struct heat_request rq = {.user = "jane",
                              .device = device,
                              .from = from,
                              .to = to,
                              .zoom = zoom,
                              .bbox = box,
                              .scan_points = scan};
    heat_grid_init(g, zoom);
    cr_assert_eq(heat_read(s, &rq, g), 0);
}

static void expect_same(const struct heat_grid *a, const struct heat_grid *b, const char *what)
{
    cr_assert_eq(a->points, b->points, "%s: %llu points counted, the points say %llu", what,
                 (unsigned long long)a->points, (unsigned long long)b->points);
    cr_assert_eq(a->n, b->n, "%s: %zu cells, the points make %zu", what, a->n, b->n);
    for (size_t i = 0; i < a->n; i++)
        cr_assert(a->slot[i].x == b->slot[i].x && a->slot[i].y == b->slot[i].y &&
                      a->slot[i].count == b->slot[i].count,
                  "%s: cell %zu is %u,%u x%u, the points make %u,%u x%u", what, i, a->slot[i].x,
                  a->slot[i].y, a->slot[i].count, b->slot[i].x, b->slot[i].y, b->slot[i].count);
}

/* The grid from the counts, from the points, and the reference agree for whole days, parts of
 * days, every zoom class, with and without a box. Returns the points of the widest range. */
static uint64_t expect_true(struct store *s, const char *what)
{
    static const int zooms[] = {0, 4, 12, STORE_HEAT_ZOOM, STORE_HEAT_ZOOM + 1};
    const struct heat_bbox box = {2.33, 48.84, 2.37, 48.86}, all = {-180, -90, 180, 90};
    const int64_t ranges[][2] = {{0, WTIME_MAX},
                                 {DAY0, DAY0 + 3 * DAY_S - 1},
                                 {DAY0 + DAY_S, DAY0 + 2 * DAY_S - 1},
                                 {DAY0 + 5000, DAY0 + 2 * DAY_S + 7000},
                                 {DAY0 + 5000, DAY0 + 9000},
                                 {DAY0 - DAY_S, DAY0 + DAY_S}};
    uint64_t points = 0;
    char label[160];
    for (size_t r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++) {
        for (size_t z = 0; z < sizeof(zooms) / sizeof(zooms[0]); z++) {
            for (int b = 0; b < 3; b++) {
                const char *devices[] = {NULL, "phone"};
                const struct heat_bbox *bb = b == 0 ? NULL : b == 1 ? &box : &all;
                for (int d = 0; d < 2; d++) {
                    struct heat_grid kept, scanned, ref;
                    snprintf(label, sizeof(label), "%s: range %zu, zoom %d, box %d, %s", what, r,
                             zooms[z], b, devices[d] ? devices[d] : "all devices");
                    read_heat(s, devices[d], ranges[r][0], ranges[r][1], zooms[z], bb, false,
                              &kept);
                    read_heat(s, devices[d], ranges[r][0], ranges[r][1], zooms[z], bb, true,
                              &scanned);
                    count_points(s, devices[d], ranges[r][0], ranges[r][1], zooms[z], bb, &ref);
                    expect_same(&kept, &ref, label);
                    expect_same(&scanned, &ref, label);
                    if (r == 0 && !bb && !devices[d])
                        points = ref.points;
                    heat_grid_free(&kept);
                    heat_grid_free(&scanned);
                    heat_grid_free(&ref);
                }
            }
        }
    }
    return points;
}

#define NFIX 3000
static struct test_fix fixes[NFIX], tablet[NFIX];

/* Two devices over four days from DAY0 - 6 h: the phone's points shuffled in batches (late and
 * out of order), sent twice (duplicates); the tablet's in order. */
static void fill(struct store *s)
{
    make_walk(fixes, NFIX, DAY0 - 6 * 3600, 7);
    make_walk(tablet, NFIX / 2, DAY0 + 3600, 11);
    struct test_fix *shuffled = malloc(sizeof(fixes));
    memcpy(shuffled, fixes, sizeof(fixes));
    unsigned seed = 3;
    for (size_t i = NFIX - 1; i > 0; i--) {
        size_t j = rnd(&seed) % (i + 1);
        struct test_fix t = shuffled[i];
        shuffled[i] = shuffled[j];
        shuffled[j] = t;
    }
    test_write_fixes(s, "phone", shuffled, NFIX / 2, 64);
    test_write_fixes(s, "tablet", tablet, NFIX / 2, 20);
    test_write_fixes(s, "phone", shuffled + NFIX / 2, NFIX - NFIX / 2, 1 + NFIX % 63);
    test_write_fixes(s, "phone", fixes, NFIX, 50); /* all duplicates now */
    free(shuffled);
}

Test(store_heat, the_counts_are_the_points_counted_one_by_one)
{
    fill(st);
    uint64_t n = expect_true(st, "stored");
    cr_expect_eq(n, NFIX + NFIX / 2, "every point counted once: %llu", (unsigned long long)n);
}

Test(store_heat, deleting_and_hiding_points_and_devices_keep_them_true)
{
    fill(st);
    uint64_t removed;
    /* across a day boundary, from the middle of one day to the middle of the next */
    cr_assert_eq(store_delete_points(st, "jane", "phone", DAY0 + DAY_S / 2, DAY0 + 3 * DAY_S / 2,
                                     false, &removed),
                 0);
    cr_assert_gt(removed, 0);
    expect_true(st, "after deleting a range");
    for (int i = 0; i < NFIX; i += 37)
        store_set_hidden(st, "jane", "phone", fixes[i].tst, true); /* some were deleted: -ENOENT */
    expect_true(st, "after hiding points");
    for (int i = 0; i < NFIX; i += 74)
        store_set_hidden(st, "jane", "phone", fixes[i].tst, false);
    expect_true(st, "after showing some again");
    struct store_removed out;
    cr_assert_eq(store_delete_device(st, "jane", "tablet", false, &out), 0);
    uint64_t n = expect_true(st, "after deleting a device");
    /* points come back to the deleted days and device */
    test_write_fixes(st, "phone", fixes, NFIX, 64);
    test_write_fixes(st, "tablet", tablet, 10, 10);
    expect_true(st, "after writing them again");
    cr_expect_gt(n, 0);
}

Test(store_heat, survive_reopening_and_read_only)
{
    fill(st);
    store_close(st);
    cr_assert_eq(store_open(dir, NULL, &st), 0);
    expect_true(st, "reopened");
    store_close(st);
    struct store_options ro = {.read_only = true};
    cr_assert_eq(store_open(dir, &ro, &st), 0);
    expect_true(st, "read-only");
}

Test(store_heat, a_deferred_import_counts_the_points_until_caught_up)
{
    store_set_timeline_deferred(st, true);
    store_set_heat_deferred(st, true);
    fill(st);
    expect_true(st, "deferred: read from the points");
    unsigned made;
    cr_assert_eq(store_heat_catch_up(st, &made), 0);
    cr_expect_eq(made, 2, "both devices' counts made, not %u", made);
    store_set_heat_deferred(st, false);
    test_write_fixes(st, "tablet", tablet + NFIX / 2 - 100, 100, 7); /* duplicates */
    make_walk(tablet, 200, DAY0 + 4 * DAY_S, 5);
    test_write_fixes(st, "tablet", tablet, 200, 13);
    expect_true(st, "caught up, then more");
    cr_assert_eq(store_heat_catch_up(st, &made), 0);
    cr_expect_eq(made, 0, "nothing left to make");
}

static int drop_heat(struct store *s, MDB_txn *txn, void *arg)
{
    (void)arg;
    int rc = mdb_drop(txn, s->heat, 1);
    return rc ? rc : mdb_drop(txn, s->heat_state, 1);
}

Test(store_heat, a_store_from_before_the_counts_answers_and_gets_them)
{
    fill(st);
    cr_assert_eq(store_with_write_txn(st, drop_heat, NULL, "test"), 0);
    store_close(st);
    struct store_options ro = {.read_only = true};
    cr_assert_eq(store_open(dir, &ro, &st), 0);
    cr_assert_not(st->have_heat, "no table in the store");
    expect_true(st, "read-only, no table: the points");
    store_close(st);
    cr_assert_eq(store_open(dir, NULL, &st), 0, "opening for writing makes the counts");
    store_close(st);
    cr_assert_eq(store_open(dir, &ro, &st), 0);
    cr_assert(st->have_heat);
    expect_true(st, "made when opened");
}

/* The records of device 1's day: how many, their cells and the largest's bytes. */
static void day_records(uint32_t day, size_t *records, size_t *cells, size_t *largest)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    uint8_t key[16] = {0};
    uint64_t last = 0; /* the record before's last cell */
    *records = *cells = *largest = 0;
    put_be32(key, 1);
    put_be32(key + 4, day);
    cr_assert_eq(store_txn_begin(st, MDB_RDONLY, &txn), 0);
    cr_assert_eq(mdb_cursor_open(txn, st->heat, &cur), 0);
    k = (MDB_val){16, key};
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
         rc == 0 && k.mv_size == 16 && get_be32(k.mv_data) == 1 &&
         get_be32((uint8_t *)k.mv_data + 4) == day;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const uint8_t *p = v.mv_data, *end = p + v.mv_size;
        uint64_t n, code = 0;
        cr_assert_eq(p[0], 1, "version 1");
        p++;
        cr_assert(varint_get(&p, end, &n));
        /* the cells in code order, the first the key's, all after the record before */
        for (uint64_t i = 0; i < n; i++) {
            uint64_t delta, count;
            cr_assert(varint_get(&p, end, &delta) && varint_get(&p, end, &count));
            cr_assert(i == 0 || delta > 0, "cells in order, once each");
            code += delta;
            if (i == 0) {
                uint64_t key_code = (uint64_t)get_be32((uint8_t *)k.mv_data + 8) << 32 |
                                    get_be32((uint8_t *)k.mv_data + 12);
                cr_assert_eq(code, key_code, "a record is keyed by its first cell");
                cr_assert(*records == 0 || code > last, "records do not overlap");
            }
        }
        last = code;
        (*records)++;
        *cells += n;
        *largest = v.mv_size > *largest ? v.mv_size : *largest;
    }
    mdb_cursor_close(cur);
    store_txn_abort(st, txn);
}

Test(store_heat, a_day_record_holds_the_days_cells_once_each)
{
    /* 500 points in 5 places on one day: five cells, in code order */
    struct test_fix f[500];
    for (int i = 0; i < 500; i++)
        f[i] = (struct test_fix){.tst = DAY0 + 100 + i, .lat = 48.85 + (i % 5) * 0.01, .lon = 2.35};
    test_write_fixes(st, "phone", f, 500, 64);
    size_t records, cells, largest;
    day_records(DAY0 / DAY_S, &records, &cells, &largest);
    cr_expect_eq(records, 1, "one record");
    cr_expect_eq(cells, 5, "five cells, not %zu", cells);
    cr_expect_lt(largest, 2 + 5 * (8 + 2), "delta-coded: %zu bytes", largest);
    struct heat_grid g;
    read_heat(st, NULL, DAY0, DAY0 + DAY_S - 1, 10, NULL, false, &g);
    cr_expect_eq(g.points, 500);
    cr_expect_eq(g.n, 5);
    for (size_t i = 0; i < g.n; i++)
        cr_expect_eq(g.slot[i].count, 100);
    heat_grid_free(&g);
}

Test(store_heat, a_busy_day_is_kept_in_records_of_a_page)
{
    /* A point a second for over two hours, each in a cell of its own (a 5 m grid, 8 m apart),
     * arriving late and out of order: a day of many records, each at most a page. */
    enum { N = 5000 };
    struct test_fix *f = malloc(N * sizeof(*f));
    for (int i = 0; i < N; i++)
        f[i] = (struct test_fix){DAY0 + 3600 + i, 48.80 + (i / 100) * 8e-5,
                                 2.30 + (i % 100) * 1.2e-4, 0};
    unsigned seed = 9;
    for (int i = N - 1; i > 0; i--) {
        int j = (int)(rnd(&seed) % (unsigned)(i + 1));
        struct test_fix t = f[i];
        f[i] = f[j];
        f[j] = t;
    }
    test_write_fixes(st, "phone", f, N / 2, 64);
    test_write_fixes(st, "phone", f + N / 2, N / 2, 7);
    size_t records, cells, largest;
    day_records(DAY0 / DAY_S, &records, &cells, &largest);
    cr_expect_eq(cells, N, "a cell a point: %zu", cells);
    cr_expect_gt(records, 3, "split into records: %zu", records);
    cr_expect_leq(largest, st->chunk_max, "each at most a page: %zu bytes", largest);
    expect_true(st, "a busy day");
    uint64_t removed;
    cr_assert_eq(
        store_delete_points(st, "jane", "phone", DAY0 + 5000, DAY0 + 6000, false, &removed), 0);
    expect_true(st, "a busy day, less a part");
    free(f);
}

Test(store_heat, unknown_users_and_devices_are_not_found)
{
    struct heat_grid g;
    struct heat_request rq = {.user = "nobody", .from = 0, .to = WTIME_MAX, .zoom = 3};
    heat_grid_init(&g, 3);
    cr_expect_eq(heat_read(st, &rq, &g), -ENOENT);
    fill(st);
    rq.user = "jane";
    rq.device = "watch";
    cr_expect_eq(heat_read(st, &rq, &g), -ENOENT);
    rq.device = NULL;
    rq.from = DAY0 + 10;
    rq.to = DAY0; /* an empty range */
    cr_expect_eq(heat_read(st, &rq, &g), 0);
    cr_expect_eq(g.points, 0);
    heat_grid_free(&g);
}

/* ------------------------------------------------------------ reading while writing */

/* Every batch the writer commits puts BATCH_POINTS points on one spot of its own, and deletes
 * are of whole batches: in any one snapshot, every cell holds a multiple of BATCH_POINTS. */
#define BATCH_POINTS 20
#define ROUNDS       60

struct race {
    atomic_bool stop;
    int bad;
    unsigned reads;
};

static void *reader(void *arg)
{
    struct race *r = arg;
    const int64_t ranges[][2] = {{0, WTIME_MAX}, {DAY0 + 4000, DAY0 + 3 * DAY_S + 5000}};
    for (unsigned i = 0; !atomic_load(&r->stop) || i < 4; i++) {
        struct heat_grid g;
        struct heat_request rq = {
            .user = "jane", .from = ranges[i % 2][0], .to = ranges[i % 2][1], .zoom = 14};
        heat_grid_init(&g, 14);
        int rc = heat_read(st, &rq, &g);
        if (rc && rc != -ENOENT)
            r->bad++;
        for (size_t c = 0; rc == 0 && c < g.n; c++)
            if (g.slot[c].count % BATCH_POINTS)
                r->bad++;
        heat_grid_free(&g);
        r->reads++;
    }
    return NULL;
}

Test(store_heat, reads_see_one_snapshot_while_points_arrive_and_go)
{
    struct race r = {0};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, reader, &r);
    struct test_fix f[BATCH_POINTS];
    for (int round = 0; round < ROUNDS; round++) {
        /* a batch a spot, spread over four days, 4,000 s apart: whole batches stay apart */
        int64_t t0 = DAY0 + (int64_t)(round * 7 % ROUNDS) * 5000;
        for (int i = 0; i < BATCH_POINTS; i++)
            f[i] = (struct test_fix){t0 + i, 48.0 + round * 0.01, 2.0 + round * 0.01, 0};
        test_write_fixes(st, round % 2 ? "phone" : "tablet", f, BATCH_POINTS, BATCH_POINTS);
        if (round % 5 == 4) {
            uint64_t removed;
            int64_t gone = DAY0 + (int64_t)((round - 2) * 7 % ROUNDS) * 5000;
            cr_assert_eq(store_delete_points(st, "jane", (round - 2) % 2 ? "phone" : "tablet", gone,
                                             gone + BATCH_POINTS - 1, false, &removed),
                         0);
        }
    }
    atomic_store(&r.stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    cr_expect_eq(r.bad, 0, "%d answers mixed two snapshots (of %u reads)", r.bad, r.reads);
    cr_expect_gt(r.reads, 0);
    expect_true(st, "after the race");
}

/* ------------------------------------------------------------ checking */

static void collect_problem(void *arg, const char *problem)
{
    char *out = arg;
    if (!out[0])
        snprintf(out, 512, "%s", problem);
}

/* Adds one point to the first cell of device 1's first record (the counts then disagree). */
static int miscount(struct store *s, MDB_txn *txn, void *arg)
{
    MDB_cursor *cur;
    MDB_val k, v;
    uint8_t copy[8192];
    (void)arg;
    int rc = mdb_cursor_open(txn, s->heat, &cur);
    if (rc || (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)))
        return rc;
    cr_assert_leq(v.mv_size, sizeof(copy));
    memcpy(copy, v.mv_data, v.mv_size);
    const uint8_t *p = copy + 1, *end = copy + v.mv_size;
    uint64_t n, delta;
    cr_assert(varint_get(&p, end, &n) && varint_get(&p, end, &delta));
    cr_assert_lt(*p, 127, "a one-byte count to change");
    copy[p - copy]++;
    MDB_val nv = {v.mv_size, copy};
    rc = mdb_cursor_put(cur, &k, &nv, MDB_CURRENT);
    mdb_cursor_close(cur);
    return rc;
}

Test(store_heat, the_check_compares_the_counts_with_the_points)
{
    fill(st);
    char first[512] = "";
    struct store_check_counts counts;
    cr_assert_eq(store_check(st, collect_problem, first, &counts), 0);
    cr_expect_eq(counts.problems, 0, "a clean store: %s", first);
    cr_assert_eq(store_with_write_txn(st, miscount, NULL, "test"), 0);
    cr_assert_eq(store_check(st, collect_problem, first, &counts), 0);
    cr_expect_eq(counts.problems, 1, "one day differs, not %u", counts.problems);
    cr_expect(strstr(first, "jane/phone: the heat counts of 2024-05-02 (UTC) differ"),
              "it says which: %s", first);
}
