/*
 * wl-heatbench - what the heat counts (store.h, "heat") cost at ingest and save at reading,
 * measured in this process (tests/bench/bench_summary.py runs it).
 *
 *   wl-heatbench DIR [POINTS [INGEST [BATCH]]]
 *
 * Generates wl-fill's year: POINTS (500,000) points of a random walk around Paris, one every
 * 63 s from 2024-01-01, and prints one JSON object with:
 *   - ingest: the first INGEST (50,000) of them written in batches of BATCH (20, as MQTT group
 *     commits bring them) into fresh stores, one keeping the counts and one deferring them,
 *     LOADS times each, alternating: CPU microseconds a message of each (the best of its runs:
 *     other work on the machine only ever adds);
 *   - table: the whole year written into a store keeping the counts: the heat tables' bytes
 *     (pages in use) and the points' bytes, for that year;
 *   - read: the year's grid at a few zooms, from the counts and from the points (scan_points:
 *     what reading cost before the counts), CPU milliseconds (median of RUNS), its cells and
 *     JSON bytes (a zoom whose grid has more than HEAT_CELLS_MAX cells says "too_many").
 * Figures only: nothing here passes or fails on time.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "heat.h"
#include "pack.h"
#include "sink.h"
#include "store.h"
#include "store_internal.h"
#include "wl.h"

#define RUNS   9
#define LOADS  4
#define YEAR   1704067200 /* 2024-01-01T00:00:00Z */
#define STEP_S 63

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The packed points, made once: what is timed is the store. */
struct points {
    struct sink *buf;
    int64_t *tst;
    size_t n;
};

static int make_points(struct points *p, size_t n)
{
    double lat = 48.85, lon = 2.29;
    p->buf = calloc(n, sizeof(*p->buf));
    p->tst = calloc(n, sizeof(*p->tst));
    if (!p->buf || !p->tst)
        return -ENOMEM;
    srand(7);
    for (size_t i = 0; i < n; i++) {
        char doc[512];
        int64_t tst = YEAR + (int64_t)i * STEP_S;
        lat += ((double)rand() / RAND_MAX - 0.5) * 0.001;
        lon += ((double)rand() / RAND_MAX - 0.5) * 0.001;
        snprintf(doc, sizeof(doc),
                 "{\"_type\":\"location\",\"acc\":%d,\"alt\":%d,\"batt\":%d,\"bs\":1,"
                 "\"conn\":\"w\",\"created_at\":%lld,\"lat\":%.6f,\"lon\":%.6f,\"m\":1,"
                 "\"t\":\"u\",\"tid\":\"p1\",\"tst\":%lld,\"vac\":4,\"vel\":%d}",
                 5 + rand() % 20, 30 + rand() % 50, 20 + rand() % 80, (long long)tst + 2, lat, lon,
                 (long long)tst, rand() % 40);
        struct json_object *o = json_tokener_parse(doc);
        struct pack_encode_ctx ctx = {.type = "location", .tst = tst, .tst_member = true};
        if (!o || sink_init_mem(&p->buf[i], 128) || pack_encode(&p->buf[i], o, &ctx))
            return -ENOMEM;
        json_object_put(o);
        p->tst[i] = tst;
    }
    p->n = n;
    return 0;
}

/* Writes points [0, n) in batches; returns 0 or the first error, *cpu_s the CPU time. */
static int load(const char *dir, const struct points *p, size_t n, size_t batch, bool deferred,
                double *cpu_s)
{
    struct store *s;
    struct store_record *recs = calloc(batch, sizeof(*recs));
    enum store_result *res = calloc(batch, sizeof(*res));
    int rc = recs && res ? store_open(dir, NULL, &s) : -ENOMEM;
    if (rc) {
        free(recs);
        free(res);
        return rc;
    }
    store_set_heat_deferred(s, deferred);
    double c0 = cpu_now();
    for (size_t i = 0; i < n && rc == 0; i += batch) {
        size_t k = n - i < batch ? n - i : batch;
        for (size_t j = 0; j < k; j++)
            recs[j] = (struct store_record){.kind = OWNTRACKS_LOCATION,
                                            .user = "heat",
                                            .device = "phone",
                                            .tst = p->tst[i + j],
                                            .data = p->buf[i + j].buf,
                                            .len = p->buf[i + j].len,
                                            .received = p->tst[i + j]};
        rc = store_write_batch(s, recs, k, res);
    }
    *cpu_s = cpu_now() - c0;
    store_close(s);
    free(recs);
    free(res);
    return rc;
}

static uint64_t db_bytes(struct store *s, MDB_dbi dbi)
{
    MDB_txn *txn;
    MDB_stat st;
    uint64_t bytes = 0;
    if (store_txn_begin(s, MDB_RDONLY, &txn))
        return 0;
    if (mdb_stat(txn, dbi, &st) == 0)
        bytes =
            (uint64_t)(st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages) * st.ms_psize;
    store_txn_abort(s, txn);
    return bytes;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The year's grid at zoom: median CPU ms of RUNS, cells and JSON bytes. */
static int read_year(struct store *s, int zoom, bool scan, double *ms, size_t *cells, size_t *bytes)
{
    double t[RUNS];
    struct heat_request rq = {.user = "heat",
                              .from = YEAR,
                              .to = YEAR + 366 * 86400 - 1,
                              .zoom = zoom,
                              .scan_points = scan};
    for (int i = 0; i < RUNS; i++) {
        struct heat_grid g;
        struct sink out;
        heat_grid_init(&g, zoom);
        double c0 = cpu_now();
        int rc = heat_read(s, &rq, &g);
        t[i] = (cpu_now() - c0) * 1e3;
        if (rc) {
            heat_grid_free(&g);
            return rc;
        }
        if (sink_init_mem(&out, 4096))
            return -ENOMEM;
        heat_json(&out, &g);
        *cells = g.n;
        *bytes = out.len;
        sink_free(&out);
        heat_grid_free(&g);
    }
    qsort(t, RUNS, sizeof(t[0]), cmp_double);
    *ms = t[RUNS / 2];
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 5) {
        fprintf(stderr, "usage: wl-heatbench DIR [POINTS [INGEST [BATCH]]]\n");
        return 2;
    }
    size_t points = argc > 2 ? strtoul(argv[2], NULL, 10) : 500000;
    size_t ingest = argc > 3 ? strtoul(argv[3], NULL, 10) : 50000;
    size_t batch = argc > 4 ? strtoul(argv[4], NULL, 10) : 20;
    char path[512];
    struct points p;
    double best[2] = {1e9, 1e9};
    int rc;

    if (ingest > points)
        ingest = points;
    if (batch == 0 || (rc = make_points(&p, points))) {
        fprintf(stderr, "wl-heatbench: out of memory\n");
        return 1;
    }
    for (int i = 0; i < 2 * LOADS; i++) {
        double c;
        snprintf(path, sizeof(path), "%s/%s%d", argv[1], i % 2 ? "deferred" : "kept", i / 2);
        if ((rc = load(path, &p, ingest, batch, i % 2 == 1, &c))) {
            fprintf(stderr, "wl-heatbench: %s: %s\n", path, wl_strerror(rc));
            return 1;
        }
        best[i % 2] = c < best[i % 2] ? c : best[i % 2];
    }

    char year[512];
    double c;
    struct store *s;
    snprintf(year, sizeof(year), "%s/year", argv[1]);
    if ((rc = load(year, &p, points, 10000, false, &c)) || (rc = store_open(year, NULL, &s))) {
        fprintf(stderr, "wl-heatbench: %s: %s\n", year, wl_strerror(rc));
        return 1;
    }
    struct json_object *o = json_object_new_object(), *reads = json_object_new_array();
    json_object_object_add(o, "points", json_object_new_int64((int64_t)points));
    json_object_object_add(o, "ingest_messages", json_object_new_int64((int64_t)ingest));
    json_object_object_add(o, "ingest_batch", json_object_new_int64((int64_t)batch));
    json_object_object_add(o, "ingest_us_kept", json_object_new_double(best[0] * 1e6 / ingest));
    json_object_object_add(o, "ingest_us_deferred", json_object_new_double(best[1] * 1e6 / ingest));
    json_object_object_add(
        o, "heat_bytes",
        json_object_new_int64((int64_t)(db_bytes(s, s->heat) + db_bytes(s, s->heat_state))));
    json_object_object_add(o, "points_bytes",
                           json_object_new_int64((int64_t)db_bytes(s, s->points)));
    static const int zooms[] = {4, 8, 12, 14, 16};
    for (size_t i = 0; i < sizeof(zooms) / sizeof(zooms[0]); i++) {
        double kept_ms, scan_ms;
        size_t cells, bytes, cells2, bytes2;
        struct json_object *r = json_object_new_object();
        json_object_object_add(r, "zoom", json_object_new_int(zooms[i]));
        json_object_array_add(reads, r);
        if ((rc = read_year(s, zooms[i], false, &kept_ms, &cells, &bytes)) == -E2BIG) {
            json_object_object_add(r, "too_many", json_object_new_boolean(true));
            continue;
        }
        if (rc || (rc = read_year(s, zooms[i], true, &scan_ms, &cells2, &bytes2))) {
            fprintf(stderr, "wl-heatbench: reading: %s\n", wl_strerror(rc));
            return 1;
        }
        json_object_object_add(r, "counts_ms", json_object_new_double(kept_ms));
        json_object_object_add(r, "points_ms", json_object_new_double(scan_ms));
        json_object_object_add(r, "cells", json_object_new_int64((int64_t)cells));
        json_object_object_add(r, "same",
                               json_object_new_boolean(cells == cells2 && bytes == bytes2));
        json_object_object_add(r, "json_bytes", json_object_new_int64((int64_t)bytes));
    }
    json_object_object_add(o, "read", reads);
    printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    store_close(s);
    for (size_t i = 0; i < p.n; i++)
        sink_free(&p.buf[i]);
    free(p.buf);
    free(p.tst);
    return 0;
}
