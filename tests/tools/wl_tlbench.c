/*
 * wl-tlbench - the timeline's costs in the store, measured on one device's history
 * (tests/bench/bench_timeline_store.py runs it on a year of dayfaker days).
 *
 *   wl-tlbench DIR < fixes.txt
 *
 * Reads "TST LAT LON ACC" lines (dayfaker's text format; other lines are skipped), in time
 * order, and prints one JSON object with:
 *   - ingest: the same points written in batches of BATCH (as MQTT group commits bring them)
 *     into two fresh stores, one keeping the timeline as they arrive, one deferring it (only
 *     marking what changed): wall and CPU seconds of each;
 *   - rebuild: seconds to rebuild the device's timeline from its points (best of 5);
 *   - day: microseconds to read one day's timeline (median and slowest over every day);
 *   - year: microseconds to read a year of day figures (median of 50);
 *   - bytes: the store's size with and without the timeline's databases filled.
 * Figures only: nothing here passes or fails on time.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "pack.h"
#include "sink.h"
#include "store.h"
#include "zone.h"

#define BATCH 20

struct fix {
    int64_t tst;
    double lat, lon, acc;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int pack_fix(const struct fix *f, struct sink *buf)
{
    char doc[200];
    if (f->acc == f->acc)
        snprintf(doc, sizeof(doc),
                 "{\"_type\":\"location\",\"lat\":%.7f,\"lon\":%.7f,\"acc\":%.0f,\"tst\":%lld}",
                 f->lat, f->lon, f->acc, (long long)f->tst);
    else
        snprintf(doc, sizeof(doc),
                 "{\"_type\":\"location\",\"lat\":%.7f,\"lon\":%.7f,\"tst\":%lld}", f->lat, f->lon,
                 (long long)f->tst);
    struct json_object *o = json_tokener_parse(doc);
    struct pack_encode_ctx ctx = {.type = "location", .tst = f->tst, .tst_member = true};
    int rc = sink_init_mem(buf, 96) || !o ? -ENOMEM : pack_encode(buf, o, &ctx);
    json_object_put(o);
    return rc;
}

/* Writes every fix in batches; returns 0 or the first error. */
static int load(struct store *s, const struct fix *f, size_t n, double *wall, double *cpu_s)
{
    struct sink bufs[BATCH];
    struct store_record recs[BATCH];
    enum store_result res[BATCH];
    double w0 = now(), c0 = cpu();
    for (size_t i = 0; i < n; i += BATCH) {
        size_t k = n - i < BATCH ? n - i : BATCH;
        for (size_t j = 0; j < k; j++) {
            if (pack_fix(&f[i + j], &bufs[j]))
                return -ENOMEM;
            recs[j] = (struct store_record){.kind = OWNTRACKS_LOCATION,
                                            .user = "bench",
                                            .device = "phone",
                                            .tst = f[i + j].tst,
                                            .data = bufs[j].buf,
                                            .len = bufs[j].len,
                                            .received = f[i + j].tst};
        }
        int rc = store_write_batch(s, recs, k, res);
        for (size_t j = 0; j < k; j++)
            sink_free(&bufs[j]);
        if (rc)
            return rc;
    }
    *wall = now() - w0;
    *cpu_s = cpu() - c0;
    return 0;
}

static int count_segment(void *arg, enum tl_event ev, const struct tl_segment *seg)
{
    (void)ev, (void)seg;
    (*(size_t *)arg)++;
    return 0;
}

static int count_day(void *arg, const struct store_day *d)
{
    (void)d;
    (*(size_t *)arg)++;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static long file_size(const char *dir)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: wl-tlbench DIR < fixes.txt\n");
        return 2;
    }
    size_t n = 0, cap = 0;
    struct fix *f = NULL;
    char line[256], acc[32];
    while (fgets(line, sizeof(line), stdin)) {
        struct fix x;
        long long t;
        if (sscanf(line, "%lld %lf %lf %31s", &t, &x.lat, &x.lon, acc) != 4)
            continue;
        x.tst = t;
        x.acc = strcmp(acc, "nan") == 0 ? 0.0 / 0.0 : atof(acc);
        if (n && x.tst <= f[n - 1].tst)
            continue; /* one point per second, in order */
        if (n == cap) {
            cap = cap ? 2 * cap : 65536;
            f = realloc(f, cap * sizeof(*f));
            if (!f)
                return 1;
        }
        f[n++] = x;
    }
    if (n == 0) {
        fprintf(stderr, "wl-tlbench: no fixes on stdin\n");
        return 1;
    }

    char kept[512], deferred[512];
    snprintf(kept, sizeof(kept), "%s/kept", argv[1]);
    snprintf(deferred, sizeof(deferred), "%s/deferred", argv[1]);
    struct store_user_settings utc = {.zone = "UTC"};
    tl_settings_default(&utc.tl);
    struct store_options opt = {.timeline = &utc};
    struct store *s, *d;
    double wall_kept, cpu_kept, wall_def, cpu_def;
    if (store_open(deferred, &opt, &d) || store_open(kept, &opt, &s))
        return 1;
    store_set_timeline_deferred(d, true);
    if (load(d, f, n, &wall_def, &cpu_def) || load(s, f, n, &wall_kept, &cpu_kept))
        return 1;
    long bytes_without = file_size(deferred);
    store_close(d);

    double best = 1e9;
    uint64_t points = 0;
    for (int i = 0; i < 5; i++) {
        double t0 = now();
        if (store_timeline_rebuild(s, "bench", "phone", &points))
            return 1;
        if (now() - t0 < best)
            best = now() - t0;
    }

    struct store_device dev;
    if (store_get_device(s, "bench", "phone", &dev))
        return 1;
    struct zone *z;
    zone_open("UTC", &z);
    uint32_t first = zone_date(z, f[0].tst), last = zone_date(z, f[n - 1].tst);
    size_t ndays = 0, segments = 0;
    double *day_us = malloc(4000 * sizeof(*day_us));
    for (int64_t day = zone_date_days(first); day <= zone_date_days(last) && ndays < 4000; day++) {
        int64_t a, b;
        zone_day_bounds(z, zone_days_date(day), &a, &b);
        double t0 = now();
        if (store_timeline_read(s, dev.id, a, b - 1, INT64_MIN, 0, count_segment, &segments))
            return 1;
        day_us[ndays++] = (now() - t0) * 1e6;
    }
    qsort(day_us, ndays, sizeof(*day_us), cmp_double);
    double year_us[50];
    size_t days_read = 0;
    for (int i = 0; i < 50; i++) {
        double t0 = now();
        days_read = 0;
        if (store_days_read(s, dev.id, first, last, count_day, &days_read))
            return 1;
        year_us[i] = (now() - t0) * 1e6;
    }
    qsort(year_us, 50, sizeof(*year_us), cmp_double);
    long bytes_with = file_size(kept);
    store_close(s);
    zone_unref(z);

    printf("{\"points\": %zu, \"days\": %zu, \"segments\": %zu, \"day_records\": %zu,\n"
           " \"ingest\": {\"batch\": %d, \"kept_wall_s\": %.3f, \"kept_cpu_s\": %.3f, "
           "\"deferred_wall_s\": %.3f, \"deferred_cpu_s\": %.3f},\n"
           " \"rebuild_s\": %.4f, \"rebuild_points\": %llu,\n"
           " \"day_us\": {\"median\": %.1f, \"max\": %.1f}, \"year_us\": {\"median\": %.1f},\n"
           " \"bytes\": {\"with_timeline\": %ld, \"without\": %ld}}\n",
           n, ndays, segments, days_read, BATCH, wall_kept, cpu_kept, wall_def, cpu_def, best,
           (unsigned long long)points, day_us[ndays / 2], day_us[ndays - 1], year_us[25],
           bytes_with, bytes_without);
    free(day_us);
    free(f);
    return 0;
}
