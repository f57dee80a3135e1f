/* The timeline kept in the store (store.h, "timeline"; store_timeline.c): whatever order the
 * points come in, whatever is deleted or hidden, the stored timeline and days are what a
 * rebuild from the points gives. */
#include <criterion/criterion.h>
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "pack.h"
#include "store.h"
#include "store_internal.h"
#include "wtime.h"

static char dir[256];
static struct store *st;
static struct store_user_settings utc;

static void setup(void)
{
    tmpdir_make(dir, sizeof(dir));
    snprintf(utc.zone, sizeof(utc.zone), "UTC");
    tl_settings_default(&utc.tl);
    struct store_options opt = {.timeline = &utc};
    cr_assert_eq(store_open(dir, &opt, &st), 0);
}

static void teardown(void)
{
    store_close(st);
    tmpdir_remove(dir);
}

TestSuite(store_timeline, .init = setup, .fini = teardown);

/* 2024-05-03, UTC. */
#define DAY0 1714694400

/* Small deterministic noise in [-1, 1]. */
static double noise(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return (double)((*seed >> 8) & 0xffff) / 32767.5 - 1.0;
}

/* A day: home until 08:00, a 30-minute walk 2 km north, work until 17:00, a 20-minute drive
 * back, home until midnight. Fixes every minute at home, every 30 s moving, every 2 minutes
 * at work, with 10 m of noise (acc 15). Appends to f; returns the new count. */
static size_t make_day(struct test_fix *f, size_t n, int64_t day, unsigned seed)
{
    const double home_lat = 48.8500, home_lon = 2.3500, work_lat = 48.8680, work_lon = 2.3500;
    const double m = 1.0 / 111195.0; /* degrees of latitude per metre */
    for (int64_t t = day; t < day + 8 * 3600; t += 60)
        f[n++] = (struct test_fix){t, home_lat + 10 * m * noise(&seed),
                                   home_lon + 10 * m * noise(&seed), 15};
    for (int64_t t = day + 8 * 3600; t < day + 8 * 3600 + 1800; t += 30) {
        double k = (double)(t - day - 8 * 3600) / 1800.0;
        f[n++] = (struct test_fix){t, home_lat + k * (work_lat - home_lat) + 5 * m * noise(&seed),
                                   home_lon + 5 * m * noise(&seed), 10};
    }
    for (int64_t t = day + 8 * 3600 + 1800; t < day + 17 * 3600; t += 120)
        f[n++] = (struct test_fix){t, work_lat + 10 * m * noise(&seed),
                                   work_lon + 10 * m * noise(&seed), 15};
    for (int64_t t = day + 17 * 3600; t < day + 17 * 3600 + 1200; t += 30) {
        double k = (double)(t - day - 17 * 3600) / 1200.0;
        f[n++] = (struct test_fix){t, work_lat + k * (home_lat - work_lat) + 5 * m * noise(&seed),
                                   work_lon + 5 * m * noise(&seed), 10};
    }
    for (int64_t t = day + 17 * 3600 + 1200; t < day + 86400; t += 60)
        f[n++] = (struct test_fix){t, home_lat + 10 * m * noise(&seed),
                                   home_lon + 10 * m * noise(&seed), 15};
    return n;
}

#define MAX_FIXES 8000

static uint32_t id_of(struct store *s, const char *device)
{
    struct store_device d;
    cr_assert_eq(store_get_device(s, "jane", device, &d), 0, "device %s exists", device);
    return d.id;
}

struct segs {
    struct tl_segment v[512];
    bool open[512];
    size_t n;
};

static int collect(void *arg, enum tl_event ev, const struct tl_segment *g)
{
    struct segs *s = arg;
    cr_assert(s->n < 512);
    s->open[s->n] = ev == TL_OPENED;
    s->v[s->n++] = *g;
    return 0;
}

static void read_all(struct store *s, const char *device, struct segs *out)
{
    out->n = 0;
    cr_assert_eq(store_timeline_read(s, id_of(s, device), 0, WTIME_MAX, INT64_MIN, 0, collect, out),
                 0);
}

struct days {
    struct store_day v[64];
    size_t n;
};

static int collect_day(void *arg, const struct store_day *d)
{
    struct days *s = arg;
    cr_assert(s->n < 64);
    s->v[s->n++] = *d;
    return 0;
}

static void read_days(struct store *s, const char *device, struct days *out)
{
    out->n = 0;
    cr_assert_eq(store_days_read(s, id_of(s, device), 19700101, 99991231, collect_day, out), 0);
}

static void expect_same_timeline(const struct segs *a, const struct segs *b, const char *what)
{
    cr_assert_eq(a->n, b->n, "%s: %zu segments, a rebuild has %zu", what, a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        const struct tl_segment *x = &a->v[i], *y = &b->v[i];
        cr_assert(x->kind == y->kind && x->start == y->start && x->end == y->end &&
                      x->points == y->points && a->open[i] == b->open[i],
                  "%s: segment %zu is %s %lld-%lld (%u points), a rebuild has %s %lld-%lld (%u)",
                  what, i, tl_kind_name(x->kind), (long long)x->start, (long long)x->end, x->points,
                  tl_kind_name(y->kind), (long long)y->start, (long long)y->end, y->points);
        cr_assert(fabs(x->lat - y->lat) < 1e-9 && fabs(x->distance_m - y->distance_m) < 1e-6,
                  "%s: segment %zu has the same figures", what, i);
    }
}

static void expect_same_days(const struct days *a, const struct days *b, const char *what)
{
    cr_assert_eq(a->n, b->n, "%s: %zu days, a rebuild has %zu", what, a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        const struct store_day *x = &a->v[i], *y = &b->v[i];
        cr_assert(x->date == y->date && x->points == y->points && x->first == y->first &&
                      x->last == y->last && x->stays == y->stays && x->trips == y->trips &&
                      x->stay_s == y->stay_s && x->nstays == y->nstays,
                  "%s: day %u has %u points, %u stays, %lld s staying; a rebuild: day %u, %u, "
                  "%u, %lld",
                  what, x->date, x->points, x->stays, (long long)x->stay_s, y->date, y->points,
                  y->stays, (long long)y->stay_s);
        cr_assert(fabs(x->distance_m - y->distance_m) < 1e-3, "%s: day %u distance %.3f vs %.3f",
                  what, x->date, x->distance_m, y->distance_m);
    }
}

/* The timeline and days of `device` in a fresh store holding only f[0..n), in order. */
static void reference(const struct test_fix *f, size_t n, struct segs *segs, struct days *days)
{
    char d2[256];
    struct store *s2;
    struct store_options opt = {.timeline = &utc};
    tmpdir_make(d2, sizeof(d2));
    cr_assert_eq(store_open(d2, &opt, &s2), 0);
    test_write_fixes(s2, "phone", f, n, 64);
    read_all(s2, "phone", segs);
    read_days(s2, "phone", days);
    store_close(s2);
    tmpdir_remove(d2);
}

static struct test_fix fixes[3 * MAX_FIXES];

Test(store_timeline, finds_the_stays_of_a_day_as_its_points_arrive_one_by_one)
{
    size_t n = make_day(fixes, 0, DAY0, 1);
    test_write_fixes(st, "phone", fixes, n, 1);
    struct segs s;
    read_all(st, "phone", &s);
    size_t stays = 0;
    for (size_t i = 0; i < s.n; i++) {
        if (i)
            cr_expect_eq(s.v[i].start, s.v[i - 1].end, "segments tile time");
        if (s.v[i].kind == TL_STAY)
            stays++;
    }
    cr_expect_eq(stays, 3, "home, work, home: %zu stays", stays);
    cr_assert(s.n >= 3 && s.v[0].kind == TL_STAY);
    /* leaving home at 08:00 and arriving at work at 08:30, give or take the fixes */
    for (size_t i = 0; i < s.n; i++) {
        if (s.v[i].kind == TL_STAY && s.v[i].start > DAY0 + 3600 && s.v[i].start < DAY0 + 12 * 3600)
            cr_expect(llabs(s.v[i].start - (DAY0 + 8 * 3600 + 1800)) <= 300,
                      "arrival at work %lld s off", (long long)(s.v[i].start - DAY0 - 30600));
    }
    cr_expect(llabs(s.v[0].end - (DAY0 + 8 * 3600)) <= 300, "left home %lld s off",
              (long long)(s.v[0].end - DAY0 - 8 * 3600));

    struct days d;
    read_days(st, "phone", &d);
    cr_assert_eq(d.n, 1);
    cr_expect_eq(d.v[0].date, 20240503u);
    cr_expect_eq(d.v[0].points, n);
    cr_expect_eq(d.v[0].first, DAY0);
    cr_expect_eq(d.v[0].start, DAY0);
    cr_expect_eq(d.v[0].end, DAY0 + 86400);
    cr_expect(d.v[0].distance_m > 3600 && d.v[0].distance_m < 4400, "two legs of 2 km: %.0f m",
              d.v[0].distance_m);
    cr_expect_eq(d.v[0].stays, 3);
    cr_expect(d.v[0].stay_s > 22 * 3600, "most of the day spent staying: %lld s",
              (long long)d.v[0].stay_s);

    struct segs ref;
    struct days refd;
    reference(fixes, n, &ref, &refd);
    expect_same_timeline(&s, &ref, "one by one");
    expect_same_days(&d, &refd, "one by one");
}

Test(store_timeline, late_points_give_what_a_rebuild_gives)
{
    size_t n = make_day(fixes, 0, DAY0, 7);
    n = make_day(fixes, n, DAY0 + 86400, 8);
    n = make_day(fixes, n, DAY0 + 2 * 86400, 9);
    /* Deliver in runs of random length, one run in four held back and flushed later, as a
     * phone that buffered for hours does. */
    static struct test_fix order[3 * MAX_FIXES], held[3 * MAX_FIXES];
    size_t no = 0, nh = 0;
    unsigned seed = 3;
    for (size_t i = 0; i < n;) {
        size_t run = 1 + (size_t)((noise(&seed) + 1) * 60);
        bool hold = noise(&seed) > 0.5;
        for (size_t j = 0; j < run && i < n; j++, i++) {
            if (hold)
                held[nh++] = fixes[i];
            else
                order[no++] = fixes[i];
        }
        if (nh && noise(&seed) > 0.6) { /* the flush */
            memcpy(order + no, held, nh * sizeof(*held));
            no += nh;
            nh = 0;
        }
    }
    memcpy(order + no, held, nh * sizeof(*held));
    no += nh;
    cr_assert_eq(no, n);
    for (size_t i = 0; i < no; i += 40)
        test_write_fixes(st, "phone", order + i, no - i < 40 ? no - i : 40, 40);

    struct segs got, ref, rebuilt;
    struct days gotd, refd, rebuiltd;
    read_all(st, "phone", &got);
    read_days(st, "phone", &gotd);
    reference(fixes, n, &ref, &refd);
    expect_same_timeline(&got, &ref, "late points");
    expect_same_days(&gotd, &refd, "late points");
    cr_expect_eq(gotd.n, 3);

    uint64_t points = 0;
    cr_assert_eq(store_timeline_rebuild(st, "jane", "phone", &points), 0);
    cr_expect_eq(points, n);
    read_all(st, "phone", &rebuilt);
    read_days(st, "phone", &rebuiltd);
    expect_same_timeline(&rebuilt, &ref, "rebuilt");
    expect_same_days(&rebuiltd, &refd, "rebuilt");
}

Test(store_timeline, deleting_and_hiding_points_recompute_what_they_touched)
{
    size_t n = make_day(fixes, 0, DAY0, 11);
    n = make_day(fixes, n, DAY0 + 86400, 12);
    test_write_fixes(st, "phone", fixes, n, 64);

    /* Delete the first day's afternoon: the stays of that day change, and the days. */
    uint64_t removed;
    int64_t from = DAY0 + 12 * 3600, to = DAY0 + 20 * 3600;
    cr_assert_eq(store_delete_points(st, "jane", "phone", from, to, false, &removed), 0);
    static struct test_fix kept[3 * MAX_FIXES];
    size_t nk = 0;
    for (size_t i = 0; i < n; i++)
        if (fixes[i].tst < from || fixes[i].tst > to)
            kept[nk++] = fixes[i];
    cr_assert_eq(removed, n - nk);
    struct segs got, ref;
    struct days gotd, refd;
    read_all(st, "phone", &got);
    read_days(st, "phone", &gotd);
    reference(kept, nk, &ref, &refd);
    expect_same_timeline(&got, &ref, "after deleting");
    expect_same_days(&gotd, &refd, "after deleting");

    /* Hide a fix in the middle of the second morning's walk: as if it had never come. */
    int64_t walk = DAY0 + 86400 + 8 * 3600 + 900;
    cr_assert_eq(store_set_hidden(st, "jane", "phone", walk, true), 0);
    size_t nv = 0;
    for (size_t i = 0; i < nk; i++)
        if (kept[i].tst != walk)
            kept[nv++] = kept[i];
    cr_assert_eq(nv, nk - 1);
    read_all(st, "phone", &got);
    read_days(st, "phone", &gotd);
    reference(kept, nv, &ref, &refd);
    expect_same_timeline(&got, &ref, "after hiding");
    expect_same_days(&gotd, &refd, "after hiding");
}

Test(store_timeline, days_are_the_users_local_days)
{
    size_t n = make_day(fixes, 0, DAY0, 5);
    test_write_fixes(st, "phone", fixes, n, 64);
    struct days d;
    read_days(st, "phone", &d);
    cr_assert_eq(d.n, 1, "one UTC day");

    struct store_user_settings tokyo = utc;
    snprintf(tokyo.zone, sizeof(tokyo.zone), "Asia/Tokyo");
    cr_assert_eq(store_set_user_settings(st, "jane", &tokyo), 0);
    struct store_user_settings back;
    cr_assert_eq(store_user_settings(st, "jane", &back), 0);
    cr_expect_str_eq(back.zone, "Asia/Tokyo");
    read_days(st, "phone", &d);
    cr_assert_eq(d.n, 2, "a UTC day is two days in Tokyo (UTC+9)");
    cr_expect_eq(d.v[0].date, 20240503u);
    cr_expect_eq(d.v[1].date, 20240504u);
    cr_expect_eq(d.v[0].points + d.v[1].points, n);
    cr_expect_eq(d.v[1].start, DAY0 + 15 * 3600, "Tokyo's 4 May begins at 15:00Z");

    struct store_user_settings bad = utc;
    snprintf(bad.zone, sizeof(bad.zone), "Mars/Olympus_Mons");
    cr_expect_eq(store_set_user_settings(st, "jane", &bad), -EINVAL);
    bad = utc;
    bad.tl.stay_radius_m = -1;
    cr_expect_eq(store_set_user_settings(st, "jane", &bad), -EINVAL);
}

static int mark_stale(struct store *s, MDB_txn *txn, void *arg)
{
    return stl_mark(s, txn, *(uint32_t *)arg, DAY0 + 9 * 3600);
}

Test(store_timeline, a_stale_mark_left_by_a_crash_is_made_good_before_anything_is_read)
{
    size_t n = make_day(fixes, 0, DAY0, 21);
    test_write_fixes(st, "phone", fixes, n, 64);
    struct segs before, after;
    read_all(st, "phone", &before);
    /* What a deletion in small transactions leaves when the process dies before its last. */
    uint32_t id = id_of(st, "phone");
    cr_assert_eq(store_with_write_txn(st, mark_stale, &id, "test"), 0);
    read_all(st, "phone", &after);
    expect_same_timeline(&after, &before, "after the mark");

    cr_assert_eq(store_with_write_txn(st, mark_stale, &id, "test"), 0);
    store_close(st);
    struct store_options ro = {.read_only = true, .timeline = &utc};
    cr_assert_eq(store_open(dir, &ro, &st), 0);
    struct segs out = {0};
    cr_expect_eq(store_timeline_read(st, id, 0, WTIME_MAX, INT64_MIN, 0, collect, &out), -EAGAIN,
                 "a read-only store cannot bring it up to date, and says so");
    store_close(st);
    struct store_options rw = {.timeline = &utc};
    cr_assert_eq(store_open(dir, &rw, &st), 0, "opening for writing brings it up to date");
    store_close(st);
    cr_assert_eq(store_open(dir, &ro, &st), 0);
    read_all(st, "phone", &after);
    expect_same_timeline(&after, &before, "after reopening");
}

Test(store_timeline, a_device_with_one_point_has_one_open_segment)
{
    struct test_fix one = {DAY0 + 100, 10.0, 20.0, NAN};
    test_write_fixes(st, "lonely", &one, 1, 1);
    struct segs s;
    read_all(st, "lonely", &s);
    cr_assert_eq(s.n, 1);
    cr_expect(s.open[0]);
    cr_expect_eq(s.v[0].start, DAY0 + 100);
    struct days d;
    read_days(st, "lonely", &d);
    cr_assert_eq(d.n, 1);
    cr_expect_eq(d.v[0].points, 1);

    struct store_removed r;
    cr_assert_eq(store_delete_device(st, "jane", "lonely", false, &r), 0);
    test_write_fixes(st, "lonely", &one, 1, 1); /* a new device of the same name starts afresh */
    read_days(st, "lonely", &d);
    cr_expect_eq(d.n, 1);
}

struct heard {
    int opened, closed;
    char device[32], zone[64];
};

static void hook(void *arg, const char *user, const char *device, const char *zone,
                 enum tl_event ev, const struct tl_segment *seg)
{
    struct heard *h = arg;
    cr_expect_str_eq(user, "jane");
    snprintf(h->device, sizeof(h->device), "%s", device);
    snprintf(h->zone, sizeof(h->zone), "%s", zone);
    cr_expect(seg->start <= seg->end);
    if (ev == TL_OPENED)
        h->opened++;
    else
        h->closed++;
}

Test(store_timeline, tells_the_hook_what_opened_and_closed_after_the_commit)
{
    struct heard h = {0};
    store_set_timeline_hook(st, hook, &h);
    size_t n = make_day(fixes, 0, DAY0, 2);
    test_write_fixes(st, "phone", fixes, n, 16);
    cr_expect_str_eq(h.device, "phone");
    cr_expect_str_eq(h.zone, "UTC", "the user's zone by name (the store's default here)");
    cr_expect(h.closed >= 4, "stays and trips closed: %d", h.closed);
    cr_expect(h.opened >= 3, "stays and trips opened: %d", h.opened);
}

Test(store_timeline, a_deferred_bulk_load_is_brought_up_to_date_when_read)
{
    size_t n = make_day(fixes, 0, DAY0, 31);
    n = make_day(fixes, n, DAY0 + 86400, 32);
    store_set_timeline_deferred(st, true);
    /* newest first, as an import of a phone's backlog behind newer points might come */
    test_write_fixes(st, "phone", fixes + n / 2, n - n / 2, 64);
    test_write_fixes(st, "phone", fixes, n / 2, 64);
    struct segs got, ref;
    struct days gotd, refd;
    read_all(st, "phone", &got);
    read_days(st, "phone", &gotd);
    reference(fixes, n, &ref, &refd);
    expect_same_timeline(&got, &ref, "deferred, then read");
    expect_same_days(&gotd, &refd, "deferred, then read");

    test_write_fixes(st, "tablet", fixes, n, 64);
    cr_assert_eq(store_timeline_catch_up(st), 0);
    store_set_timeline_deferred(st, false);
    read_all(st, "tablet", &got);
    expect_same_timeline(&got, &ref, "deferred, then caught up");
}
