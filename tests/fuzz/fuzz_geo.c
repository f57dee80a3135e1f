/*
 * Fuzz target: the geometry (geo.h). The input decides how many points each of the three
 * thinning passes sees (they need not agree: the store changes between passes), their tsts
 * (strictly ascending, or any order with repeats) and their positions (on the Earth, or any
 * double: NaN, infinities, 1e308), and drives distances and paths with the same positions.
 *
 * Input: byte 0 flags, bytes 1-2 max, 3-4, 5-6, 7-8 the points of passes 1, 2 and 3; the
 * rest is read, cyclically, for tsts and positions (point i always has the same position,
 * whichever pass sees it, as in a store).
 *
 * Oracles: what is kept is at most max tsts, strictly ascending, each one handed in by the
 * pass that chose it; when pass 3's tsts ascend, its first and last points are kept; without
 * thinning, exactly pass 1's points are kept; when the passes agree and every position is on
 * the Earth, every bucket keeps one point (exactly max). A distance is symmetric, 0 from a
 * point to itself and at most half the circumference; a path is the sum of its legs and never
 * shorter than the distance between its ends.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "geo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
    ASCENDING_PASS1 = 1 << 0, /* pass 1's tsts strictly ascend (else: any, from the input) */
    ASCENDING_PASS3 = 1 << 1,
    ON_EARTH = 1 << 2, /* positions on the Earth (else: any double) */
    AGREE = 1 << 3,    /* passes 2 and 3 see the points pass 1 counted */
};

/* Points per pass: enough for buckets of many points, few enough for many runs a second. */
#define PASS_POINTS_MAX 3000
/* max: above the points a pass can see too, so that "no thinning" is reached. */
#define THIN_MAX_MAX 4000

struct input {
    const uint8_t *p;
    size_t n;
};

/* Bytes at offset `at` of the input, cyclically (zeros for an empty input). */
static void read_at(const struct input *in, uint64_t at, void *out, size_t len)
{
    uint8_t *o = out;
    for (size_t i = 0; i < len; i++)
        o[i] = in->n ? in->p[(at + i) % in->n] : 0;
}

static uint16_t u16_at(const struct input *in, uint64_t at)
{
    uint8_t b[2];
    read_at(in, at, b, 2);
    return (uint16_t)(b[0] | b[1] << 8);
}

static uint32_t tst_of(const struct input *in, uint64_t i, bool ascending)
{
    uint32_t raw;
    read_at(in, 4 * i, &raw, sizeof(raw));
    /* 3i, 3i+1 or 3i+2: strictly ascending whatever the bytes. */
    return ascending ? 1000 + 3 * (uint32_t)i + raw % 3 : raw;
}

static void position_of(const struct input *in, uint64_t i, bool on_earth, double *lat, double *lon)
{
    if (on_earth) {
        *lat = u16_at(in, 16 * i + 3) / 65535.0 * 180 - 90;
        *lon = u16_at(in, 16 * i + 5) / 65535.0 * 360 - 180;
    } else {
        read_at(in, 16 * i + 3, lat, sizeof(*lat));
        read_at(in, 16 * i + 11, lon, sizeof(*lon));
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void check_thinning(const struct input *in, unsigned flags, uint32_t max, uint64_t n1,
                           uint64_t n2, uint64_t n3)
{
    bool on_earth = flags & ON_EARTH;
    struct geo_thin t;
    uint32_t *keep, *handed;
    size_t nkeep;

    int rc = geo_thin_init(&t, max);
    if (max < GEO_THIN_MIN_MAX) {
        if (rc != -EINVAL)
            abort();
        geo_thin_free(&t);
        return;
    }
    if (rc != 0)
        abort(); /* at most THIN_MAX_MAX points: memory is no excuse */
    for (uint64_t i = 0; i < n1; i++)
        geo_thin_count(&t, tst_of(in, i, flags & ASCENDING_PASS1));
    bool thinned = geo_thin_needed(&t);
    if (thinned != (n1 > max))
        abort();
    if (thinned) {
        if (geo_thin_begin_averages(&t) != 0)
            abort();
        for (uint64_t i = 0; i < n2; i++) {
            double lat, lon;
            position_of(in, i, on_earth, &lat, &lon);
            geo_thin_average(&t, lat, lon);
        }
        geo_thin_begin_choice(&t);
        for (uint64_t i = 0; i < n3; i++) {
            double lat, lon;
            position_of(in, i, on_earth, &lat, &lon);
            geo_thin_choose(&t, tst_of(in, i, flags & ASCENDING_PASS3), lat, lon);
        }
    }
    geo_thin_take(&t, &keep, &nkeep);
    geo_thin_free(&t);

    /* What the choosing pass handed in, sorted for lookups. */
    uint64_t nhanded = thinned ? n3 : n1;
    bool ascending = flags & (thinned ? ASCENDING_PASS3 : ASCENDING_PASS1);
    handed = malloc((nhanded ? nhanded : 1) * sizeof(*handed));
    if (!handed)
        abort();
    for (uint64_t i = 0; i < nhanded; i++)
        handed[i] = tst_of(in, i, ascending);

    if (nkeep > max || (nkeep > 0) != (keep != NULL))
        abort();
    for (size_t i = 0; i < nkeep; i++)
        if (i > 0 && keep[i] <= keep[i - 1])
            abort();
    if (ascending && nhanded >= 2 && thinned &&
        (nkeep < 2 || keep[0] != handed[0] || keep[nkeep - 1] != handed[nhanded - 1]))
        abort();
    if (ascending && !thinned &&
        (nkeep != nhanded || (nkeep && memcmp(keep, handed, nkeep * sizeof(*keep)) != 0)))
        abort();
    if (thinned && (flags & AGREE) && on_earth && ascending && nkeep != max)
        abort();
    qsort(handed, nhanded, sizeof(*handed), cmp_u32);
    for (size_t i = 0; i < nkeep; i++)
        if (!bsearch(&keep[i], handed, nhanded, sizeof(*handed), cmp_u32))
            abort();
    free(handed);
    free(keep);
}

static void check_distances(const struct input *in, unsigned flags, uint64_t n)
{
    const double half = M_PI * GEO_EARTH_RADIUS_M;
    bool on_earth = flags & ON_EARTH;
    struct geo_path path = GEO_PATH_INIT;
    struct geo_fix first = {0}, last = {0};
    double max_acc = u16_at(in, 9) % 200;
    bool have_first = false;
    double legs = 0; /* the same sum, leg by leg */

    for (uint64_t i = 0; i < n; i++) {
        struct geo_fix f = {.tst = (int64_t)i, .acc = u16_at(in, 16 * i + 7) % 400};
        double lat2, lon2;
        position_of(in, i, on_earth, &f.lat, &f.lon);
        position_of(in, i + 1, on_earth, &lat2, &lon2);
        double d = geo_distance_m(f.lat, f.lon, lat2, lon2);
        double back = geo_distance_m(lat2, lon2, f.lat, f.lon);
        if (on_earth && (!(d >= 0 && d <= half * (1 + 1e-12)) || fabs(d - back) > 1e-6 ||
                         geo_distance_m(f.lat, f.lon, f.lat, f.lon) != 0))
            abort();
        if (i % 7 == 3)
            f.acc = NAN; /* unknown: counts */
        geo_path_add(&path, &f, max_acc);
        if (isfinite(f.lat) && isfinite(f.lon) && !(f.acc > max_acc)) {
            if (have_first)
                legs += geo_distance_m(last.lat, last.lon, f.lat, f.lon);
            else
                first = f;
            last = f;
            have_first = true;
        }
    }
    if (!(path.metres == legs || (isnan(path.metres) && isnan(legs))))
        abort();
    if (!on_earth)
        return;
    if (!(path.metres >= 0) || !isfinite(path.metres) || path.have_last != have_first)
        abort();
    /* The straight way is never longer than the path (up to rounding). */
    if (have_first &&
        geo_distance_m(first.lat, first.lon, last.lat, last.lon) > path.metres * (1 + 1e-9) + 1e-6)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size};
    uint8_t head[9];

    read_at(&in, 0, head, sizeof(head));
    unsigned flags = head[0];
    uint32_t max = (uint32_t)(head[1] | head[2] << 8) % (THIN_MAX_MAX + 1);
    uint64_t n1 = (uint64_t)(head[3] | head[4] << 8) % (PASS_POINTS_MAX + 1);
    uint64_t n2 = (uint64_t)(head[5] | head[6] << 8) % (PASS_POINTS_MAX + 1);
    uint64_t n3 = (uint64_t)(head[7] | head[8] << 8) % (PASS_POINTS_MAX + 1);
    if (flags & AGREE)
        n2 = n3 = n1;
    check_thinning(&in, flags, max, n1, n2, n3);
    check_distances(&in, flags, n1);
    return 0;
}
