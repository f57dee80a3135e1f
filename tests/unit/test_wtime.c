#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "wtime.h"

static int64_t parse(const char *s, int64_t *span)
{
    struct wtime t;
    cr_assert_eq(wtime_parse(s, &t), 0, "'%s' parses", s);
    if (span)
        *span = t.span;
    return t.t;
}

Test(wtime, parses_every_documented_form)
{
    int64_t span;
    cr_expect_eq(parse("1733061600", &span), 1733061600);
    cr_expect_eq(span, 1);
    cr_expect_eq(parse("2024-12-01", &span), 1733011200);
    cr_expect_eq(span, 86400);
    cr_expect_eq(parse("2024-12-01T14:00", &span), 1733061600);
    cr_expect_eq(span, 60);
    cr_expect_eq(parse("2024-12-01T14:00:00", &span), 1733061600);
    cr_expect_eq(span, 1);
    cr_expect_eq(parse("2024-12-01T14:00:00Z", NULL), 1733061600);
    cr_expect_eq(parse("2024-12-01t14:00:00z", NULL), 1733061600, "lowercase, as the API sends");
    cr_expect_eq(parse("2024-12-01 14:00:00", NULL), 1733061600);
    cr_expect_eq(parse("2024-12-01T15:00:00+01:00", NULL), 1733061600);
    cr_expect_eq(parse("2024-12-01T09:30-04:30", NULL), 1733061600);
    cr_expect_eq(parse("2024-12-01T15:00:00+0100", NULL), 1733061600);
    cr_expect_eq(parse("2024-12-01T14:00:00.789Z", NULL), 1733061600, "fractions truncated");
    cr_expect_eq(parse("2024-12", &span), 1733011200);
    cr_expect_eq(span, 31 * 86400);
    cr_expect_eq(parse("2024-02", &span), 1706745600);
    cr_expect_eq(span, 29 * 86400, "leap February");
    cr_expect_eq(parse("2024-12-01T14", &span), 1733061600);
    cr_expect_eq(span, 3600);
    cr_expect_eq(parse("1970-01-01", NULL), 0);
    cr_expect_eq(parse("2099-12-31T23:59:59Z", NULL), WTIME_MAX);
}

Test(wtime, refuses_anything_else)
{
    const char *bad[] = {"",
                         "yesterday",
                         "2024-13-01",
                         "2024-02-30",
                         "2023-02-29",
                         "2024-12-01T24:00",
                         "2024-12-01T14:60",
                         "2024-12-01T14:00:60",
                         "2024-12-01T14:00:00Zjunk",
                         "2024-12-01 junk",
                         "2024-1-1",
                         "-5",
                         "123456789012",
                         "2024-12-01T14:00+25:00",
                         "2024-12-01T",
                         "2024-12-01T14:00:00.",
                         "1e9"};
    struct wtime t;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_neq(wtime_parse(bad[i], &t), 0, "'%s' must be refused", bad[i]);
}

Test(wtime, formats_iso_and_display_times)
{
    char iso[21], disp[20];
    wtime_iso(1733061600, iso);
    cr_expect_str_eq(iso, "2024-12-01T14:00:00Z");
    wtime_disp(1733061600, disp);
    cr_expect_str_eq(disp, "2024-12-01 14:00:00");
    wtime_iso(0, iso);
    cr_expect_str_eq(iso, "1970-01-01T00:00:00Z");
    wtime_iso(951782400, iso);
    cr_expect_str_eq(iso, "2000-02-29T00:00:00Z");
    wtime_iso(WTIME_MAX, iso);
    cr_expect_str_eq(iso, "2099-12-31T23:59:59Z");
    /* every day for 130 years round-trips through the civil conversion */
    for (int64_t d = 0; d < 130 * 366; d++) {
        int64_t y;
        unsigned m, dd;
        wtime_to_civil(d, &y, &m, &dd);
        cr_assert_eq(wtime_from_civil(y, m, dd), d);
    }
}

Test(wtime, cached_formatting_matches_across_days)
{
    struct wtime_day_cache c = {0};
    char a[21], b[21];
    for (int64_t t = 1733011200 - 5000; t < 1733011200 + 3 * 86400; t += 977) {
        wtime_iso(t, a);
        wtime_iso_cached(&c, t, b);
        cr_assert_str_eq(b, a);
        wtime_disp(t, a);
        wtime_disp_cached(&c, t, b);
        cr_assert_str_eq(b, a);
    }
    /* going backwards in time too */
    wtime_iso_cached(&c, 86400 * 3, b);
    wtime_iso_cached(&c, 5, b);
    cr_expect_str_eq(b, "1970-01-01T00:00:05Z");
}

Test(wtime, durations_take_units_largest_first)
{
    int64_t s = -1;
    const struct {
        const char *text;
        int64_t seconds;
    } good[] = {{"300", 300},      {"5m", 300},         {"5min", 300},
                {"1h30min", 5400}, {"2w", 14 * 86400},  {"1w2d", 9 * 86400},
                {"0s", 0},         {"1d2h3m4s", 93784}, {"366d", 366 * 86400}};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        cr_expect_eq(wtime_parse_duration(good[i].text, 366 * 86400, &s), 0, "%s", good[i].text);
        cr_expect_eq(s, good[i].seconds, "%s: %lld", good[i].text, (long long)s);
    }
    const char *bad[] = {"",    "5x",   "m5",     "5m1h", "1h30", "-5",
                         "5 m", "1d1d", "1m5min", "367d", "53w",  "99999999999999999999999h"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(wtime_parse_duration(bad[i], 366 * 86400, &s), -EINVAL, "'%s' is refused",
                     bad[i]);
    cr_expect_eq(wtime_parse_duration(NULL, 60, &s), -EINVAL);
    cr_expect_eq(wtime_parse_duration("61", 60, &s), -EINVAL, "the bound holds for seconds too");
}
