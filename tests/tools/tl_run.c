/*
 * tl-run - feeds fixes to the timeline detector (timeline.h) and prints its segments; the
 * benchmark (tests/bench/bench_timeline.py) and anyone curious drive it. Not installed.
 *
 *   tl-run [--radius M] [--min-stay S] [--max-acc M] [--gap S] [--silence S] < fixes
 *   tl-run --speed [REPEAT] < fixes
 *
 * Input, one line each:
 *   TST LAT LON ACC     a fix (ACC "nan" when unknown)
 *   day NAME            a new device: the detector starts afresh
 *   at TST              the day is read at TST (tl_pending_at; default: at its last fix)
 * Output: for each day, "day NAME", then one line per segment, closed ones first and then
 * those tl_pending reports at the end (the TL_OPENED reports while feeding are left out):
 *   KIND START END LAT LON RADIUS ACC END_LAT END_LON DISTANCE MOVING TOP MODE POINTS EVENT
 * With --speed, the fixes of all days are fed REPEAT times (default 20) from fresh detectors
 * and the rate is printed: "fixes N seconds S rate R" (nothing else).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timeline.h"

/* A benchmark's fixes fit in memory: a few hundred days of at most 100,000 fixes. */
#define FIXES_MAX 50000000

struct fixes {
    struct geo_fix *v;
    size_t n, cap;
    size_t *day_start; /* index of each day's first fix */
    size_t ndays, days_cap;
};

static void print_segment(void *arg, enum tl_event ev, const struct tl_segment *s)
{
    const bool *feeding = arg;
    if (ev == TL_OPENED && *feeding)
        return; /* progress reports: the end of the day shows what is open */
    printf("%s %lld %lld %.7f %.7f %.1f %.1f %.7f %.7f %.1f %lld %.2f %s %u %s\n",
           tl_kind_name(s->kind), (long long)s->start, (long long)s->end, s->lat, s->lon,
           s->radius_m, s->acc_m, s->end_lat, s->end_lon, s->distance_m, (long long)s->moving_s,
           s->top_speed_ms, tl_mode_name(s->mode), s->points, ev == TL_CLOSED ? "closed" : "open");
}

static void count_segment(void *arg, enum tl_event ev, const struct tl_segment *s)
{
    (void)ev;
    (void)s;
    (*(unsigned long *)arg)++;
}

static int push_fix(struct fixes *f, const struct geo_fix *x)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 4096;
        if (cap > FIXES_MAX)
            return -E2BIG;
        struct geo_fix *v = realloc(f->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        f->v = v;
        f->cap = cap;
    }
    f->v[f->n++] = *x;
    return 0;
}

static int push_day(struct fixes *f)
{
    if (f->ndays == f->days_cap) {
        size_t cap = f->days_cap ? 2 * f->days_cap : 64;
        size_t *v = realloc(f->day_start, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        f->day_start = v;
        f->days_cap = cap;
    }
    f->day_start[f->ndays++] = f->n;
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int speed(const struct fixes *f, long repeat, const struct tl_settings *s)
{
    unsigned long segments = 0;
    double t0 = now_s();
    for (long r = 0; r < repeat; r++) {
        for (size_t day = 0; day < f->ndays; day++) {
            size_t from = f->day_start[day];
            size_t to = day + 1 < f->ndays ? f->day_start[day + 1] : f->n;
            struct tl_detector d;
            tl_init(&d);
            for (size_t i = from; i < to; i++)
                tl_feed(&d, s, &f->v[i], count_segment, &segments);
            tl_pending(&d, s, count_segment, &segments);
        }
    }
    double t = now_s() - t0;
    printf("fixes %zu seconds %.6f rate %.0f segments %lu\n", f->n * (size_t)repeat, t,
           t > 0 ? f->n * (double)repeat / t : 0, segments);
    return 0;
}

int main(int argc, char **argv)
{
    struct tl_settings s;
    tl_settings_default(&s);
    long repeat = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (!strcmp(a, "--speed")) {
            repeat = 20;
            if (has_value && argv[i + 1][0] != '-')
                repeat = atol(argv[++i]);
        } else if (has_value && !strcmp(a, "--radius")) {
            s.stay_radius_m = atof(argv[++i]);
        } else if (has_value && !strcmp(a, "--min-stay")) {
            s.stay_min_s = atoll(argv[++i]);
        } else if (has_value && !strcmp(a, "--max-acc")) {
            s.max_acc_m = atof(argv[++i]);
        } else if (has_value && !strcmp(a, "--gap")) {
            s.gap_s = atoll(argv[++i]);
        } else if (has_value && !strcmp(a, "--silence")) {
            s.stay_silence_max_s = atoll(argv[++i]);
        } else {
            fprintf(stderr, "usage: tl-run [--radius M] [--min-stay S] [--max-acc M] [--gap S] "
                            "[--silence S] [--speed [REPEAT]] < fixes\n");
            return 2;
        }
    }
    const char *why;
    if (tl_settings_check(&s, &why) != 0) {
        fprintf(stderr, "tl-run: %s\n", why);
        return 2;
    }

    struct fixes f = {0};
    struct tl_detector d;
    bool have_day = false, feeding = true, at_end = false;
    char line[256], name[128];
    long long now = 0;
    tl_init(&d);
    while (fgets(line, sizeof(line), stdin)) {
        struct geo_fix x;
        long long tst;
        if (sscanf(line, "day %127s", name) == 1) {
            if (repeat) {
                if (push_day(&f) != 0)
                    return 1;
                continue;
            }
            if (have_day)
                tl_pending_at(&d, &s, now, print_segment, &at_end);
            now = 0;
            tl_init(&d);
            printf("day %s\n", name);
            have_day = true;
        } else if (sscanf(line, "at %lld", &now) == 1) {
            continue;
        } else if (sscanf(line, "%lld %lf %lf %lf", &tst, &x.lat, &x.lon, &x.acc) == 4) {
            x.tst = tst;
            if (repeat) {
                if (f.ndays == 0 && push_day(&f) != 0)
                    return 1;
                if (push_fix(&f, &x) != 0) {
                    fprintf(stderr, "tl-run: too many fixes\n");
                    return 1;
                }
                continue;
            }
            tl_feed(&d, &s, &x, print_segment, &feeding);
        } else if (line[0] != '\n' && line[0] != '#') {
            fprintf(stderr, "tl-run: cannot read the line: %s", line);
            return 1;
        }
    }
    if (repeat) {
        int rc = speed(&f, repeat, &s);
        free(f.v);
        free(f.day_start);
        return rc;
    }
    tl_pending_at(&d, &s, now, print_segment, &at_end);
    return 0;
}
