/*
 * tlread.h - the read side of the timeline (timeline.h; kept by the store, store.h "timeline"):
 * a device's stays, trips and gaps over a range, its per-day figures, and where it was at one
 * instant, written into a sink as JSON, GeoJSON, GPX or a list for people. The HTTP API
 * (api.c) and the command line (cli.c) share it, as they share query.h for tracks.
 *
 * Times shown to people are local to the user's zone (store_user_settings(...).zone, zone.h),
 * with their offset ("2024-05-03T08:02:00+02:00"); epoch seconds are given beside them.
 *
 * A timeline or a list of days is streamed like a track (query.h): tlread_fill() writes up to
 * what the caller wants, reading the store in windows of TLREAD_BATCH segments or days and
 * resuming after the last one it took, and holds no read transaction between two calls; so a
 * range of ten years costs the struct, never the range. The store changes between windows
 * (store.h, "Snapshots"): each segment is written once, in time order, as the window that read
 * it saw it.
 *
 * Thread rules: a struct tlread belongs to one thread at a time. The other functions keep no
 * state: any thread.
 *
 * Errors: 0 or a negative code; "a store error" is any error store.h lists. On an error what
 * was written is a partial document. Write errors of the sink stay in its err (sink.h).
 */
#ifndef WL_TLREAD_H
#define WL_TLREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "places.h"
#include "request.h"
#include "sink.h"
#include "store.h"
#include "timeline.h"
#include "zone.h"

/* Segments or days read from the store per window: a window's read transaction stays short
 * and the copies cost a few tens of kilobytes at most. */
#define TLREAD_BATCH 64
/* Derived events read from the store per window (JSON and text timelines): an event copy holds
 * up to STORE_EVENT_FIELDS_MAX bytes of fields, so a window costs about 15 kB. */
#define TLREAD_EVENT_BATCH 16

enum tlread_format { TLREAD_JSON, TLREAD_GEOJSON, TLREAD_GPX, TLREAD_TEXT };
enum tlread_group { TLREAD_DAY, TLREAD_MONTH, TLREAD_YEAR };

/* "2024-05-03T08:02:00+02:00": the local time and its offset, and room for its NUL. */
#define TLREAD_ISO_SIZE 26

/* Writes instant t as local time with the given offset (seconds east of UTC). */
void tlread_iso(int64_t t, int32_t offset, char buf[TLREAD_ISO_SIZE]);

/* One segment as the JSON object of /api/0/timeline (its members: api/openapi.yaml,
 * TimelineSegment); times local to z. Numbers that are not finite are written as null. */
void tlread_segment_json(struct sink *out, const struct tl_segment *seg, bool open,
                         const struct zone *z);
/* The same, with `"place":{"id","name","source"}` for a stay that one of the user's places (or
 * a region of their phone) holds (places.h); place NULL: none. */
void tlread_segment_json_at(struct sink *out, const struct tl_segment *seg, bool open,
                            const struct zone *z, const struct places_name *place);
/* One segment as a line for people, local to z, ending with '\n':
 *   "08:02-08:41  walk   2.3 km  39 min"
 *   "08:41-17:10  stay   8 h 29 min  48.8584, 2.2945"
 * (the dash is an en dash; "(+1)" after an end on a later day; "open" for an open one). */
void tlread_segment_text(struct sink *out, const struct tl_segment *seg, bool open,
                         const struct zone *z);
/* The same, a stay named by its place (NULL: none): "08:41-17:10  stay   8 h 29 min  Work
 * (48.8584, 2.2945)". */
void tlread_segment_text_at(struct sink *out, const struct tl_segment *seg, bool open,
                            const struct zone *z, const char *place);
/* A live event: {"_type":"timeline","user","device","event":"opened"|"closed","segment":{..}}. */
void tlread_event_json(struct sink *out, const char *user, const char *device, enum tl_event ev,
                       const struct tl_segment *seg, const struct zone *z);

/* A duration for people: "39 min", "8 h 29 min", "2 d 3 h" (seconds under a minute: "0 min").
 * Returns buf. */
const char *tlread_duration_text(int64_t seconds, char *buf, size_t size);

/* The position at t on the line from (lat0, lon0) at t0 to (lat1, lon1) at t1, linear in time
 * and in degrees, the short way round the antimeridian (t0 <= t <= t1; t0 == t1 gives the
 * first). */
void tlread_interpolate(int64_t t0, double lat0, double lon0, int64_t t1, double lat1, double lon1,
                        int64_t t, double *lat, double *lon);

/* "day", "month" or "year" (NULL or "": day). 0, or -EINVAL with err filled in for the
 * parameter "group" (REQUEST_BAD). */
int tlread_parse_group(const char *text, enum tlread_group *out, struct request_error *err);

/* The format of a timeline by name: "json", "geojson", "gpx", and "text" where text_ok. NULL
 * or "": json. 0, or -EINVAL with err filled in (parameter "format"). */
int tlread_parse_format(const char *text, bool text_ok, enum tlread_format *out,
                        struct request_error *err);

/*
 * A range end given by the user, read in zone z: a plain date ("2024-05-03") or month
 * ("2024-05") names local days, so `from` is where the first of them begins and `to` the last
 * moment of the last; any other text (request.h's times) already names an instant and gives
 * it unchanged in *t (what request_parse() made of it, passed in). text NULL or "": *t
 * unchanged. Returns 0, or -EINVAL (err filled in) for a date the zone cannot place.
 */
int tlread_local_bound(const char *text, const char *param, bool end, const struct zone *z,
                       int64_t *t, struct request_error *err);

/* An instant given by the user (request.h's times; a plain date is the start of that day in z),
 * for `param` ("t", "--time"): 0, or -EINVAL (err filled in) for text that is not a time or an
 * instant outside WTIME_MIN..WTIME_MAX. */
int tlread_at_time(const char *text, const char *param, const struct zone *z, int64_t *t,
                   struct request_error *err);

/* The user's time zone (their own setting, or the store's default): 0, a store error, or
 * -EINVAL for a zone name the system does not know (logged). Caller unrefs *z. */
int tlread_user_zone(struct store *s, const char *user, struct zone **z);

struct tlread;

/* What to stream. Strings are copied. */
struct tlread_request {
    const char *user, *device;
    int64_t from, to;          /* timeline: the segments that overlap [from, to] */
    enum tlread_format format; /* timeline: any; days: JSON only */
    uint32_t max_points;       /* GeoJSON and GPX: thin each trip's points to this many (0: all) */
    enum tlread_group group;   /* days */
    int64_t now; /* timeline: the time of reading, for the open segments (store_timeline_read) */
};

/*
 * A JSON timeline names each stay's place (tlread_segment_json_at; the user's places read once,
 * when it opens) and ends with the device's OwnTracks transitions in the range
 * ("transitions", places_transitions_json), so the phone's own enter and leave events show
 * beside the stays, and then with the derived events (store.h, "events") of the device whose
 * tst lies in [from, to] ("events"), in time order, each event.h's object with "tst_iso", its
 * time local to the zone; they are read in windows of TLREAD_EVENT_BATCH as the segments are,
 * so their number costs no memory. The list for people (TLREAD_TEXT) puts each of those
 * events on a line of its own between the segments, before the first segment that starts
 * after it ("08:41        event  place_entered  Home"), and names the key fields of its kind
 * (place, battery level, silence, transition, a trip's mode and distance, a duration). GeoJSON
 * features name the place in their properties; GeoJSON and GPX carry no events.
 *
 * Starts streaming the timeline (or, with tlread_days_open, the day figures of the local days
 * from the day of rq->from to the day of rq->to) of a device into out: the document's head is
 * written at once. The zone is taken (a reference), the device looked up once. Returns 0,
 * -ENOENT (no such device: nothing written), -ENOMEM or a store error. Close with tlread_close.
 */
int tlread_timeline_open(struct store *s, const struct tlread_request *rq, struct zone *z,
                         struct sink *out, struct tlread **t);
int tlread_days_open(struct store *s, const struct tlread_request *rq, struct zone *z,
                     struct sink *out, struct tlread **t);
/* Writes into out until it holds at least want bytes or the document ends. `out` may be another
 * sink than the one given at open. Returns 1 if there is more, 0 when done (from then on), or a
 * store error or out's write error. */
int tlread_fill(struct tlread *t, struct sink *out, size_t want);
/* NULL harmless. */
void tlread_close(struct tlread *t);

/*
 * Where a device was at instant `at` (WTIME_MIN..WTIME_MAX; the caller checks), as the JSON of
 * /api/0/at (api/openapi.yaml, At): the fixes before and after it, the position between them
 * (none across a gap or outside the data), and the segment that covers it (after the last
 * fix, as the timeline stood at `at`, or now if that is earlier). Returns 0, -ENOENT
 * (no such device: nothing written), -ENOMEM or a store error.
 */
int tlread_at_json(struct store *s, const char *user, const char *device, int64_t at,
                   const struct zone *z, struct sink *out);

#endif
