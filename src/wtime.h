/*
 * wtime.h - the times users type and the times we print. All times are UTC epoch seconds.
 *
 * No state: any thread (a struct wtime_day_cache belongs to one thread at a time).
 */
#ifndef WL_WTIME_H
#define WL_WTIME_H

#include <stdbool.h>
#include <stdint.h>

/* Timestamps we accept from phones and users: 1970-01-01T00:00:01Z .. 2099-12-31T23:59:59Z.
 * The upper bound also keeps every tst within the 32-bit unsigned store key. */
#define WTIME_MIN 1
#define WTIME_MAX 4102444799LL

/*
 * A parsed time and the length of the unit it named: "2024-12-01" is the whole day (span
 * 86400), "2024-12-01T10:15" a minute, epoch seconds one second. A range end given as a date
 * therefore covers that day: end = t + span - 1.
 */
struct wtime {
    int64_t t;
    int64_t span;
};

/*
 * Parses, in full (no trailing junk):
 *   epoch seconds ("1733061600");
 *   YYYY-MM, YYYY-MM-DD, YYYY-MM-DDTHH, YYYY-MM-DDTHH:MM, YYYY-MM-DDTHH:MM:SS[.fff]
 *   ('T' or 't' or ' ' between date and time), each optionally followed by 'Z'/'z' or an
 *   offset +HH:MM, -HH:MM, +HHMM, +HH. Without a zone the time is UTC.
 * Returns 0, or -EINVAL for anything else (out-of-range fields, Feb 30, more than 11
 * digits). WTIME_MIN..WTIME_MAX is not applied here: epoch 0 and year 9999 parse, and the
 * callers bound what they keep (owntracks, the importers; the store clamps a read range).
 */
int wtime_parse(const char *s, struct wtime *out);

/* The texts below: their characters, and the buffers that hold them with their NUL. */
#define WTIME_ISO_LEN   20 /* YYYY-MM-DDTHH:MM:SSZ */
#define WTIME_ISO_SIZE  (WTIME_ISO_LEN + 1)
#define WTIME_DISP_LEN  19 /* YYYY-MM-DD HH:MM:SS */
#define WTIME_DISP_SIZE (WTIME_DISP_LEN + 1)
#define WTIME_DATE_LEN  10 /* YYYY-MM-DD, the start of both */

/* Writes "YYYY-MM-DDTHH:MM:SSZ" (WTIME_ISO_LEN chars + NUL) into buf. Cannot fail; a year
 * outside 0..9999 (a time the callers do not keep) prints as 0000. */
void wtime_iso(int64_t t, char buf[WTIME_ISO_SIZE]);
/* wtime_iso for runs of times (a track): remembers the last day, so that consecutive times
 * within a day cost no calendar arithmetic. Zero-initialise the cache before first use. */
struct wtime_day_cache {
    int64_t day;
    bool valid;
    char date[WTIME_DATE_LEN + 1];
};
void wtime_iso_cached(struct wtime_day_cache *c, int64_t t, char buf[WTIME_ISO_SIZE]);
void wtime_disp_cached(struct wtime_day_cache *c, int64_t t, char buf[WTIME_DISP_SIZE]);

/* Writes "YYYY-MM-DD HH:MM:SS" (WTIME_DISP_LEN chars + NUL), the Recorder's disptst. */
void wtime_disp(int64_t t, char buf[WTIME_DISP_SIZE]);

/* A duration as people type it: whole seconds ("300"), or whole numbers with units w, d, h, m
 * (or min) and s, largest first, each at most once ("5m", "1h30min", "2w", "1d2h3m4s").
 * Returns 0 with *seconds set, or -EINVAL (not a duration, or longer than max seconds). The
 * settings and the expiries of tokens and share links read durations with it. */
int wtime_parse_duration(const char *text, int64_t max, int64_t *seconds);

/* Civil date helpers (proleptic Gregorian, UTC). */
int64_t wtime_from_civil(int64_t year, unsigned month, unsigned day);
void wtime_to_civil(int64_t days, int64_t *year, unsigned *month, unsigned *day);

#endif
