#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "geohash.h"

static void expect_hash(double lat, double lon, int precision, const char *want)
{
    char out[GEOHASH_SIZE];
    cr_assert_eq(geohash_encode(lat, lon, precision, out), 0, "%f,%f encodes", lat, lon);
    cr_expect_str_eq(out, want, "%f,%f at precision %d is %s, not %s", lat, lon, precision, want,
                     out);
}

Test(geohash, encodes_known_values)
{
    /* The Recorder's own last file: 48.856632,2.352251 is u09tvw0 (precision 7). */
    expect_hash(48.856632, 2.352251, GEOHASH_PRECISION_DEFAULT, "u09tvw0");
    /* The examples of the geohash's inventor and of its Wikipedia article. */
    expect_hash(57.64911, 10.40744, 11, "u4pruydqqvj");
    expect_hash(42.605, -5.603, 5, "ezs42");
    expect_hash(-25.382708, -49.265506, 12, "6gkzwgjzn820");
    expect_hash(0, 0, 1, "s");
    expect_hash(-90, -180, 3, "000");
    expect_hash(90, 180, 4, "zzzz");
}

Test(geohash, a_shorter_hash_is_a_prefix_of_a_longer_one)
{
    char long_hash[GEOHASH_SIZE], short_hash[GEOHASH_SIZE];
    for (int p = GEOHASH_PRECISION_MIN; p <= GEOHASH_PRECISION_MAX; p++) {
        cr_assert_eq(geohash_encode(-33.8688, 151.2093, GEOHASH_PRECISION_MAX, long_hash), 0);
        cr_assert_eq(geohash_encode(-33.8688, 151.2093, p, short_hash), 0);
        cr_expect_eq(strlen(short_hash), (size_t)p, "precision %d gives %d characters", p, p);
        cr_expect_eq(strncmp(long_hash, short_hash, (size_t)p), 0, "%s is a prefix of %s",
                     short_hash, long_hash);
    }
}

Test(geohash, decodes_to_the_cell_that_holds_the_point)
{
    double lat_min, lon_min, lat_max, lon_max;
    cr_assert_eq(geohash_decode("u09tvw0", &lat_min, &lon_min, &lat_max, &lon_max), 0);
    cr_expect(lat_min <= 48.856632 && 48.856632 < lat_max, "lat in %f..%f", lat_min, lat_max);
    cr_expect(lon_min <= 2.352251 && 2.352251 < lon_max, "lon in %f..%f", lon_min, lon_max);
    /* Precision 7 is 35 bits, 18 of longitude and 17 of latitude: about 153 x 153 m. */
    cr_expect_float_eq(lon_max - lon_min, 360.0 / (1 << 18), 1e-12);
    cr_expect_float_eq(lat_max - lat_min, 180.0 / (1 << 17), 1e-12);
}

Test(geohash, refuses_what_is_no_position_or_no_hash)
{
    char out[GEOHASH_SIZE] = "x";
    double a, b, c, d;
    cr_expect_eq(geohash_encode(NAN, 0, 7, out), -EINVAL);
    cr_expect_str_empty(out, "nothing but an empty string is written");
    cr_expect_eq(geohash_encode(0, INFINITY, 7, out), -EINVAL);
    cr_expect_eq(geohash_encode(90.5, 0, 7, out), -EINVAL);
    cr_expect_eq(geohash_encode(0, -180.1, 7, out), -EINVAL);
    cr_expect_eq(geohash_encode(0, 0, 0, out), -EINVAL);
    cr_expect_eq(geohash_encode(0, 0, 13, out), -EINVAL);
    cr_expect_eq(geohash_decode("", &a, &b, &c, &d), -EINVAL);
    cr_expect_eq(geohash_decode("u09a", &a, &b, &c, &d), -EINVAL, "a is not in the alphabet");
    cr_expect_eq(geohash_decode("U09T", &a, &b, &c, &d), -EINVAL, "lower case only");
    cr_expect_eq(geohash_decode("0123456789bcd", &a, &b, &c, &d), -EINVAL, "13 is too long");
    cr_expect(geohash_valid("u09tvw0"));
    cr_expect(!geohash_valid("keys!"));
}

/* The definition, bit by bit: halve the range, 1 when the value is in the upper half. */
static void bisect(double lat, double lon, int precision, char *out)
{
    static const char alphabet[] = "0123456789bcdefghjkmnpqrstuvwxyz";
    double range[2][2] = {{-180, 180}, {-90, 90}};
    int axis = 0;
    for (int c = 0; c < precision; c++) {
        int idx = 0;
        for (int b = 0; b < 5; b++, axis ^= 1) {
            double v = axis ? lat : lon, mid = (range[axis][0] + range[axis][1]) / 2;
            idx = idx * 2 + (v >= mid);
            range[axis][v >= mid ? 0 : 1] = mid;
        }
        out[c] = alphabet[idx];
    }
    out[precision] = '\0';
}

Test(geohash, agrees_with_halving_the_ranges)
{
    char want[GEOHASH_SIZE], got[GEOHASH_SIZE];
    srand(14);
    for (int i = 0; i < 200000; i++) {
        double lat = (double)rand() / RAND_MAX * 180 - 90,
               lon = (double)rand() / RAND_MAX * 360 - 180;
        int p = 1 + i % GEOHASH_PRECISION_MAX;
        if (i % 7 == 0) /* on a cell's edge: a multiple of the finest cell */
            lat = ldexp(floor(ldexp(lat, 20)), -20), lon = ldexp(floor(ldexp(lon, 20)), -20);
        bisect(lat, lon, p, want);
        cr_assert_eq(geohash_encode(lat, lon, p, got), 0);
        cr_assert_str_eq(got, want, "%.17g,%.17g at precision %d", lat, lon, p);
    }
}
