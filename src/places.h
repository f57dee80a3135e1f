/*
 * places.h - a user's places as the timeline sees them: which place a stay belongs to, the
 * visits to each place, suggestions for stays that recur where the user has no place yet, and
 * the regions (geofences) that the phones publish as OwnTracks waypoints. The API and the CLI
 * share it, as they share query.h.
 *
 * Visits are worked out when they are read, from the stays that the store keeps
 * (store_timeline_read), not kept at ingest: a place added, moved or merged then holds its
 * past stays at once, with nothing to recompute, and a year of one device's stays (a few
 * thousand) is read and attached in a few milliseconds (tests/bench/bench_places_user.c
 * prints the figure).
 *
 * A stay belongs to the user's place whose circle holds its centre, the nearest centre when
 * several do; where none does, to the phone's region that holds it (a user's own place always
 * wins). One stay is one visit.
 *
 * Times are epoch seconds, each with an ISO 8601 twin local to the user's zone (their timeline
 * setting) and its offset; answers name the zone. Reads are several store reads, not one
 * snapshot (store.h). No state: any thread.
 * Errors: 0, -ENOMEM, or a store error; others where a function says so.
 */
#ifndef WL_PLACES_H
#define WL_PLACES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sink.h"
#include "store.h"

/* Stays read for one answer, at most: ten years of a busy phone's stays (ten a day), so an
 * answer's memory (about 5 MB) is bounded whatever the store holds. Beyond it the oldest are
 * left out (of the devices read first: an answer over that much is approximate anyway). */
#define PLACES_STAYS_MAX 40000
/* Regions read from the phones, at most: the apps keep tens. */
#define PLACES_REGIONS_MAX 1000
/* A suggestion: at least this many stays, on at least this many local days, within the
 * user's stay radius of each other, and held by no place or region. */
#define PLACES_SUGGEST_STAYS 3
#define PLACES_SUGGEST_DAYS  2
#define PLACES_SUGGEST_MAX   100 /* the most visited first */

/* A stay of one of the user's devices. */
struct places_stay {
    char device[OWNTRACKS_NAME_MAX + 1];
    int64_t start, end;
    double lat, lon, radius_m;
    bool open; /* not over yet (the device is still there) */
};

/* A region a phone published (a `waypoint`, or one of its `waypoints`). */
struct places_region {
    char device[OWNTRACKS_NAME_MAX + 1];
    int64_t tst; /* its identity on the phone (the creation time) */
    char desc[STORE_PLACE_NAME_MAX + 1];
    double lat, lon, radius_m;
};

/* The index in places[0..n) of the place whose circle holds (lat, lon), the nearest centre
 * when several do; -1 when none does. */
long places_find(const struct store_place *places, size_t n, double lat, double lon);
long places_find_region(const struct places_region *regions, size_t n, double lat, double lon);

/*
 * The stays of every device of `user` that overlap [from, to], in time order (ties by
 * device), copied into an array (malloc'd, caller frees *out; at most PLACES_STAYS_MAX, see
 * there). Returns 0 or an error.
 */
int places_stays(struct store *s, const char *user, int64_t from, int64_t to,
                 struct places_stay **out, size_t *n);
/* The geographic regions (with lat, lon and rad > 0) that the devices of `user` published,
 * one per (device, tst), the latest version of each. Malloc'd, caller frees *out. */
int places_regions(struct store *s, const char *user, struct places_region **out, size_t *n);

/*
 * GET /api/0/places: {"places":[...]} for `user`: their own places (id, name, lat, lon,
 * radius_m, private, created, source "user") then the phones' regions (source "owntracks",
 * id null, device, tst), each with visits, total_s, first and last (null when never visited).
 */
int places_list_json(struct store *s, const char *user, struct sink *out);
/* GET /api/0/visits: {"place":{...},"visits":[{device,start,end,duration_s,open}...]} for
 * the stays of `user` that place `id` holds and that overlap [from, to]. -ENOENT when the user
 * has no place with that id. */
int places_visits_json(struct store *s, const char *user, uint32_t id, int64_t from, int64_t to,
                       struct sink *out);
/* GET /api/0/places/suggestions: {"suggestions":[{lat,lon,radius_m,stays,days,total_s,first,
 * last}...]}, most stays first. */
int places_suggestions_json(struct store *s, const char *user, struct sink *out);
/* One place as a JSON object (no visit figures): what POST and PATCH answer. */
void places_place_json(const struct store_place *p, struct sink *out);

/*
 * A user's places and regions read once, for a reader that names many stays (the timeline):
 * places_names_find() gives the place holding a stay's centre (id 0 and source "owntracks" for
 * a region), or NULL. Owned by one thread; free with places_names_free() (NULL harmless).
 */
struct places_names {
    struct store_place *places;
    size_t nplaces;
    struct places_region *regions;
    size_t nregions;
};
struct places_name {
    uint32_t id;               /* 0: a region of a phone */
    const char *name, *source; /* borrowed from the places_names */
};
int places_names_open(struct store *s, const char *user, struct places_names *out);
bool places_names_find(const struct places_names *pn, double lat, double lon,
                       struct places_name *out);
void places_names_free(struct places_names *pn);
/* Writes `"place":{"id":N|null,"name":"...","source":"user"|"owntracks"}` (with no comma). */
void places_name_json(const struct places_name *n, struct sink *out);

/* The OwnTracks transitions (enter and leave events of the phone's regions) of device `id`
 * with from <= tst <= to as a JSON array of {tst, tst_iso (local to z; NULL: UTC), event, desc,
 * lat, lon, acc, wtst, trigger}, in time order; members the phone did not send are left out
 * (event and desc are "" when absent). Returns 0 or a store error. */
struct zone;
int places_transitions_json(struct store *s, uint32_t id, int64_t from, int64_t to,
                            const struct zone *z, struct sink *out);

/* The stay of `user` (on `device`, or any device when NULL) that starts at `start`: 0 and *out
 * set, -ENOENT when there is none. For promoting a stay to a place. */
int places_find_stay(struct store *s, const char *user, const char *device, int64_t start,
                     struct places_stay *out);

#endif
