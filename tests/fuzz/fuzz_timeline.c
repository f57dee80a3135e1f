/*
 * Fuzz target: the timeline detector (timeline.h). The input chooses the settings (any
 * values, also those tl_settings_check refuses), and a stream of fixes: tsts that ascend,
 * repeat or go back, by small steps or leaps as far as int64 goes; positions near one place
 * (metres off it, so that stays, trips, outliers and silences happen) or any double (NaN,
 * infinities, 1e308); accuracies good, vague, unknown, zero, negative or huge.
 *
 * Input: bytes 0-39 the settings (five 8-byte values: radius, min stay, max acc, gap, silence;
 * byte 40 says which of them are used raw, the others are made sensible from them); then 12
 * bytes a fix: flags, tst step (3 bytes), north and east offsets (2 bytes each), accuracy
 * (1 byte), and 3 bytes that replace the position when the flags say so.
 *
 * Oracles: closed segments tile time (each starts where the one before ended), start <= end,
 * figures finite and not negative, moving time within the segment; with the pending ones
 * (tl_pending_at, read then and much later) they hold every fix taken exactly once. The same
 * fixes from the state copied as bytes at any point give the same segments.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "timeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Fixes per input: more than a dense day's stays and trips need, few enough for many runs. */
#define FIXES_MAX 5000
/* Closed segments kept for the comparison: a fix closes at most a few. */
#define SEGS_MAX (4 * FIXES_MAX + 16)

struct seen {
    struct tl_segment *closed;
    size_t nclosed;
    uint64_t open_points;
    int64_t open_start, open_end;
    size_t nopen;
    bool tiling_broken;
};

static void check_segment(const struct tl_segment *s)
{
    if (s->start > s->end || s->kind < TL_STAY || s->kind > TL_GAP || s->mode > TL_MODE_FAST)
        abort();
    if (!isfinite(s->distance_m) || s->distance_m < 0 || !isfinite(s->top_speed_ms) ||
        s->top_speed_ms < 0 || s->moving_s < 0 ||
        (double)s->moving_s > (double)s->end - (double)s->start)
        abort();
    if (!(isnan(s->radius_m) || s->radius_m >= 0))
        abort();
}

static void on_segment(void *arg, enum tl_event ev, const struct tl_segment *seg)
{
    struct seen *s = arg;
    check_segment(seg);
    if (ev == TL_CLOSED) {
        if (s->nclosed > 0 && seg->start != s->closed[s->nclosed - 1].end)
            abort();
        if (s->nclosed >= SEGS_MAX)
            abort();
        s->closed[s->nclosed++] = *seg;
    } else {
        s->nopen++;
        s->open_points += seg->points;
    }
}

/* The pending segments continue the tiling and, with the closed ones, hold every fix. */
static void on_pending(void *arg, enum tl_event ev, const struct tl_segment *seg)
{
    struct seen *s = arg;
    if (ev != TL_OPENED)
        abort();
    check_segment(seg);
    int64_t expect = s->nopen ? s->open_end : s->nclosed ? s->closed[s->nclosed - 1].end : 0;
    if ((s->nopen || s->nclosed) && seg->start != expect)
        abort();
    s->nopen++;
    s->open_end = seg->end;
    s->open_points += seg->points;
}

static uint64_t u(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static double raw_double(const uint8_t *p)
{
    double v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static void settings_of(const uint8_t *h, struct tl_settings *s)
{
    uint8_t raw = h[40];
    tl_settings_default(s);
    s->stay_radius_m = raw & 1 ? raw_double(h) : 5 + u(h, 2) % 2000;
    s->stay_min_s = raw & 2 ? (int64_t)u(h + 8, 8) : 30 + (int64_t)(u(h + 8, 2) % 3600);
    s->max_acc_m = raw & 4 ? raw_double(h + 16) : 10 + u(h + 16, 2) % 2000;
    s->gap_s = raw & 8 ? (int64_t)u(h + 24, 8) : 60 + (int64_t)(u(h + 24, 3) % (7 * 86400));
    s->stay_silence_max_s =
        raw & 16 ? (int64_t)u(h + 32, 8) : s->gap_s + (int64_t)(u(h + 32, 3) % (30 * 86400));
}

static const double ACCS[] = {5, 10, 30, 80, 150, 500, 3000, 0, -1, NAN, INFINITY, 1e308};

static size_t fixes_of(const uint8_t *p, size_t n, struct geo_fix *out)
{
    size_t k = 0;
    int64_t tst = 1700000000;
    for (; n >= 12 && k < FIXES_MAX; p += 12, n -= 12) {
        uint8_t flags = p[0];
        uint64_t step = u(p + 1, 3);
        if (flags & 0x80)
            tst = (int64_t)(step << 40) ^ (int64_t)u(p + 4, 8); /* anywhere, back or forth */
        else if (flags & 0x40 && tst > INT64_MIN + 100)
            tst -= (int64_t)(step % 100); /* repeats and older */
        else if (tst < INT64_MAX - (1 << 24))
            tst += (int64_t)(step % (flags & 0x20 ? 1u << 24 : 600));
        double north = (int16_t)u(p + 4, 2) * (flags & 0x10 ? 100.0 : 0.5);
        double east = (int16_t)u(p + 6, 2) * (flags & 0x10 ? 100.0 : 0.5);
        double per_deg = GEO_EARTH_RADIUS_M * M_PI / 180;
        struct geo_fix f = {.tst = tst};
        double base_lat = flags & 0x08 ? 89.999 : 48.1, base_lon = flags & 0x04 ? 179.999 : 11.5;
        f.lat = base_lat + north / per_deg;
        f.lon = base_lon + east / (per_deg * cos(base_lat * M_PI / 180));
        if (f.lon > 180)
            f.lon -= 360;
        f.acc = ACCS[p[8] % (sizeof(ACCS) / sizeof(ACCS[0]))];
        if ((flags & 0x03) == 0x03) { /* a position that is no position */
            const double odd[] = {NAN, INFINITY, -INFINITY, 1e308, -91, 181, 5e-324, -0.0};
            f.lat = odd[p[9] % 8];
            f.lon = odd[p[10] % 8];
        }
        out[k++] = f;
    }
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 41)
        return 0;
    struct tl_settings s;
    settings_of(data, &s);
    struct geo_fix *fixes = malloc(FIXES_MAX * sizeof(*fixes));
    struct seen a = {.closed = malloc(SEGS_MAX * sizeof(struct tl_segment))};
    struct seen b = {.closed = malloc(SEGS_MAX * sizeof(struct tl_segment))};
    if (!fixes || !a.closed || !b.closed)
        abort();
    size_t n = fixes_of(data + 41, size - 41, fixes);
    size_t cut = n ? data[40] * n / 256 : 0;

    /* Straight through. */
    struct tl_detector d;
    uint64_t taken = 0;
    tl_init(&d);
    for (size_t i = 0; i < n; i++)
        taken += tl_feed(&d, &s, &fixes[i], on_segment, &a);
    uint64_t closed_points = 0;
    for (size_t i = 0; i < a.nclosed; i++)
        closed_points += a.closed[i].points;
    int64_t reads[] = {d.last_tst, d.last_tst < INT64_MAX - 86400 ? d.last_tst + 86400 : INT64_MAX,
                       INT64_MAX};
    for (size_t r = 0; r < sizeof(reads) / sizeof(reads[0]); r++) {
        a.nopen = 0;
        a.open_points = 0;
        tl_pending_at(&d, &s, reads[r], on_pending, &a);
        if (closed_points + a.open_points != taken)
            abort();
        if (taken > 0 && a.nopen == 0)
            abort();
    }

    /* Cut, kept as bytes, resumed in another struct: the same closed segments. */
    struct tl_detector d1, d2;
    unsigned char bytes[sizeof(d1)];
    tl_init(&d1);
    for (size_t i = 0; i < cut; i++)
        tl_feed(&d1, &s, &fixes[i], on_segment, &b);
    memcpy(bytes, &d1, sizeof(bytes));
    if (!tl_detector_valid(bytes, sizeof(bytes)))
        abort();
    memset(&d2, 0x5a, sizeof(d2));
    memcpy(&d2, bytes, sizeof(d2));
    for (size_t i = cut; i < n; i++)
        tl_feed(&d2, &s, &fixes[i], on_segment, &b);
    if (a.nclosed != b.nclosed)
        abort();
    for (size_t i = 0; i < a.nclosed; i++) {
        const struct tl_segment *x = &a.closed[i], *y = &b.closed[i];
        if (x->kind != y->kind || x->start != y->start || x->end != y->end ||
            x->points != y->points || x->mode != y->mode || x->moving_s != y->moving_s ||
            memcmp(&x->distance_m, &y->distance_m, sizeof(double)) != 0)
            abort();
    }
    free(fixes);
    free(a.closed);
    free(b.closed);
    return 0;
}
