#include <criterion/criterion.h>
#include <errno.h>

#include "zone.h"

static struct zone *open_zone(const char *name)
{
    struct zone *z;
    cr_assert_eq(zone_open(name, &z), 0, "zone %s opens", name);
    return z;
}

Test(zone, refuses_names_that_are_not_zones)
{
    struct zone *z;
    cr_expect_eq(zone_open("Nowhere/Atlantis", &z), -EINVAL);
    cr_expect_eq(zone_open("Europe/Paris/../../etc/passwd", &z), -EINVAL);
}

Test(zone, gives_the_local_date_of_an_instant)
{
    struct zone *paris = open_zone("Europe/Paris"), *ny = open_zone("America/New_York");
    /* 2024-05-03T23:30:00Z: already the 4th in Paris (UTC+2), still the 3rd in New York. */
    cr_expect_eq(zone_date(paris, 1714779000), 20240504u);
    cr_expect_eq(zone_date(ny, 1714779000), 20240503u);
    cr_expect_eq(zone_offset(paris, 1714779000), 7200);
    cr_expect_eq(zone_offset(paris, 1704067200), 3600, "winter time on 1 January");
    cr_expect_eq(zone_date(ny, 0), 19691231u, "the epoch was still 1969 in New York");
    zone_unref(paris);
    zone_unref(ny);
}

Test(zone, bounds_days_including_those_the_clocks_change_on)
{
    struct zone *paris = open_zone("Europe/Paris");
    int64_t start, end;
    cr_assert_eq(zone_day_bounds(paris, 20240503, &start, &end), 0);
    cr_expect_eq(start, 1714687200, "midnight in Paris is 22:00Z the day before");
    cr_expect_eq(end - start, 86400);
    cr_assert_eq(zone_day_bounds(paris, 20240331, &start, &end), 0);
    cr_expect_eq(end - start, 23 * 3600, "the spring day is 23 hours long");
    cr_assert_eq(zone_day_bounds(paris, 20241027, &start, &end), 0);
    cr_expect_eq(end - start, 25 * 3600, "the autumn day is 25 hours long");
    cr_expect_eq(zone_day_bounds(paris, 20240230, &start, &end), -EINVAL);
    cr_expect_eq(zone_day_bounds(paris, 20241301, &start, &end), -EINVAL);
    zone_unref(paris);
}

Test(zone, starts_a_day_whose_midnight_is_skipped_when_the_gap_ends)
{
    /* Santiago moved its clocks forward at 24:00 on 2023-09-02: 2023-09-03 began at 01:00. */
    struct zone *z = open_zone("America/Santiago");
    int64_t start, end;
    cr_assert_eq(zone_day_bounds(z, 20230903, &start, &end), 0);
    cr_expect_eq(zone_date(z, start), 20230903u);
    cr_expect_eq(zone_date(z, start - 1), 20230902u);
    cr_expect_eq(end - start, 23 * 3600);
    zone_unref(z);
}

Test(zone, counts_days_both_ways_over_any_date)
{
    cr_expect_eq(zone_date_days(19700101), 0);
    cr_expect_eq(zone_date_days(20000301), 11017);
    cr_expect_eq(zone_days_date(-1), 19691231u);
    for (int64_t d = -719162; d <= 2932896; d += 997) /* years 1 to 9999 */
        cr_assert_eq(zone_date_days(zone_days_date(d)), d, "day %lld comes back", (long long)d);
    cr_expect(zone_date_valid(20240229));
    cr_expect(!zone_date_valid(20230229));
    cr_expect(!zone_date_valid(20240000));
    cr_expect(!zone_date_valid(0));
}

Test(zone, is_shared_by_reference)
{
    struct zone *z = open_zone("UTC");
    struct zone *again = zone_ref(z);
    zone_unref(z);
    cr_expect_eq(zone_date(again, 86400), 19700102u);
    zone_unref(again);
}
