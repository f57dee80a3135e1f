#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "geo.h"

/* ---------------------------------------------------------------- distances */

/* One degree along a meridian. */
#define DEGREE_M (GEO_EARTH_RADIUS_M * M_PI / 180)

Test(geo, distance_of_a_degree_of_latitude)
{
    cr_expect_float_eq(geo_distance_m(10, 20, 11, 20), DEGREE_M, 1e-6);
    cr_expect_float_eq(geo_distance_m(-0.5, 0, 0.5, 0), DEGREE_M, 1e-6);
    /* Along the equator a degree of longitude is as long; at 60 degrees, half as long. */
    cr_expect_float_eq(geo_distance_m(0, 100, 0, 101), DEGREE_M, 1e-6);
    cr_expect_float_eq(geo_distance_m(60, 0, 60, 1e-3), DEGREE_M * 1e-3 / 2, 1e-9 * DEGREE_M);
}

Test(geo, distance_between_cities)
{
    /* Paris to London: 343.5 km on the sphere (343.9 km on the ellipsoid). */
    double d = geo_distance_m(48.8566, 2.3522, 51.5074, -0.1278);
    cr_expect(d > 343000 && d < 344000, "Paris-London is %.0f m, not about 343.5 km", d);
    cr_expect_eq(geo_distance_m(51.5074, -0.1278, 48.8566, 2.3522), d, "symmetric");
    cr_expect_eq(geo_distance_m(48.8566, 2.3522, 48.8566, 2.3522), 0, "no way to go");
    /* Across the antimeridian: the short way round. */
    cr_expect_float_eq(geo_distance_m(0, 179.5, 0, -179.5), DEGREE_M, 1e-6);
}

Test(geo, distance_to_the_antipodes_is_half_the_circumference)
{
    const double half = M_PI * GEO_EARTH_RADIUS_M;
    for (int i = 0; i <= 180; i++) {
        double lat = -90 + i, lon = -180 + 2 * i;
        double d = geo_distance_m(lat, lon, -lat, lon + 180);
        cr_assert(isfinite(d), "antipodes of (%g, %g): a distance, not %f", lat, lon, d);
        cr_expect(d <= half && d > half - 1, "antipodes of (%g, %g): %.3f m, not %.3f", lat, lon, d,
                  half);
    }
}

Test(geo, distance_without_a_position_is_nan)
{
    cr_expect(isnan(geo_distance_m(NAN, 0, 1, 1)));
    cr_expect(isnan(geo_distance_m(0, INFINITY, 1, 1)));
}

/* ---------------------------------------------------------------- paths */

static struct geo_fix fix(int64_t tst, double lat, double lon, double acc)
{
    return (struct geo_fix){.tst = tst, .lat = lat, .lon = lon, .acc = acc};
}

static double path_length(const struct geo_fix *f, size_t n, double max_acc)
{
    struct geo_path p = GEO_PATH_INIT;
    for (size_t i = 0; i < n; i++)
        geo_path_add(&p, &f[i], max_acc);
    return p.metres;
}

Test(geo, path_adds_the_legs)
{
    const struct geo_fix f[] = {fix(1, 0, 0, 5), fix(2, 1, 0, 5), fix(3, 1, 1, NAN),
                                fix(4, 0, 1, 100)};
    double legs =
        geo_distance_m(0, 0, 1, 0) + geo_distance_m(1, 0, 1, 1) + geo_distance_m(1, 1, 0, 1);
    /* Equal to the last bit: the path's legs are the distances, whatever it keeps between
     * them. */
    cr_expect_eq(path_length(f, 4, 100), legs,
                 "unknown accuracy and accuracy equal to the limit count");
    cr_expect_eq(path_length(f, 1, 100), 0, "one fix goes nowhere");
    cr_expect_eq(path_length(f, 0, 100), 0);
}

Test(geo, path_leaves_out_inaccurate_fixes_and_fixes_without_position)
{
    /* Out and back along the equator with a bad fix in the middle of each way: the path is
     * the two good legs, not a detour through the bad fixes. */
    const struct geo_fix f[] = {fix(1, 0, 0, 10),   fix(2, 5, 0.5, 500), fix(3, 0, 1, 10),
                                fix(4, NAN, 2, 10), fix(5, 0, 0, 10),    fix(6, 0, INFINITY, 1)};
    cr_expect_float_eq(path_length(f, 6, 100), 2 * DEGREE_M, 1e-6);
    /* The first fix does not count: the path starts at the next one that does. */
    cr_expect_float_eq(path_length(f + 1, 4, 100), DEGREE_M, 1e-6);
    cr_expect_eq(path_length(f, 6, 5), 0, "no fix is good enough: no travel");
}

/* ---------------------------------------------------------------- thinning */

Test(geo, plane_shrinks_longitude_with_latitude)
{
    double x, y;
    geo_plane_xy(60, 10, &x, &y);
    cr_expect_float_eq(x, 5, 1e-12, "at 60 degrees a degree east is half a degree north");
    cr_expect_eq(y, 60);
    geo_plane_xy(0, -30, &x, &y);
    cr_expect_eq(x, -30);
    cr_expect_eq(y, 0);
}

/* Where the points of a test are: point i at (p[i][0], p[i][1]), or on a zig-zag. */
struct positions {
    const double (*p)[2]; /* NULL: the zig-zag, with no position for every eleventh point */
};

static void position(const struct positions *pos, uint64_t i, double *lat, double *lon)
{
    if (pos->p) {
        *lat = pos->p[i][0];
        *lon = pos->p[i][1];
    } else {
        *lat = i % 11 == 5 ? NAN : (double)(i % 13) * 1e-3;
        *lon = (double)i * 1e-3;
    }
}

/* Runs the thinning's passes: n1 points at tsts from base1, one apart, then n2, then n3 at
 * tsts from base3. Returns nkeep; *keep is the caller's. */
static size_t thin_passes(uint32_t max, const struct positions *pos, uint64_t n1, uint32_t base1,
                          uint64_t n2, uint64_t n3, uint32_t base3, uint32_t **keep)
{
    struct geo_thin t;
    size_t nkeep;
    double lat, lon;
    cr_assert_eq(geo_thin_init(&t, max), 0);
    for (uint64_t i = 0; i < n1; i++)
        geo_thin_count(&t, base1 + (uint32_t)i);
    if (geo_thin_needed(&t)) {
        cr_assert_eq(geo_thin_begin_averages(&t), 0);
        for (uint64_t i = 0; i < n2; i++) {
            position(pos, i, &lat, &lon);
            geo_thin_average(&t, lat, lon);
        }
        geo_thin_begin_choice(&t);
        for (uint64_t i = 0; i < n3; i++) {
            position(pos, i, &lat, &lon);
            geo_thin_choose(&t, base3 + (uint32_t)i, lat, lon);
        }
    }
    geo_thin_take(&t, keep, &nkeep);
    geo_thin_free(&t);
    return nkeep;
}

/* Thins points at tsts 100, 101, ... with positions p[i] (lat, lon), passes that agree. */
static size_t thin_points(uint32_t max, const double (*p)[2], size_t n, uint32_t **keep)
{
    const struct positions pos = {p};
    return thin_passes(max, &pos, n, 100, n, n, 100, keep);
}

Test(geo, thinning_keeps_the_point_that_bends_the_track)
{
    /* Along the equator with one detour north: of five points keep three, the ends and the
     * detour. */
    const double p[][2] = {{0, 0}, {0, 1}, {1, 2}, {0, 3}, {0, 4}};
    uint32_t *keep;
    cr_assert_eq(thin_points(3, p, 5, &keep), 3);
    cr_expect_eq(keep[0], 100);
    cr_expect_eq(keep[1], 102, "the detour is kept, not %u", keep[1]);
    cr_expect_eq(keep[2], 104);
    free(keep);
}

Test(geo, thinning_keeps_the_corners_of_a_track)
{
    /* East for 400 points, then north for 600 (a corner at 400), with a spike at 200. */
    enum { N = 1000 };
    static double p[N][2];
    for (int i = 0; i < N; i++) {
        p[i][0] = i < 400 ? 48.0 : 48.0 + (i - 400) * 1e-4;
        p[i][1] = i < 400 ? 2.0 + i * 1e-4 : 2.04;
    }
    p[200][0] = 48.01;
    uint32_t *keep;
    size_t n = thin_points(20, p, N, &keep);
    cr_assert_eq(n, 20, "passes that agree and positions everywhere: every bucket keeps one");
    bool corner = false, spike = false;
    for (size_t i = 0; i < n; i++) {
        corner |= keep[i] >= 100 + 398 && keep[i] <= 100 + 402;
        spike |= keep[i] == 100 + 200;
    }
    cr_expect(corner, "a point at the corner is kept");
    cr_expect(spike, "the spike is kept");
    cr_expect_eq(keep[0], 100);
    cr_expect_eq(keep[n - 1], 100 + N - 1);
    free(keep);
}

Test(geo, thinning_keeps_the_ends_even_without_a_position)
{
    enum { N = 100 };
    static double p[N][2];
    for (int i = 0; i < N; i++) {
        p[i][0] = i % 5;
        p[i][1] = i;
    }
    p[0][0] = NAN;
    p[N - 1][1] = INFINITY;
    uint32_t *keep;
    size_t n = thin_points(16, p, N, &keep);
    cr_assert_geq(n, 2);
    cr_assert_leq(n, 16);
    cr_expect_eq(keep[0], 100);
    cr_expect_eq(keep[n - 1], 100 + N - 1);
    free(keep);
}

Test(geo, thinning_needs_room_for_the_ends_and_a_bucket)
{
    struct geo_thin t;
    cr_expect_eq(geo_thin_init(&t, 2), -EINVAL);
    geo_thin_free(&t);
    cr_expect_eq(geo_thin_init(&t, 0), -EINVAL);
    geo_thin_free(&t);
    cr_expect_eq(geo_thin_init(&t, GEO_THIN_MIN_MAX), 0);
    geo_thin_free(&t);
}

/* Drives geo_thin with `counted` points in pass 1 and n2, n3 in passes 2 and 3 (tsts from
 * 1000 and base3, one apart; positions on a zig-zag, every eleventh without one), and checks
 * the bounds. Returns nkeep. */
static size_t thin_with(uint32_t max, uint64_t counted, uint64_t n2, uint64_t n3, uint32_t base3)
{
    const struct positions zigzag = {NULL};
    uint32_t *keep;
    size_t nkeep = thin_passes(max, &zigzag, counted, 1000, n2, n3, base3, &keep);
    cr_assert_leq(nkeep, max, "max %u, counted %llu, then %llu and %llu points: kept %zu", max,
                  (unsigned long long)counted, (unsigned long long)n2, (unsigned long long)n3,
                  nkeep);
    bool thinned = counted > max;
    uint64_t first = thinned ? base3 : 1000, seen = thinned ? n3 : counted;
    for (size_t i = 0; i < nkeep; i++) {
        cr_assert(keep[i] >= first && keep[i] - first < seen, "kept %u was handed in", keep[i]);
        if (i > 0)
            cr_assert_gt(keep[i], keep[i - 1], "kept points ascend");
    }
    if (thinned && n3 >= 2) { /* thinned: the ends of what pass 3 saw */
        cr_assert_geq(nkeep, 2);
        cr_expect_eq(keep[0], base3, "the first point is kept");
        cr_expect_eq(keep[nkeep - 1], base3 + n3 - 1, "the last point is kept");
    }
    free(keep);
    return nkeep;
}

Test(geo, thinning_is_bounded_when_later_passes_see_more_points)
{
    /* A phone reporting between the passes: the overflow of issue 11. */
    cr_expect_eq(thin_with(16, 100, 100, 101, 1000), 16);
    thin_with(16, 100, 500, 500, 1000);
    thin_with(16, 17, 5000, 5000, 1000);
    thin_with(50, 100, 100, 100000, 1000);
    thin_with(16, 100, 10, 500, 1000); /* averages of a few, choice among many */
}

Test(geo, thinning_is_bounded_when_later_passes_see_fewer_points)
{
    /* Deletes between the passes. */
    thin_with(16, 1000, 1000, 30, 1000);
    thin_with(16, 1000, 30, 30, 1000);
    thin_with(16, 1000, 0, 0, 1000);
    cr_expect_eq(thin_with(16, 1000, 1000, 1, 1000), 1, "a single point is kept once");
    cr_expect_eq(thin_with(16, 1000, 1000, 0, 1000), 0, "nothing left: nothing kept");
    thin_with(16, 1000, 500, 2, 7);
}

Test(geo, thinning_is_bounded_whatever_the_counts)
{
    uint32_t seed = 12345;
    for (int i = 0; i < 300; i++) {
        seed = seed * 1103515245u + 12345u;
        uint32_t max = GEO_THIN_MIN_MAX + (seed >> 8) % 64;
        seed = seed * 1103515245u + 12345u;
        uint64_t counted = (seed >> 8) % 400, n2 = (seed >> 4) % 400;
        seed = seed * 1103515245u + 12345u;
        uint64_t n3 = (seed >> 8) % 400;
        thin_with(max, counted, n2, n3, 1 + (seed >> 20));
    }
}

Test(geo, thinning_without_enough_points_keeps_those_counted)
{
    struct geo_thin t;
    uint32_t *keep;
    size_t nkeep;
    cr_assert_eq(geo_thin_init(&t, 16), 0);
    for (uint32_t i = 0; i < 16; i++)
        geo_thin_count(&t, 100 + 2 * i);
    cr_assert_not(geo_thin_needed(&t), "16 points fit in 16");
    geo_thin_take(&t, &keep, &nkeep);
    geo_thin_free(&t);
    cr_assert_eq(nkeep, 16);
    for (uint32_t i = 0; i < 16; i++)
        cr_expect_eq(keep[i], 100 + 2 * i);
    free(keep);
}
