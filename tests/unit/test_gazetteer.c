#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "gazetteer.h"

static struct gazetteer *g;

static void open_it(void)
{
    cr_assert_eq(gazetteer_open(&g), 0, "libgeonames' cities are read");
}

static void close_it(void)
{
    gazetteer_free(g);
}

TestSuite(gazetteer, .init = open_it, .fini = close_it);

static void expect_city(double lat, double lon, const char *name, const char *cc, const char *tz)
{
    struct gazetteer_city c;
    cr_assert(gazetteer_nearest(g, lat, lon, &c), "%f,%f has a city", lat, lon);
    cr_expect_str_eq(c.name, name, "%f,%f is in %s, not %s", lat, lon, name, c.name);
    cr_expect_str_eq(c.cc, cc, "%f,%f is in country %s, not %s", lat, lon, cc, c.cc);
    cr_expect_str_eq(c.tzname, tz, "%f,%f keeps time %s, not %s", lat, lon, tz, c.tzname);
    cr_expect(c.distance_m >= 0 && c.distance_m <= GAZETTEER_MAX_DISTANCE_M);
}

Test(gazetteer, holds_the_cities_of_libgeonames)
{
    cr_expect_gt(gazetteer_cities(g), 20000, "GeoNames' cities of 15,000 or more");
    cr_expect_lt(gazetteer_bytes(g), 4u << 20, "fits in a few MB (%zu bytes)", gazetteer_bytes(g));
}

Test(gazetteer, names_cities_with_their_country_and_zone)
{
    expect_city(48.8566, 2.3522, "Paris", "FR", "Europe/Paris");
    expect_city(51.5074, -0.1278, "London", "GB", "Europe/London");
    expect_city(40.7128, -74.0060, "New York", "US", "America/New_York");
    expect_city(-33.8688, 151.2093, "Sydney", "AU", "Australia/Sydney");
    expect_city(35.6895, 139.6917, "Tokyo", "JP", "Asia/Tokyo");
    expect_city(-22.9068, -43.1729, "Rio de Janeiro", "BR", "America/Sao_Paulo");
}

Test(gazetteer, a_point_near_a_border_gets_its_own_side)
{
    struct gazetteer_city c;
    /* Strasbourg and Kehl face each other across the Rhine, 4 km apart. */
    cr_assert(gazetteer_nearest(g, 48.5734, 7.7521, &c));
    cr_expect_str_eq(c.cc, "FR", "Strasbourg's centre is in France, not %s (%s)", c.cc, c.name);
    cr_assert(gazetteer_nearest(g, 48.5700, 7.8150, &c));
    cr_expect_str_eq(c.cc, "DE", "Kehl's centre is in Germany, not %s (%s)", c.cc, c.name);
    /* Geneva and Annemasse: Switzerland and France, 7 km apart. */
    cr_assert(gazetteer_nearest(g, 46.2044, 6.1432, &c));
    cr_expect_str_eq(c.cc, "CH", "Geneva is in Switzerland, not %s (%s)", c.cc, c.name);
    cr_assert(gazetteer_nearest(g, 46.1934, 6.2342, &c));
    cr_expect_str_eq(c.cc, "FR", "Annemasse is in France, not %s (%s)", c.cc, c.name);
}

Test(gazetteer, the_open_sea_has_no_city)
{
    struct gazetteer_city c;
    cr_expect(!gazetteer_nearest(g, 40.0, -40.0, &c), "mid-Atlantic");
    cr_expect(!gazetteer_nearest(g, 56.0, 3.0, &c), "the middle of the North Sea");
    cr_expect(!gazetteer_nearest(g, -40.0, -120.0, &c), "the South Pacific");
    cr_expect(!gazetteer_nearest(g, 90, 0, &c), "the North Pole");
    cr_expect(!gazetteer_nearest(g, -90, 0, &c), "the South Pole");
}

Test(gazetteer, searches_across_the_antimeridian)
{
    struct gazetteer_city c;
    /* Fiji's Labasa is at 179.4 E; a point at 179.9 W (about 60 km east of it) finds it. */
    cr_assert(gazetteer_nearest(g, -16.43, -179.9, &c), "a city across 180 degrees");
    cr_expect_str_eq(c.cc, "FJ", "%s is in %s", c.name, c.cc);
}

Test(gazetteer, refuses_what_is_no_position)
{
    struct gazetteer_city c;
    cr_expect(!gazetteer_nearest(g, NAN, 2, &c));
    cr_expect(!gazetteer_nearest(g, 48, INFINITY, &c));
    cr_expect(!gazetteer_nearest(g, 91, 2, &c));
    cr_expect(!gazetteer_nearest(g, 48, 181, &c));
}

static void *look_up_paris(void *arg)
{
    (void)arg;
    struct gazetteer_city c;
    for (int i = 0; i < 2000; i++)
        if (!gazetteer_nearest(g, 48.8566, 2.3522, &c) || strcmp(c.name, "Paris") != 0)
            return (void *)1;
    return NULL;
}

Test(gazetteer, many_threads_look_up_at_once)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, look_up_paris, NULL), 0);
    for (int i = 0; i < 4; i++) {
        void *res;
        pthread_join(t[i], &res);
        cr_expect_null(res, "thread %d found Paris every time", i);
    }
}
