/*
 * summary.h - the year at a glance: for one user (all their devices, or one) and one local year
 * in the user's zone, the distance, the days with data, the countries and cities visited and
 * the days in each, the most visited places, the longest trip, and month-by-month figures.
 * The HTTP API (/api/0/summary) and the command line (wherelog summary) share it.
 *
 * Where the figures come from (computed as they are read, from what the store keeps at ingest;
 * store.h "timeline"):
 *   - distance, points and days with data: the day figures (store_days_read) of the year's local
 *     days, summed; a day has data when any of the devices has a point that day. The distance
 *     is exactly the sum of the days' (what /api/0/days gives).
 *   - countries and cities: each day's stays (store_day.stay[], a day's longest
 *     STORE_DAY_STAYS) are placed with the gazetteer (gazetteer.h: the nearest city within
 *     GAZETTEER_MAX_DISTANCE_M, its country); a day counts for a city and its country when a
 *     stay that day is there. Only stays count, not the points of trips: passing through on a
 *     motorway is not a visit, and a stop of the user's minimum stay or more is one. Without a
 *     gazetteer there are no countries or cities (the lists are empty).
 *   - places: a stay held by one of the user's own places, or else by a region a phone
 *     published, counts for that place (places.h, places_names_find: the user's place always
 *     wins); the other stays are grouped into clusters: a stay joins the first unnamed place
 *     whose centre is within the user's stay radius (store_user_settings, tl.stay_radius_m) of
 *     its centre, else starts one. Each place is in the nearest city to its first stay, and a
 *     stay that joins a place is counted in that city (one gazetteer lookup a place). The
 *     SUMMARY_TOP_PLACES with the most time are kept.
 *   - stays, trips, the longest trip and the months' stay counts: the timeline's segments
 *     (store_timeline_read) that begin in the year, each counted in the month it begins.
 *
 * Thread rules: a struct summary belongs to one thread; the gazetteer may be shared (it is
 * immutable). The names in a summary are borrowed from the gazetteer and live as long as it.
 *
 * Errors: 0 or a negative code: -ENOENT (no such device, or a user without devices), -EINVAL
 * (a year outside SUMMARY_YEAR_MIN..MAX), -ENOMEM, or a store error (store.h).
 */
#ifndef WL_SUMMARY_H
#define WL_SUMMARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gazetteer.h"
#include "places.h"
#include "sink.h"
#include "store.h"
#include "timeline.h"
#include "zone.h"

/* Years a summary may be asked for: owntracks.h accepts tst from 1970 to 2099. */
#define SUMMARY_YEAR_MIN 1970
#define SUMMARY_YEAR_MAX 2099
/* Places in the answer: the top of the list is what people look at. */
#define SUMMARY_TOP_PLACES 10
/* Bounds of the lists while adding. 2,000 stay clusters is five new places a day for a year;
 * GeoNames has 24,000 cities, a year of travel touches a few hundred; 250 countries exist.
 * Stays past a bound still count in the figures but start no new entry (counted in *_dropped). */
#define SUMMARY_PLACES_MAX    2000
#define SUMMARY_CITIES_MAX    2000
#define SUMMARY_COUNTRIES_MAX 300

/* A day-of-year bitmap: a day counts once however many stays or devices show it. */
#define SUMMARY_DAY_WORDS ((366 + 63) / 64)

struct summary_area {
    const char *name; /* cities: the gazetteer's name; countries: NULL */
    char cc[3];
    double lat, lon; /* cities: the city's position */
    uint32_t days;
    uint64_t seen[SUMMARY_DAY_WORDS];
};

struct summary_place {
    /* A place of the user's (id > 0) or a phone's region (id 0), named; or a cluster of
     * stays that neither holds (named false). */
    bool named;
    uint32_t id;
    bool region;
    char name[STORE_PLACE_NAME_MAX + 1];
    double lat, lon;             /* time-weighted mean of its stays' centres */
    double weight;               /* seconds behind lat, lon */
    const char *city;            /* nearest city of its first stay (NULL: none near) */
    struct gazetteer_city where; /* that city (when city is not NULL) */
    char cc[3];                  /* its country ("" if none) */
    uint32_t visits, days;       /* stays, and days with one */
    int64_t seconds;             /* time in its stays, within the year's days */
    uint64_t seen[SUMMARY_DAY_WORDS];
};

struct summary_month {
    double distance_m;
    uint32_t days, points, stays, trips;
    int64_t moving_s;
};

struct summary {
    int year;
    uint32_t first_date; /* yyyy0101 */
    double place_radius_m;
    double distance_m;
    uint64_t points;
    uint32_t days, stays, trips;
    int64_t moving_s;
    uint64_t seen[SUMMARY_DAY_WORDS]; /* days with a point */
    struct summary_month month[12];
    struct summary_area *countries, *cities;
    size_t ncountries, ncities, countries_dropped, cities_dropped;
    struct summary_place *places;
    size_t nplaces, places_dropped;
    bool have_longest;
    struct tl_segment longest; /* the longest trip by distance */
    bool have_device;          /* for one device only */
    /* The user's places and the phones' regions that name stays (NULL: none; borrowed). */
    const struct places_names *names;
};

/* An empty summary of year (the caller checks the range) whose places group stays within
 * place_radius_m. Free with summary_free (also after an error). */
void summary_init(struct summary *s, int year, double place_radius_m);
void summary_free(struct summary *s);

/* Adds one day's figures (a date of s's year; others are ignored) and places its stays with
 * gz (NULL: no countries or cities) and s->names (NULL: places unnamed). 0 or -ENOMEM. */
int summary_add_day(struct summary *s, const struct store_day *d, const struct gazetteer *gz);
/* Adds one stay of a day: its centre, its seconds within that day, its city (NULL: none
 * near), and the place that holds it (NULL: none; it joins a cluster). Used by
 * summary_add_day; 0 or -ENOMEM. */
int summary_add_stay(struct summary *s, uint32_t date, double lat, double lon, int64_t seconds,
                     const struct gazetteer_city *city, const struct places_name *place);
/* Adds one closed segment that began at local date `date` (ignored if not in the year). */
void summary_add_segment(struct summary *s, uint32_t date, const struct tl_segment *seg);
/* Sorts the lists (countries and cities by days, then name; places by time) and keeps the top
 * SUMMARY_TOP_PLACES places. Nothing may be added after. */
void summary_finish(struct summary *s);

/* Reads the year of the user's devices (device NULL: all) in zone z from the store into s
 * (initialised by the caller), with the user's places and regions, and finishes it. */
int summary_read(struct store *st, const char *user, const char *device, struct zone *z,
                 const struct gazetteer *gz, struct summary *s);

/* A year given as text ("2025"): 0 or -EINVAL. */
int summary_parse_year(const char *text, int *year);

/* The summary as the JSON of /api/0/summary (api/openapi.yaml, Summary); times local to z. */
void summary_json(struct sink *out, const struct summary *s, const char *user, const char *device,
                  const struct zone *z, const struct gazetteer *gz);
/* The summary for people, lines ending with '\n'. */
void summary_text(struct sink *out, const struct summary *s, const char *user, const char *device,
                  const struct zone *z, const struct gazetteer *gz);

#endif
