/*
 * timeline.h - stays, trips and gaps: the detector that turns a device's fixes, in time order,
 * into the segments of its timeline.
 *
 * A stay is where consecutive usable fixes remain within a radius of their centre for at least
 * a minimum time (the stay-point family: Li et al. 2008, "Mining user similarity based on
 * location history"; Kang et al. 2004, "Extracting places from traces of locations"). A trip is
 * the movement between two stays. A gap is a silence long enough, and between places far enough
 * apart, that neither a stay nor a trip can be claimed. Segments tile time: each starts where
 * the one before it ends.
 *
 * Pure computation, like geo: no store, no I/O, no allocation, no global state. The whole state
 * of a detector is one plain struct with no pointers (struct tl_detector), so the store can keep
 * it as bytes beside the points and resume from it later (after the last fix, or at a checkpoint
 * to replay from when a late point arrives): feeding the same fixes from the same state always
 * gives the same segments. A detector belongs to one thread at a time.
 *
 * Input is not trusted: a fix with no usable position (lat or lon not finite, or beyond 90 and
 * 180 degrees), an accuracy that is unknown (NaN), zero, negative (all three taken as unknown)
 * or huge, a tst that does not advance, settings that tl_settings_check refuses (each such
 * member is taken as its default): each is handled as said below and never breaks a bound or
 * the tiling. Every fix taken counts in exactly one segment's points.
 */
#ifndef WL_TIMELINE_H
#define WL_TIMELINE_H

#include <stdbool.h>
#include <stdint.h>

#include "geo.h"

/* How stays are found; per user (store.h keeps a user's own, config.h the defaults). */
struct tl_settings {
    double stay_radius_m; /* fixes within this of the stay's centre belong to it */
    int64_t stay_min_s;   /* the least time at one place that makes a stay */
    double max_acc_m;     /* a fix less accurate than this neither places a stay nor measures
                             a trip (it still counts as a point) */
    int64_t gap_s; /* a silence longer than this, between places farther apart than the radius,
                      is a gap, unless the device can have made that way in the last half hour
                      of it (at the speed its next fixes show): then it stayed, and left
                      shortly before (significant-changes mode) */
    int64_t stay_silence_max_s; /* a silence that begins and ends at one place is part of the
                                   stay up to this long; longer, it is a gap */
};

/* trackintel's 100 m / 5 min (Reitti and GeoPulse use 50-100 m and 5-7 min; Traccar 200 m
 * and 3 min). */
#define TL_STAY_RADIUS_DEFAULT 100.0
#define TL_STAY_MIN_DEFAULT    300
#define TL_MAX_ACC_DEFAULT     200.0
#define TL_GAP_DEFAULT         3600
#define TL_STAY_SILENCE_MAX    (3 * 86400)

/* Sets s to the defaults above. */
void tl_settings_default(struct tl_settings *s);
/* 0 or -EINVAL with *why set to a static sentence (radius not in 5..5000 m, min stay not in
 * 30 s..1 day, max_acc not in 10..100000 m, gap not in 60 s..7 days, silence not in gap..60
 * days). */
int tl_settings_check(const struct tl_settings *s, const char **why);

enum tl_kind { TL_STAY = 1, TL_TRIP = 2, TL_GAP = 3 };

/* The travel-mode guess of a trip, from its speeds. */
enum tl_mode {
    TL_MODE_UNKNOWN = 0, /* not a trip, or too few usable fixes to tell */
    TL_MODE_STILL,       /* barely moved */
    TL_MODE_WALKING,
    TL_MODE_CYCLING,
    TL_MODE_DRIVING,
    TL_MODE_FAST, /* train- or plane-like */
};

/* Names for the API and the CLI: "stay", "trip", "gap"; "unknown", "still", "walking",
 * "cycling", "driving", "fast". Never NULL ("?" for a value out of range). */
const char *tl_kind_name(int kind);
const char *tl_mode_name(int mode);

/* One segment of a timeline. Times are epoch seconds; start <= end. */
struct tl_segment {
    uint8_t kind; /* enum tl_kind */
    uint8_t mode; /* enum tl_mode; trips only */
    int64_t start, end;
    uint32_t points; /* fixes in [start, end] that the detector was fed, usable or not */
    /* Stay: its centre (accuracy-weighted mean of its usable fixes), the radius that holds
     * most of them (at most the setting), and the median accuracy of its fixes (NaN when none
     * said). Trip: where it began and ended (the stays' centres when it joins two). Gap: the
     * last position before and the first after. */
    double lat, lon, radius_m, acc_m;
    double end_lat, end_lon;
    /* Trips: distance along the usable fixes (metres), time spent moving, and the top speed
     * (m/s) that several fixes agree on (not one jump of a bad fix). 0 for stays and gaps. */
    double distance_m;
    int64_t moving_s;
    double top_speed_ms;
};

/* Bounds of the detector's buffers: why they are enough is in timeline.c. */
#define TL_PENDING_MAX 8

/* The detector's whole state: plain data, no pointers (see above). Only timeline.c reads the
 * members; tl_init makes a fresh one. */
struct tl_detector {
    uint32_t version; /* TL_DETECTOR_VERSION: a stored state of another version is not resumed */
    int64_t last_tst; /* the newest fix fed (0: none yet) */
    /* The rest is timeline.c's. The open segment (a trip, or a stay: phase) starts at
     * seg_start; seg_points are its fixes not held by the place or pending. ok_*: the last fix
     * the speed check believed; prev_good_*: the trip's last good fix. */
    uint8_t phase;
    bool have_place, have_accepted, rejected_last, have_anchor, a_estimated, have_prev_good;
    int64_t seg_start;
    uint32_t seg_points;
    int64_t prev_good_tst, ok_tst;
    double prev_good_lat, prev_good_lon, ok_lat, ok_lon, ok_acc;
    /* the trip: start, distance, top speed, moving time, the last legs' speeds, the anchor
     * (a_*) its next leg starts from, metres per speed bin */
    double t_lat, t_lon, t_dist, t_top, t_moving, t_speeds[3], a_lat, a_lon, a_acc;
    int64_t a_tst;
    uint32_t t_nspeed, t_speed_m[24];
    /* the place, a candidate stay while in a trip or the stay: its first fix (o_*), sums for
     * its centre (weighted: sw*, l_* the newest fix's part) and radius (s*), its fixes' times,
     * the fixes since the last one near the centre (after_near, an_*: the way out), what the
     * trip was when it began (c_trip_*, c_pv_*: for the arrival) */
    double o_lat, o_lon, o_cos, o_acc, sx, sy, sxx, syy, sw, swx, swy, l_w, l_x, l_y, c_inv_acc2,
        c_lat, c_lon;
    int64_t c_first, c_last, c_last_any, c_before, c_near_last, c_after_near;
    uint32_t c_n, c_points, c_points_after_near, c_acc_said, c_acc_n[32];
    double c_pv_lat, c_pv_lon, c_v, c_trip_dist, c_trip_a_lat, c_trip_a_lon, c_trip_moving;
    double c_trip_top, c_near_lat, c_near_lon, c_an_lat, c_an_lon, c_an_acc, c_an_path;
    uint32_t c_trip_speed_m[24];
    int64_t c_pv_tst;
    bool c_have_pv;
    /* good fixes outside the place not yet judged (an outlier or a departure) */
    struct tl_pending_fix {
        struct geo_fix fix;
        int64_t before;                    /* the fix fed just before it */
        uint32_t others;                   /* unusable fixes fed after it */
        int64_t others_first, others_last; /* and their tsts */
    } pending[TL_PENDING_MAX];
    uint32_t npending;
};

#define TL_DETECTOR_VERSION 1

/* What the detector reports as it goes. */
enum tl_event {
    TL_OPENED, /* a stay or trip is now certain but not over: seg->end is the latest fix */
    TL_CLOSED, /* a segment is final: it will never change unless older fixes are fed again
                  (from an earlier state) */
};

typedef void (*tl_emit_fn)(void *arg, enum tl_event ev, const struct tl_segment *seg);

/* A fresh detector that has seen nothing. */
void tl_init(struct tl_detector *d);

/*
 * Feeds one fix. Fixes must come in strictly ascending tst; a fix whose tst is not after
 * d->last_tst is ignored (returns false). Calls emit (may be NULL) for each segment that opens
 * or closes because of this fix, in time order, before returning: closed segments tile time,
 * so each TL_CLOSED segment starts where the previous TL_CLOSED one ended. Returns true when
 * the fix was taken.
 */
bool tl_feed(struct tl_detector *d, const struct tl_settings *s, const struct geo_fix *f,
             tl_emit_fn emit, void *arg);

/*
 * The segments not yet closed, as they stand after the last fix (d is not changed): the open
 * stay or trip and, if the fixes after it are still undecided, what they look like. Calls emit
 * with TL_OPENED for each, in time order, continuing the tiling of the closed ones. Nothing
 * when no fix was fed.
 */
void tl_pending(const struct tl_detector *d, const struct tl_settings *s, tl_emit_fn emit,
                void *arg);

/*
 * tl_pending as the timeline stands at `now` (epoch seconds; the time it is read, at or after
 * the last fix), for sparse data, where the last fix may be hours old: the silence since the
 * last fix began where that fix was, so, as tl_feed would judge a next fix there at `now`, it
 * is part of the stay there up to stay_silence_max_s (the open stay then ends at `now`), and
 * a candidate stay or a fix outside the stay becomes a stay of its own if the silence is long
 * enough. `now` at or before d->last_tst is tl_pending. d is not changed.
 */
void tl_pending_at(const struct tl_detector *d, const struct tl_settings *s, int64_t now,
                   tl_emit_fn emit, void *arg);

/* True if d was made by this build's detector (version and size match): only then may a
 * stored state be resumed. */
bool tl_detector_valid(const void *bytes, size_t len);

#endif
