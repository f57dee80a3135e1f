/*
 * wl-placebench - what deriving place_entered and place_left costs at ingest (store.h,
 * "events"), measured in the store itself, without a broker.
 *
 *   wl-placebench DIR [FIXES]
 *
 * One device walks back and forth along a 20 km line, a fix every 40 m (FIXES of them,
 * default 20000, acc 10 m); the user's places, when there are, are circles of 150 m every
 * kilometre of the line, so the walk enters and leaves one about every 25 fixes. Each
 * configuration writes the same fixes into a fresh store under DIR, in batches of 1 (an idle
 * server: a commit per message; a quarter of FIXES, commits take long) and of 20 (group
 * commits under load), ROUNDS times alternating with the others, and prints the least user
 * and system CPU per message of its rounds (derivation is user time; system time is mostly
 * the commits' writes, the same for all):
 *   - no hook: no event derived at all;
 *   - 0 places: events derived (battery, timeline), the user has no place;
 *   - 20 places: the user has 20 (200: ten times as many, to see what each costs);
 *   - 20 + 1000: and 50 other users have 20 each, so that reading a user's places means
 *     scanning 1020 (what the cache of places between batches saves).
 * Figures only: nothing here passes or fails on time.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "pack.h"
#include "sink.h"
#include "store.h"

#define LINE_M  20000.0
#define STEP_M  40.0
#define NORTH   (1.0 / 111195.08)
#define LAT0    48.85
#define LON0    2.35
#define T0      1714694400
#define BATCHES 2
#define ROUNDS  3

/* User and system CPU seconds so far. */
static void cpu(double *user, double *sys)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
    *sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Fix i of the walk, packed into buf. */
static int pack_fix(size_t i, struct sink *buf)
{
    double along = (double)i * STEP_M;
    double cycle = 2 * LINE_M, at = along - cycle * (double)(long)(along / cycle);
    double metres = at <= LINE_M ? at : cycle - at;
    char doc[200];
    snprintf(doc, sizeof(doc),
             "{\"_type\":\"location\",\"lat\":%.7f,\"lon\":%.7f,\"acc\":10,\"batt\":80,"
             "\"tst\":%lld}",
             LAT0 + metres * NORTH, LON0, (long long)(T0 + (int64_t)i * 30));
    struct json_object *o = json_tokener_parse(doc);
    struct pack_encode_ctx ctx = {
        .type = "location", .tst = T0 + (int64_t)i * 30, .tst_member = true};
    int rc = sink_init_mem(buf, 96) || !o ? -ENOMEM : pack_encode(buf, o, &ctx);
    json_object_put(o);
    return rc;
}

static void count_place_events(void *arg, const struct store_event *ev)
{
    (*(size_t *)arg) += ev->kind == STORE_EV_PLACE_ENTERED || ev->kind == STORE_EV_PLACE_LEFT;
}

static int add_places(struct store *s, const char *user, int n)
{
    for (int k = 0; k < n; k++) {
        struct store_place p = {.lat = LAT0 + (500.0 + 1000.0 * k) * NORTH,
                                .lon = LON0,
                                .radius_m = 150,
                                .created = T0};
        snprintf(p.user, sizeof(p.user), "%s", user);
        snprintf(p.name, sizeof(p.name), "Place %d", k + 1);
        int rc = store_place_add(s, &p);
        if (rc)
            return rc;
    }
    return 0;
}

/* Writes the walk into a fresh store in DIR/NAME-BATCH-ROUND; *user_us and *sys_us get the CPU
 * microseconds a message. */
static int run(const char *dir, const char *name, int round, size_t fixes, size_t batch, bool hook,
               int places, int others, double *user_us, double *sys_us, size_t *place_events)
{
    char path[512];
    struct store *s;
    struct store_options opt = {0};
    snprintf(path, sizeof(path), "%s/%s-%zu-%d", dir, name, batch, round);
    int rc = store_open(path, &opt, &s);
    if (rc)
        return rc;
    *place_events = 0;
    if (hook)
        store_set_event_hook(s, count_place_events, place_events);
    if ((rc = add_places(s, "bench", places)))
        goto out;
    for (int u = 0; u < others && rc == 0; u++) {
        char user[32];
        snprintf(user, sizeof(user), "other%d", u);
        rc = add_places(s, user, 20);
    }
    if (rc)
        goto out;

    struct sink bufs[20];
    struct store_record recs[20];
    enum store_result res[20];
    double u0, s0, u1, s1;
    cpu(&u0, &s0);
    for (size_t i = 0; i < fixes && rc == 0; i += batch) {
        size_t k = fixes - i < batch ? fixes - i : batch;
        for (size_t j = 0; j < k; j++) {
            if (pack_fix(i + j, &bufs[j])) {
                for (size_t m = 0; m < j; m++)
                    sink_free(&bufs[m]);
                rc = -ENOMEM;
                goto out;
            }
            recs[j] = (struct store_record){.kind = OWNTRACKS_LOCATION,
                                            .user = "bench",
                                            .device = "phone",
                                            .tst = T0 + (int64_t)(i + j) * 30,
                                            .data = bufs[j].buf,
                                            .len = bufs[j].len,
                                            .received = T0 + (int64_t)(i + j) * 30};
        }
        rc = store_write_batch(s, recs, k, res);
        for (size_t j = 0; j < k; j++)
            sink_free(&bufs[j]);
    }
    cpu(&u1, &s1);
    *user_us = (u1 - u0) / (double)fixes * 1e6;
    *sys_us = (s1 - s0) / (double)fixes * 1e6;
out:
    store_close(s);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: wl-placebench DIR [FIXES]\n");
        return 2;
    }
    size_t fixes = argc == 3 ? strtoul(argv[2], NULL, 10) : 20000;
    static const struct {
        const char *name;
        bool hook;
        int places, others;
    } configs[] = {{"no-hook", false, 0, 0},
                   {"0-places", true, 0, 0},
                   {"20-places", true, 20, 0},
                   {"200-places", true, 200, 0},
                   {"20+1000-places", true, 20, 50}};
    static const size_t batches[BATCHES] = {1, 20};
    enum { NCONFIGS = sizeof(configs) / sizeof(configs[0]) };
    printf("place events at ingest: %zu fixes of one device (%zu in batches of 1), least CPU "
           "per message of %d rounds\n",
           fixes, fixes / 4, ROUNDS);
    for (size_t b = 0; b < BATCHES; b++) {
        double user[NCONFIGS], sys[NCONFIGS];
        size_t events[NCONFIGS];
        size_t n = batches[b] == 1 ? fixes / 4 : fixes;
        for (int r = 0; r < ROUNDS; r++) {
            for (size_t c = 0; c < NCONFIGS; c++) {
                double u, sy;
                int rc = run(argv[1], configs[c].name, r, n, batches[b], configs[c].hook,
                             configs[c].places, configs[c].others, &u, &sy, &events[c]);
                if (rc) {
                    fprintf(stderr, "wl-placebench: %s: error %d\n", configs[c].name, rc);
                    return 1;
                }
                if (r == 0 || u < user[c])
                    user[c] = u;
                if (r == 0 || sy < sys[c])
                    sys[c] = sy;
            }
        }
        for (size_t c = 0; c < NCONFIGS; c++)
            printf("  batch %2zu  %-15s user %6.1f us/message  system %6.1f us/message   %zu "
                   "place events\n",
                   batches[b], configs[c].name, user[c], sys[c], events[c]);
    }
    return 0;
}
