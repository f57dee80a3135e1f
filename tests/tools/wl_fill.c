/*
 * wl-fill - fills a store quickly with generated locations for benchmarks (not installed):
 *   wl-fill STOREDIR USER DEVICE COUNT [START [STEP]]
 * writes COUNT Android-style points, STEP seconds apart from START, through store.h
 * (the same write path as ingest, without a broker in between).
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>

#include "pack.h"
#include "store.h"
#include "wl.h"

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: wl-fill STOREDIR USER DEVICE COUNT [START [STEP]]\n");
        return 2;
    }
    long count = atol(argv[4]);
    long start = argc > 5 ? atol(argv[5]) : 1704067200;
    long step = argc > 6 ? atol(argv[6]) : 60;
    struct store *s;
    int rc = store_open(argv[1], NULL, &s);
    if (rc != 0) {
        fprintf(stderr, "wl-fill: cannot open %s: %s\n", argv[1], wl_strerror(rc));
        return 1;
    }
    enum { BATCH = 10000 };
    struct store_record *recs = calloc(BATCH, sizeof(*recs));
    enum store_result *res = calloc(BATCH, sizeof(*res));
    struct sink *bufs = calloc(BATCH, sizeof(*bufs));
    double lat = 48.85, lon = 2.29;
    srand(7);
    for (long done = 0; done < count;) {
        long n = count - done < BATCH ? count - done : BATCH;
        for (long i = 0; i < n; i++) {
            long tst = start + (done + i) * step;
            char doc[512];
            lat += ((double)rand() / RAND_MAX - 0.5) * 0.001;
            lon += ((double)rand() / RAND_MAX - 0.5) * 0.001;
            snprintf(doc, sizeof(doc),
                     "{\"_type\":\"location\",\"acc\":%d,\"alt\":%d,\"batt\":%d,\"bs\":1,"
                     "\"conn\":\"w\",\"created_at\":%ld,\"lat\":%.6f,\"lon\":%.6f,\"m\":1,"
                     "\"t\":\"u\",\"tid\":\"p1\",\"tst\":%ld,\"vac\":4,\"vel\":%d}",
                     5 + rand() % 20, 30 + rand() % 50, 20 + rand() % 80, tst + 2, lat, lon, tst,
                     rand() % 40);
            struct json_object *o = json_tokener_parse(doc);
            struct pack_encode_ctx ctx = {.type = "location", .tst = tst, .tst_member = true};
            sink_init_mem(&bufs[i], 128);
            pack_encode(&bufs[i], o, &ctx);
            json_object_put(o);
            recs[i] = (struct store_record){.kind = OWNTRACKS_LOCATION,
                                            .user = argv[2],
                                            .device = argv[3],
                                            .tst = tst,
                                            .data = bufs[i].buf,
                                            .len = bufs[i].len,
                                            .received = tst};
        }
        if ((rc = store_write_batch(s, recs, (size_t)n, res)) != 0) {
            /* The store keeps every batch committed before: say how far it got. */
            fprintf(stderr, "wl-fill: stored %ld points, then: %s\n", done, wl_strerror(rc));
            store_close(s);
            return 1;
        }
        for (long i = 0; i < n; i++)
            sink_free(&bufs[i]);
        done += n;
    }
    store_close(s);
    free(recs);
    free(res);
    free(bufs);
    return 0;
}
