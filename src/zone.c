/*
 * zone.c - local days in any IANA zone, through GLib's GTimeZone (which reads the system's tz
 * database and is immutable and reference-counted, so one zone serves every thread).
 */
#include "zone.h"

#include <errno.h>
#include <glib.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct zone {
    GTimeZone *tz;
    atomic_int refs;
};

int zone_open(const char *name, struct zone **out)
{
    struct zone *z = malloc(sizeof(*z));
    if (!z)
        return -ENOMEM;
    /* g_time_zone_new() falls back to UTC for a name it does not know; _identifier says so. */
    z->tz = name && *name ? g_time_zone_new_identifier(name) : g_time_zone_new_local();
    if (!z->tz) {
        free(z);
        return -EINVAL;
    }
    atomic_init(&z->refs, 1);
    *out = z;
    return 0;
}

struct zone *zone_ref(struct zone *z)
{
    atomic_fetch_add(&z->refs, 1);
    return z;
}

void zone_unref(struct zone *z)
{
    if (!z || atomic_fetch_sub(&z->refs, 1) != 1)
        return;
    g_time_zone_unref(z->tz);
    free(z);
}

const char *zone_name(const struct zone *z)
{
    return g_time_zone_get_identifier(z->tz);
}

int32_t zone_offset(const struct zone *z, int64_t t)
{
    int interval = g_time_zone_find_interval(z->tz, G_TIME_TYPE_UNIVERSAL, t);
    return g_time_zone_get_offset(z->tz, interval);
}

/* Civil dates from day numbers and back: Howard Hinnant's "chrono-compatible low-level date
 * algorithms" (days_from_civil, civil_from_days), eras of 400 years. */
int64_t zone_date_days(uint32_t date)
{
    int64_t y = date / 10000, m = date / 100 % 100, d = date % 100;
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

uint32_t zone_days_date(int64_t days)
{
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t doe = days - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    if (y < 0 || y > 9999)
        return 0;
    return (uint32_t)(y * 10000 + m * 100 + d);
}

bool zone_date_valid(uint32_t date)
{
    uint32_t m = date / 100 % 100, d = date % 100;
    if (date < 10101 || date > 99991231 || m < 1 || m > 12 || d < 1 || d > 31)
        return false;
    return zone_days_date(zone_date_days(date)) == date; /* 20240230 comes back as 20240301 */
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

uint32_t zone_date(const struct zone *z, int64_t t)
{
    return zone_days_date(floor_div(t + zone_offset(z, t), 86400));
}

/* The instant local midnight of `days` falls on. A midnight that happens twice (clocks going
 * back at midnight) is the first; one skipped (clocks going forward at midnight) is when the
 * skipped hour ends: GLib moves a time in a gap forward. */
static int64_t local_midnight(const struct zone *z, int64_t days)
{
    gint64 local = days * 86400;
    int interval = g_time_zone_adjust_time(z->tz, G_TIME_TYPE_DAYLIGHT, &local);
    return local - g_time_zone_get_offset(z->tz, interval);
}

int zone_day_bounds(const struct zone *z, uint32_t date, int64_t *start, int64_t *end)
{
    if (!zone_date_valid(date))
        return -EINVAL;
    int64_t days = zone_date_days(date);
    *start = local_midnight(z, days);
    *end = local_midnight(z, days + 1);
    return 0;
}
