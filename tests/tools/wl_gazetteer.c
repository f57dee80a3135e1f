/*
 * wl-gazetteer: figures of the offline place names (gazetteer.h) for the benchmark: the time to
 * open it, its cities and bytes, and the time of a lookup at random positions on land and sea
 * and around Paris (not installed).
 *
 *   wl-gazetteer [LOOKUPS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "gazetteer.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    struct gazetteer *g;
    struct gazetteer_city c;
    long found = 0;

    if (n <= 0)
        n = 1000000;
    double t0 = now();
    if (gazetteer_open(&g) != 0) {
        fprintf(stderr, "wl-gazetteer: cannot read libgeonames' cities\n");
        return 1;
    }
    double t1 = now();
    srand(14);
    for (long i = 0; i < n; i++) {
        double lat = (double)rand() / RAND_MAX * 140 - 60,
               lon = (double)rand() / RAND_MAX * 360 - 180;
        found += gazetteer_nearest(g, lat, lon, &c);
    }
    double t2 = now();
    /* Around Paris, where a hundred cities of the data lie within reach of any point. */
    for (long i = 0; i < n; i++)
        gazetteer_nearest(g, 48.3 + (double)rand() / RAND_MAX, 1.8 + (double)rand() / RAND_MAX, &c);
    double t3 = now();
    printf("{\"cities\":%zu,\"bytes\":%zu,\"open_ms\":%.1f,\"lookups\":%ld,\"found\":%ld,"
           "\"ns_per_lookup\":%.0f,\"ns_per_lookup_paris\":%.0f}\n",
           gazetteer_cities(g), gazetteer_bytes(g), (t1 - t0) * 1000, n, found,
           (t2 - t1) * 1e9 / (double)n, (t3 - t2) * 1e9 / (double)n);
    gazetteer_free(g);
    return 0;
}
