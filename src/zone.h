/*
 * zone.h - time zones: which local day an instant falls on, and where a local day begins and
 * ends, for any IANA zone (Europe/Paris, America/New_York...), from the system's tz database
 * through GLib's GTimeZone. The only module that includes glib.h for time zones.
 *
 * A struct zone is immutable once opened: any thread may use it at the same time. Dates are
 * proleptic Gregorian, written yyyymmdd as one number (20240503), which sorts like the days.
 */
#ifndef WL_ZONE_H
#define WL_ZONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct zone;

/*
 * Opens the zone called `name` ("" or NULL: the server's own zone, from TZ or /etc/localtime).
 * Returns 0, -EINVAL for a name that is not a zone of the system's tz database (GLib would
 * silently give UTC: this refuses instead), or -ENOMEM.
 */
int zone_open(const char *name, struct zone **out);
/* Another reference to the same zone (any thread); each is released with zone_unref. */
struct zone *zone_ref(struct zone *z);
void zone_unref(struct zone *z);

/* The zone's name as opened ("UTC", "Europe/Paris"; the server's zone by its identifier),
 * valid while z is. */
const char *zone_name(const struct zone *z);

/* Offset from UTC in seconds at instant t (epoch seconds): local time = t + offset. */
int32_t zone_offset(const struct zone *z, int64_t t);

/* The local date (yyyymmdd) of instant t. */
uint32_t zone_date(const struct zone *z, int64_t t);

/* The instants a local date begins and ends at: [*start, *end), usually 86400 s apart (23 or
 * 25 h when clocks change; a day that begins inside a skipped hour begins when it ends).
 * Returns 0, or -EINVAL for a date that is not a real day (20240230, month 13). */
int zone_day_bounds(const struct zone *z, uint32_t date, int64_t *start, int64_t *end);

/* Date arithmetic in the proleptic Gregorian calendar, no zone involved. */
bool zone_date_valid(uint32_t date);
/* Days since 1970-01-01 of a valid date, and back. */
int64_t zone_date_days(uint32_t date);
uint32_t zone_days_date(int64_t days);

#endif
