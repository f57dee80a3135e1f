#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#include "summary.h"

/* Cities made by hand: the summary keys a city by the gazetteer's name pointer. */
static const char paris_name[] = "Paris", lyon_name[] = "Lyon", berlin_name[] = "Berlin";
static const struct gazetteer_city paris = {
    .name = paris_name, .cc = "FR", .lat = 48.8566, .lon = 2.3522};
static const struct gazetteer_city lyon = {
    .name = lyon_name, .cc = "FR", .lat = 45.76, .lon = 4.84};
static const struct gazetteer_city berlin = {
    .name = berlin_name, .cc = "DE", .lat = 52.52, .lon = 13.405};

static struct store_day day(uint32_t date, uint32_t points, double distance)
{
    return (struct store_day){.date = date, .points = points, .distance_m = distance};
}

Test(summary, days_and_distance_add_up_by_month)
{
    struct summary s;
    summary_init(&s, 2025, 100);
    struct store_day d[] = {day(20250101, 10, 1000), day(20250102, 0, 0), day(20250315, 5, 2500.5),
                            day(20251231, 1, 3),
                            day(20241231, 99, 99999) /* another year: left out */};
    for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++)
        cr_assert_eq(summary_add_day(&s, &d[i], NULL), 0);
    /* the same day from a second device: distance adds, the day counts once */
    struct store_day again = day(20250101, 4, 500);
    cr_assert_eq(summary_add_day(&s, &again, NULL), 0);
    summary_finish(&s);
    cr_expect_float_eq(s.distance_m, 1000 + 2500.5 + 3 + 500, 1e-9);
    cr_expect_eq(s.points, 20);
    cr_expect_eq(s.days, 3, "days with a point, once each: %u", s.days);
    cr_expect_eq(s.month[0].days, 1);
    cr_expect_float_eq(s.month[0].distance_m, 1500, 1e-9);
    cr_expect_eq(s.month[2].days, 1);
    cr_expect_eq(s.month[11].days, 1);
    cr_expect_eq(s.month[1].days, 0);
    summary_free(&s);
}

Test(summary, a_city_and_its_country_count_days_not_stays)
{
    struct summary s;
    summary_init(&s, 2025, 100);
    /* two stays in Paris on one day, one the next; Lyon one day; Berlin one day */
    cr_assert_eq(summary_add_stay(&s, 20250601, 48.85, 2.35, 3600, &paris, NULL), 0);
    cr_assert_eq(summary_add_stay(&s, 20250601, 48.86, 2.30, 1800, &paris, NULL), 0);
    cr_assert_eq(summary_add_stay(&s, 20250602, 48.85, 2.35, 7200, &paris, NULL), 0);
    cr_assert_eq(summary_add_stay(&s, 20250603, 45.76, 4.84, 600, &lyon, NULL), 0);
    cr_assert_eq(summary_add_stay(&s, 20250604, 52.52, 13.40, 600, &berlin, NULL), 0);
    cr_assert_eq(summary_add_stay(&s, 20250605, 0, -30, 600, NULL, NULL), 0); /* at sea */
    summary_finish(&s);
    cr_assert_eq(s.ncountries, 2);
    cr_expect_str_eq(s.countries[0].cc, "FR", "the most days first");
    cr_expect_eq(s.countries[0].days, 3, "Paris 2 days + Lyon 1 day");
    cr_expect_str_eq(s.countries[1].cc, "DE");
    cr_expect_eq(s.countries[1].days, 1);
    cr_assert_eq(s.ncities, 3);
    cr_expect_str_eq(s.cities[0].name, "Paris");
    cr_expect_eq(s.cities[0].days, 2);
    cr_expect_str_eq(s.cities[1].name, "Berlin", "ties by name");
    cr_expect_str_eq(s.cities[2].name, "Lyon");
    summary_free(&s);
}

Test(summary, stays_within_the_radius_are_one_place)
{
    struct summary s;
    summary_init(&s, 2025, 100);
    /* home: three stays within ~30 m; work 4 km away, twice; a one-off 150 m from home */
    cr_assert_eq(summary_add_stay(&s, 20250110, 48.85000, 2.35000, 36000, &paris, NULL), 0);
    cr_assert_eq(summary_add_stay(&s, 20250111, 48.85020, 2.35010, 36000, &paris, NULL), 0);
    cr_assert_eq(summary_add_stay(&s, 20250111, 48.84990, 2.35020, 3600, &paris, NULL), 0);
    cr_assert_eq(summary_add_stay(&s, 20250110, 48.87000, 2.30000, 28000, &paris, NULL), 0);
    cr_assert_eq(summary_add_stay(&s, 20250112, 48.87010, 2.30000, 28000, &paris, NULL), 0);
    cr_assert_eq(summary_add_stay(&s, 20250112, 48.85135, 2.35000, 900, &paris, NULL), 0);
    summary_finish(&s);
    cr_assert_eq(s.nplaces, 3, "home, work and the one-off: %zu", s.nplaces);
    cr_expect_eq(s.places[0].visits, 3);
    cr_expect_eq(s.places[0].days, 2);
    cr_expect_eq(s.places[0].seconds, 75600);
    cr_expect(fabs(s.places[0].lat - 48.85) < 0.0003, "home's centre stays at home");
    cr_expect_eq(s.places[1].visits, 2);
    cr_expect_eq(s.places[1].days, 2);
    cr_expect_eq(s.places[2].visits, 1);
    cr_expect_str_eq(s.places[0].city, "Paris");
    cr_expect_str_eq(s.places[0].cc, "FR");
    summary_free(&s);
}

Test(summary, only_the_top_places_are_kept)
{
    struct summary s;
    summary_init(&s, 2025, 50);
    for (int i = 0; i < 25; i++)
        cr_assert_eq(summary_add_stay(&s, 20250201, 40 + i * 0.01, 3, 60 * (i + 1), NULL, NULL), 0);
    summary_finish(&s);
    cr_assert_eq(s.nplaces, SUMMARY_TOP_PLACES);
    cr_expect_eq(s.places[0].seconds, 25 * 60, "the most time first");
    cr_expect_eq(s.places[SUMMARY_TOP_PLACES - 1].seconds, (25 - SUMMARY_TOP_PLACES + 1) * 60);
    cr_expect_null(s.places[0].city);
    summary_free(&s);
}

Test(summary, segments_count_in_the_month_they_begin_and_the_longest_trip_wins)
{
    struct summary s;
    summary_init(&s, 2025, 100);
    struct tl_segment stay = {.kind = TL_STAY}, gap = {.kind = TL_GAP};
    struct tl_segment t1 = {.kind = TL_TRIP, .distance_m = 1200, .start = 1};
    struct tl_segment t2 = {.kind = TL_TRIP, .distance_m = 480000, .start = 2};
    struct tl_segment t3 = {.kind = TL_TRIP, .distance_m = 9e9, .start = 3};
    summary_add_segment(&s, 20250105, &stay);
    summary_add_segment(&s, 20250105, &t1);
    summary_add_segment(&s, 20250720, &t2);
    summary_add_segment(&s, 20250720, &stay);
    summary_add_segment(&s, 20250720, &gap);
    summary_add_segment(&s, 20260101, &t3); /* next year */
    summary_finish(&s);
    cr_expect_eq(s.stays, 2);
    cr_expect_eq(s.trips, 2);
    cr_expect_eq(s.month[0].stays, 1);
    cr_expect_eq(s.month[0].trips, 1);
    cr_expect_eq(s.month[6].stays, 1);
    cr_expect_eq(s.month[6].trips, 1);
    cr_assert(s.have_longest);
    cr_expect_eq(s.longest.start, 2, "the 480 km trip");
    summary_free(&s);
}

Test(summary, a_year_parses_strictly)
{
    int y = 0;
    cr_expect(summary_parse_year("2025", &y) == 0 && y == 2025);
    cr_expect(summary_parse_year("1970", &y) == 0 && y == 1970);
    const char *bad[] = {"", "25", "20255", "1969", "2100", "20x5", "-202", " 2025"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(summary_parse_year(bad[i], &y), -EINVAL, "'%s' is refused", bad[i]);
    cr_expect_eq(summary_parse_year(NULL, &y), -EINVAL);
}

Test(summary, a_leap_day_and_new_years_eve_are_days_of_their_year)
{
    struct summary s;
    summary_init(&s, 2024, 100);
    struct store_day a = day(20240229, 1, 0), b = day(20241231, 1, 0), c = day(20240230, 1, 0);
    cr_assert_eq(summary_add_day(&s, &a, NULL), 0);
    cr_assert_eq(summary_add_day(&s, &b, NULL), 0);
    cr_assert_eq(summary_add_day(&s, &c, NULL), 0); /* not a date: left out */
    cr_expect_eq(s.days, 2);
    cr_expect_eq(s.month[1].days, 1);
    cr_expect_eq(s.month[11].days, 1);
    summary_free(&s);
}

Test(summary, stays_at_the_users_places_count_for_them_by_name)
{
    struct summary s;
    summary_init(&s, 2025, 100);
    /* "Home" is a user's place of 150 m: a stay 120 m from its centre is still home, where
     * clustering alone (100 m) would have made two places. A phone's region "Gym"; a stay
     * that neither holds joins a cluster. */
    struct store_place home = {.id = 7, .lat = 48.85, .lon = 2.35, .radius_m = 150};
    snprintf(home.name, sizeof(home.name), "Home");
    struct places_region gym = {.lat = 48.87, .lon = 2.30, .radius_m = 80};
    snprintf(gym.desc, sizeof(gym.desc), "Gym");
    struct places_names names = {.places = &home, .nplaces = 1, .regions = &gym, .nregions = 1};
    s.names = &names;
    struct store_day d = day(20250301, 10, 0);
    d.nstays = 4;
    d.stay[0].seconds = 30000, d.stay[0].lat = 48.85f, d.stay[0].lon = 2.35f;
    d.stay[1].seconds = 20000, d.stay[1].lat = 48.8510f, d.stay[1].lon = 2.35f; /* 111 m */
    d.stay[2].seconds = 3000, d.stay[2].lat = 48.87f, d.stay[2].lon = 2.3001f;
    d.stay[3].seconds = 1000, d.stay[3].lat = 45.76f, d.stay[3].lon = 4.84f;
    cr_assert_eq(summary_add_day(&s, &d, NULL), 0);
    summary_finish(&s);
    cr_assert_eq(s.nplaces, 3, "home, the gym and a cluster: %zu", s.nplaces);
    cr_expect(s.places[0].named && s.places[0].id == 7 && !s.places[0].region);
    cr_expect_str_eq(s.places[0].name, "Home");
    cr_expect_eq(s.places[0].visits, 2);
    cr_expect_eq(s.places[0].seconds, 50000);
    cr_expect(s.places[1].named && s.places[1].id == 0 && s.places[1].region);
    cr_expect_str_eq(s.places[1].name, "Gym");
    cr_expect(!s.places[2].named);

    struct sink out;
    struct zone *utc;
    cr_assert_eq(zone_open("UTC", &utc), 0);
    cr_assert_eq(sink_init_mem(&out, 1024), 0);
    summary_json(&out, &s, "ann", NULL, utc, NULL);
    zone_unref(utc);
    cr_assert_eq(out.err, 0);
    sink_putc(&out, 0);
    cr_expect(strstr(out.buf, "\"place\":{\"id\":7,\"name\":\"Home\",\"source\":\"user\"}"), "%s",
              out.buf);
    cr_expect(strstr(out.buf, "\"place\":{\"id\":null,\"name\":\"Gym\",\"source\":\"owntracks\"}"));
    cr_expect(strstr(out.buf, "\"place\":null"));
    sink_free(&out);
    summary_free(&s);
}
