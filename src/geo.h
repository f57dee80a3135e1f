/*
 * geo.h - the geometry of tracks: distances on the Earth, the length of a path of fixes, and
 * the thinning that keeps a track's shape in fewer points.
 *
 * Pure functions on plain values: no store, no I/O, no global state; the only allocation is
 * the thinning's own (geo_thin_init). Any thread may call them; a struct geo_path or
 * geo_thin belongs to one thread at a time.
 *
 * Positions are degrees (lat, lon), distances metres. Input is not trusted to be sensible:
 * a latitude or longitude that is not finite (NaN, infinity) makes a fix without a usable
 * position, and every bound below holds whatever the numbers and counts the caller hands in.
 */
#ifndef WL_GEO_H
#define WL_GEO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Mean Earth radius (IUGG), metres: a sphere is within 0.5 % of the ellipsoid everywhere. */
#define GEO_EARTH_RADIUS_M 6371008.8

/* One position report, as the geometry sees it. */
struct geo_fix {
    int64_t tst;     /* epoch seconds */
    double lat, lon; /* degrees; not finite: no usable position */
    double acc;      /* accuracy radius in metres; NaN: unknown */
};

/*
 * Great-circle distance in metres between two positions (haversine on a sphere of
 * GEO_EARTH_RADIUS_M). Symmetric, >= 0 and at most half the circumference (antipodes); NaN
 * if a coordinate is not finite, or too large to turn into radians (beyond DBL_MAX / pi,
 * about 5.7e307).
 */
double geo_distance_m(double lat1, double lon1, double lat2, double lon2);

/*
 * The length of a path, fix by fix in time order: the sum of the distances between
 * consecutive fixes that count. A fix counts when it has a usable position and its accuracy
 * is not worse than max_acc (unknown accuracy counts): a fix 500 m off would add a kilometre
 * of travel that never happened. Start with a zeroed struct (or GEO_PATH_INIT).
 */
struct geo_path {
    double metres;   /* so far */
    double lat, lon; /* the last fix that counted */
    double cos_lat;  /* and the cosine of its latitude, for the next leg */
    bool have_last;
};
#define GEO_PATH_INIT ((struct geo_path){0})

void geo_path_add(struct geo_path *p, const struct geo_fix *f, double max_acc);

/*
 * Where the thinning draws: longitude scaled by the cosine of the latitude, so that a degree
 * east is about as long as a degree north (enough for choosing points to draw, not for
 * measuring).
 */
void geo_plane_xy(double lat, double lon, double *x, double *y);

/*
 * Largest-Triangle-Three-Buckets thinning: of n points keep at most `max`, the first and the
 * last and, in each of max - 2 equal runs (buckets) of the points between them, the one whose
 * triangle with the point kept before it and the mean of the next bucket is largest.
 *
 * Memory is O(max) whatever n: the points are not held but handed in over as many passes as
 * it takes, each in time order, each of which may see other points than the one before (the
 * store changes between passes, see query.h). The count of the first pass only sizes the
 * buckets; nothing the later passes bring (more points, fewer, others, the same tst twice,
 * tsts out of order, positions that are not finite) writes outside what geo_thin_init
 * allocated, and what is kept is always at most `max` tsts, strictly ascending, each one
 * handed in by the pass that chose it.
 *
 *   geo_thin_init(t, max)
 *   pass 1, every point: geo_thin_count(t, tst)
 *   if geo_thin_needed(t):
 *       geo_thin_begin_averages(t), pass 2, every point: geo_thin_average(t, lat, lon)
 *       geo_thin_begin_choice(t),   pass 3, every point: geo_thin_choose(t, tst, lat, lon)
 *   geo_thin_take(t, &keep, &nkeep): the tsts to keep, ascending, nkeep <= max; without
 *       thinning, those pass 1 saw
 *   geo_thin_free(t)
 *
 * When pass 3 hands in strictly ascending tsts, its first and last points are kept. Calls
 * out of this order are a caller's bug (not detected). tsts are the store's (seconds since
 * the epoch as uint32_t), so that a kept point costs 4 bytes.
 */
struct geo_thin {
    uint32_t max;          /* points to keep at most: the capacity of sel */
    uint64_t counted;      /* points pass 1 saw: they size the buckets */
    uint32_t counted_last; /* the tst of the last of them */
    uint64_t nb;           /* buckets between the first and the last point: max - 2 */
    double (*avg)[3];      /* nb + 1 (the last for the last point): sum x, sum y, n; then means */
    uint32_t *sel;         /* what is kept, ascending: pass 1's points, then the choice */
    size_t nsel;
    uint64_t k, b; /* the next point's index in this pass, and the bucket being filled */
    bool choosing; /* pass 3 has begun */
    /* Choice: the last point kept, the best candidate of bucket b (best < 0: none yet) and
     * the point held back because it may turn out to be the last one. */
    double px, py, best, best_x, best_y;
    uint32_t best_tst;
    bool held, held_xy;
    uint32_t held_tst;
    double held_x, held_y;
};

/* The fewest points thinning can keep: the two ends and one bucket between them. */
#define GEO_THIN_MIN_MAX 3

/* Returns 0, -EINVAL (max < GEO_THIN_MIN_MAX) or -ENOMEM. On error *t needs no
 * geo_thin_free (it may be called). */
int geo_thin_init(struct geo_thin *t, uint32_t max);
void geo_thin_count(struct geo_thin *t, uint32_t tst);
/* Pass 1 counted more points than max: passes 2 and 3 are needed. */
bool geo_thin_needed(const struct geo_thin *t);
/* Returns 0 or -ENOMEM (then geo_thin_free). */
int geo_thin_begin_averages(struct geo_thin *t);
/* A point without a usable position (lat or lon not finite) still counts as a point. */
void geo_thin_average(struct geo_thin *t, double lat, double lon);
void geo_thin_begin_choice(struct geo_thin *t);
void geo_thin_choose(struct geo_thin *t, uint32_t tst, double lat, double lon);
/* Hands over the kept tsts: *keep is the caller's to free (NULL when *nkeep is 0). */
void geo_thin_take(struct geo_thin *t, uint32_t **keep, size_t *nkeep);
void geo_thin_free(struct geo_thin *t);

#endif
