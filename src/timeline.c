/*
 * timeline.c - the stay/trip/gap detector (contract in timeline.h).
 *
 * The method is the stay-point family (Li et al. 2008; Kang et al. 2004: a place is where
 * consecutive fixes stay within a radius for a minimum time; trackintel's
 * generate_staypoints is the same idea in batch form), made incremental and bounded, with
 * what real phones need on top. Written for this project; the ideas are the papers'.
 *
 *  - A *place* is either a candidate stay (while in a trip) or the confirmed stay. Its centre
 *    is the mean of its fixes in a local plane around its first fix (so it works across the
 *    antimeridian), weighted by accuracy and by the time each fix stands for (place_centre).
 *    A candidate also holds its fixes near its first one (Li et al.'s anchor: the mean of a
 *    walk follows the walker). It becomes a stay once its fixes span stay_min_s.
 *  - Inside or outside is judged with the radius plus twice the accuracy of the fix and of
 *    the centre; a fix too vague to tell (accuracy worse than the radius) never leaves.
 *  - A good fix outside the place is not believed at once: it waits in `pending`. If a later
 *    fix comes back inside soon, the pending ones were outliers (a fix km away and back,
 *    indoor jitter) and join the place as mere points; a fix thrown far whose successor is
 *    back near the place is a spike (is_spike). DEPART_FIXES good fixes outside in a row are
 *    a departure (Kang et al.'s "pending" list, bounded).
 *  - Silence inside a stay is part of it (up to stay_silence_max_s): in the app's
 *    "significant changes" mode a stay may be one fix and hours of nothing, and a fix outside
 *    followed by a stay's length of silence and a return is a visit there. For the same
 *    reason the end of a place is not its last fix but an estimate: the device left at
 *    (first fix outside) - (its distance from the centre) / (the speed the next fixes show),
 *    not before the last fix near the centre. So a single fix at a place followed, hours
 *    later, by the fixes of a departure is a stay of those hours (if clearly longer than a
 *    slow stretch of a trip: SILENT_STAY_FACTOR). The arrival is estimated the same way
 *    from the last fix of the trip before it. tl_pending_at judges the silence after the
 *    last fix as of the time the timeline is read.
 *  - Each boundary lies between two consecutive fed fixes (or on one), and each fix is
 *    counted in exactly one segment: the points of all segments add up to the fixes taken.
 *  - A fix that is not usable (no position), less accurate than max_acc, or that implies an
 *    impossible speed from the fix before it (V_MAX_MS: one such fix is dropped; two in a row
 *    are believed, so a wrong fix that got in cannot lock out the truth) only counts as a
 *    point.
 *  - Trip distance adds a leg only once the device moved farther than the fixes' accuracy
 *    (STEP_MIN_M or the summed accuracies): at a standstill or walking slowly, jitter would
 *    otherwise add metres that were never travelled. The top speed is one three legs in a
 *    row agree on; the mode comes from the distance-weighted speeds (trip_mode).
 *
 * Work per fix is O(1): a few distances, and on a departure a replay of at most
 * TL_PENDING_MAX pending fixes. Nothing is allocated. The measured quality (stay F1, arrival
 * and departure errors, trip distance) is printed by tests/bench/bench_timeline.py.
 */
#include "timeline.h"

#include <errno.h>
#include <math.h>
#include <string.h>

enum { PHASE_NONE = 0, PHASE_TRIP, PHASE_STAY };

#define M_PER_DEG (GEO_EARTH_RADIUS_M * M_PI / 180)

/* The fastest believable ground speed between two fixes: a high-speed train (83 m/s) with
 * some room. A plane's fixes are minutes to hours apart, so a flight still passes after one
 * dropped fix (see the speed check). */
#define V_MAX_MS 90.0
/* Below this a leg is not movement: GPS drift at a standstill is 0.1-0.3 m/s; the slowest
 * walk is about 0.8 m/s. */
#define MOVING_MS 0.5
/* The speed assumed when the fixes do not show one (a departure seen by one fix, an arrival
 * after a silence): walking, the slowest way to cover a short distance. */
#define WALK_MS 1.4
/* An accuracy that is not said (NaN, 0, negative): what a phone's GPS typically reports
 * outdoors. And the best one believed: no fix weighs more than one of 3 m. */
#define ACC_UNKNOWN_M 20.0
#define ACC_FLOOR_M   3.0
/* A silence longer than gap_s before a departure is a gap when the device, at the speed its
 * next fixes show, needed longer than this to get where it was first seen: a moving phone
 * reports at least every half hour in either of the app's modes (significant changes: after
 * ~500 m, or its 15-30 min timer), so it left at most that long before. Farther, it went
 * somewhere unseen. */
#define SILENT_MOVE_S 1800.0
/* A place's fix after a silence this long: the device was at the place all along, so the
 * fixes before the silence tell nothing of a departure. Longer than any move-mode interval. */
#define QUIET_S 300.0
/* Good fixes outside the place, in a row, that make a departure: one is an outlier until a
 * second agrees. */
#define DEPART_FIXES 2
/* Weighing a place's fixes: accuracy better than the floor tells no more about where a
 * person's place is (they move about in it), and a fix stands for at most the cap of time. */
#define ACC_WEIGHT_FLOOR_M 30.0
#define DWELL_CAP_S        1800.0
/* A stay seen as a fix and a silence must last this many times stay_min_s (see depart). */
#define SILENT_STAY_FACTOR 2.0
/* See is_spike. */
#define SPIKE_RATIO 2.0
/* Trip legs shorter than this (or the two fixes' accuracies added: what two independent
 * errors can make of no movement at all) wait for more movement. */
#define STEP_MIN_M 5.0

/* Speed histogram of a trip: metres travelled per speed bin, bins SPEED_RATIO apart from
 * SPEED_BIN0 (0.5 m/s .. 105 m/s in 24 bins, each within 12 % of its middle). */
#define SPEED_BINS  24
#define SPEED_BIN0  0.5
#define SPEED_RATIO 1.25
/* Accuracy histogram of a place: fixes per bin, from 1 m, 25 % apart (1 m .. 1.2 km). */
#define ACC_BINS  32
#define ACC_RATIO 1.25

/* TL_PENDING_MAX: a departure is decided at DEPART_FIXES pending fixes, so 2 would do; 8
 * leaves room for a stricter rule without changing the stored state. */
_Static_assert(DEPART_FIXES <= TL_PENDING_MAX, "pending holds a departure's fixes");
_Static_assert(sizeof(((struct tl_detector *)0)->t_speed_m) / sizeof(uint32_t) == SPEED_BINS,
               "speed bins");
_Static_assert(sizeof(((struct tl_detector *)0)->c_acc_n) / sizeof(uint32_t) == ACC_BINS,
               "accuracy bins");

/* ---------------------------------------------------------------- settings and names */

void tl_settings_default(struct tl_settings *s)
{
    s->stay_radius_m = TL_STAY_RADIUS_DEFAULT;
    s->stay_min_s = TL_STAY_MIN_DEFAULT;
    s->max_acc_m = TL_MAX_ACC_DEFAULT;
    s->gap_s = TL_GAP_DEFAULT;
    s->stay_silence_max_s = TL_STAY_SILENCE_MAX;
}

int tl_settings_check(const struct tl_settings *s, const char **why)
{
    const char *bad = NULL;
    if (!(s->stay_radius_m >= 5 && s->stay_radius_m <= 5000))
        bad = "the stay radius must be 5 to 5000 m";
    else if (s->stay_min_s < 30 || s->stay_min_s > 86400)
        bad = "the least stay must be 30 s to 1 day";
    else if (!(s->max_acc_m >= 10 && s->max_acc_m <= 100000))
        bad = "the accuracy limit must be 10 to 100000 m";
    else if (s->gap_s < 60 || s->gap_s > 7 * 86400)
        bad = "the gap must be 60 s to 7 days";
    else if (s->stay_silence_max_s < s->gap_s || s->stay_silence_max_s > 60 * 86400)
        bad = "the longest silence in a stay must be from the gap to 60 days";
    if (why)
        *why = bad;
    return bad ? -EINVAL : 0;
}

/* Settings as used: a member that tl_settings_check would refuse is the default, so that no
 * input can make the detector's arithmetic meaningless. */
static struct tl_settings usable_settings(const struct tl_settings *s)
{
    struct tl_settings k;
    tl_settings_default(&k);
    if (!s)
        return k;
    if (s->stay_radius_m >= 5 && s->stay_radius_m <= 5000)
        k.stay_radius_m = s->stay_radius_m;
    if (s->stay_min_s >= 30 && s->stay_min_s <= 86400)
        k.stay_min_s = s->stay_min_s;
    if (s->max_acc_m >= 10 && s->max_acc_m <= 100000)
        k.max_acc_m = s->max_acc_m;
    if (s->gap_s >= 60 && s->gap_s <= 7 * 86400)
        k.gap_s = s->gap_s;
    if (s->stay_silence_max_s >= 60 && s->stay_silence_max_s <= 60 * 86400)
        k.stay_silence_max_s = s->stay_silence_max_s;
    if (k.stay_silence_max_s < k.gap_s)
        k.stay_silence_max_s = k.gap_s;
    return k;
}

const char *tl_kind_name(int kind)
{
    switch (kind) {
    case TL_STAY: return "stay";
    case TL_TRIP: return "trip";
    case TL_GAP: return "gap";
    }
    return "?";
}

const char *tl_mode_name(int mode)
{
    static const char *const names[] = {"unknown", "still",   "walking",
                                        "cycling", "driving", "fast"};
    if (mode < 0 || mode >= (int)(sizeof(names) / sizeof(names[0])))
        return "?";
    return names[mode];
}

/* ---------------------------------------------------------------- small helpers */

/* Elapsed seconds as a double: tsts are any int64, and their difference may not fit one. */
static double secs(int64_t from, int64_t to)
{
    return (double)to - (double)from;
}

/* t rounded down into [lo, hi] (lo <= hi). */
static int64_t clamp_time(double t, int64_t lo, int64_t hi)
{
    if (!(t > (double)lo))
        return lo;
    if (!(t < (double)hi))
        return hi;
    int64_t r = (int64_t)t;
    return r < lo ? lo : r > hi ? hi : r;
}

static bool has_position(const struct geo_fix *f)
{
    return isfinite(f->lat) && isfinite(f->lon) && fabs(f->lat) <= 90 && fabs(f->lon) <= 180;
}

static bool acc_said(double acc)
{
    return isfinite(acc) && acc > 0;
}

/* The accuracy a fix is weighed and judged by. */
static double acc_of(double acc)
{
    if (!acc_said(acc))
        return ACC_UNKNOWN_M;
    return acc < ACC_FLOOR_M ? ACC_FLOOR_M : acc;
}

static double median3(const double *v, uint32_t n)
{
    if (n == 0)
        return 0;
    if (n == 1)
        return v[0];
    if (n == 2)
        return fmin(v[0], v[1]); /* two legs agree on the slower */
    double a = v[0], b = v[1], c = v[2];
    return fmax(fmin(a, b), fmin(fmax(a, b), c));
}

/* How the detector reports: in tl_feed segments close as TL_CLOSED; tl_pending reports what
 * would close as TL_OPENED. */
struct out {
    tl_emit_fn fn;
    void *arg;
    enum tl_event closed_as;
};

static void put(const struct out *o, enum tl_event ev, const struct tl_segment *seg)
{
    if (o->fn)
        o->fn(o->arg, ev, seg);
}

/* ---------------------------------------------------------------- the trip */

static void trip_reset(struct tl_detector *d)
{
    d->t_dist = 0;
    d->t_top = 0;
    d->t_moving = 0;
    d->t_nspeed = 0;
    memset(d->t_speeds, 0, sizeof(d->t_speeds));
    memset(d->t_speed_m, 0, sizeof(d->t_speed_m));
    d->have_anchor = false;
    d->a_estimated = false;
    d->t_lat = d->t_lon = NAN;
}

/* A trip that starts at a stay's centre at time t. */
static void trip_from(struct tl_detector *d, double lat, double lon, int64_t t)
{
    trip_reset(d);
    d->t_lat = d->a_lat = d->prev_good_lat = lat;
    d->t_lon = d->a_lon = d->prev_good_lon = lon;
    d->a_tst = d->prev_good_tst = t;
    d->a_acc = 0;
    d->have_anchor = d->have_prev_good = true;
    d->a_estimated = true;
}

/* A good fix of a trip: the leg from the anchor, once the device moved more than the fixes'
 * accuracy can explain. */
static void trip_leg(struct tl_detector *d, const struct geo_fix *f)
{
    double acc = acc_of(f->acc);
    if (!d->have_anchor) {
        d->a_lat = d->t_lat = f->lat;
        d->a_lon = d->t_lon = f->lon;
        d->a_tst = f->tst;
        d->a_acc = acc;
        d->have_anchor = true;
        return;
    }
    double dd = geo_distance_m(d->a_lat, d->a_lon, f->lat, f->lon);
    if (!(dd >= fmax(STEP_MIN_M, d->a_acc + acc)))
        return;
    double dt = secs(d->a_tst, f->tst);
    double v = dt > 0 ? dd / dt : 0;
    d->t_dist += dd;
    d->a_lat = f->lat;
    d->a_lon = f->lon;
    d->a_tst = f->tst;
    d->a_acc = acc;
    if (d->a_estimated) {
        /* From the stay's centre at the estimated departure: that time is a guess made from
         * the speed of the next fixes, so the leg tells no speed of its own. */
        d->a_estimated = false;
        d->t_moving += dt;
        return;
    }
    if (v >= MOVING_MS) {
        d->t_moving += dt;
        int bin = (int)floor(log(v / SPEED_BIN0) / log(SPEED_RATIO));
        bin = bin < 0 ? 0 : bin >= SPEED_BINS ? SPEED_BINS - 1 : bin;
        double m = d->t_speed_m[bin] + dd;
        d->t_speed_m[bin] = m > 4e9 ? 4000000000u : (uint32_t)m;
    }
    /* The last three legs, in a ring: t_nspeed counts 0, 1, 2, then cycles 3, 4, 5. */
    d->t_speeds[d->t_nspeed % 3] = v;
    d->t_nspeed = d->t_nspeed < 5 ? d->t_nspeed + 1 : 3;
    /* The top speed is one that three legs in a row agree on (their median): one fix thrown
     * far makes two fast legs, never three. */
    double agreed = median3(d->t_speeds, d->t_nspeed < 3 ? d->t_nspeed : 3);
    if (agreed > d->t_top)
        d->t_top = agreed;
}

/* The speed the trip was going at lately, or walking when it does not show one. */
static double trip_recent_speed(const struct tl_detector *d)
{
    double v = median3(d->t_speeds, d->t_nspeed < 3 ? d->t_nspeed : 3);
    return v >= MOVING_MS ? v : WALK_MS;
}

/* The speed at quantile q of the metres travelled (moving legs only); 0 when none. */
static double speed_quantile(const struct tl_detector *d, double q)
{
    double total = 0, run = 0;
    for (int i = 0; i < SPEED_BINS; i++)
        total += d->t_speed_m[i];
    if (total <= 0)
        return 0;
    for (int i = 0; i < SPEED_BINS; i++) {
        run += d->t_speed_m[i];
        if (run >= q * total)
            return SPEED_BIN0 * pow(SPEED_RATIO, i + 0.5);
    }
    return SPEED_BIN0 * pow(SPEED_RATIO, SPEED_BINS - 0.5);
}

/*
 * The travel mode from the speeds the trip moved at, weighted by distance (a walk to the
 * station and a train ride is a train trip). Typical speeds: walking 1-1.8 m/s, cycling
 * 3.5-7 m/s, cars in town 7-14 m/s and 25-36 m/s on a motorway, trains 30-85 m/s.
 *  - walking: the median moving speed is below 2.5 m/s (9 km/h, past a brisk walk);
 *  - cycling: median below 7 m/s (25 km/h) and the fastest tenth below 11 m/s (40 km/h, which
 *    a car in town reaches and a bicycle seldom does);
 *  - driving: the fastest tenth below 45 m/s (162 km/h) and median below 36 m/s (130 km/h);
 *  - fast (train or plane) above those.
 * Still: the trip barely moved (less than the stay radius, or slower than MOVING_MS).
 */
static uint8_t trip_mode(const struct tl_detector *d, double dist, double duration, double radius)
{
    double p50 = speed_quantile(d, 0.5), p90 = speed_quantile(d, 0.9);
    if (p50 <= 0) {
        if (!(duration > 0) || !isfinite(dist))
            return TL_MODE_UNKNOWN;
        p50 = p90 = dist / duration;
    }
    if (dist < radius || p50 < MOVING_MS)
        return TL_MODE_STILL;
    if (p50 < 2.5)
        return TL_MODE_WALKING;
    if (p50 < 7 && p90 < 11)
        return TL_MODE_CYCLING;
    if (p50 < 36 && p90 < 45)
        return TL_MODE_DRIVING;
    return TL_MODE_FAST;
}

static void emit_trip(struct tl_detector *d, const struct tl_settings *s, const struct out *o,
                      enum tl_event ev, int64_t start, int64_t end, uint32_t points, double end_lat,
                      double end_lon, double dist, double moving)
{
    if (end == start && points == 0)
        return;
    struct tl_segment seg = {.kind = TL_TRIP, .start = start, .end = end, .points = points};
    seg.lat = d->t_lat;
    seg.lon = d->t_lon;
    seg.end_lat = end_lat;
    seg.end_lon = end_lon;
    seg.radius_m = 0;
    seg.acc_m = NAN;
    seg.distance_m = isfinite(dist) ? dist : 0;
    seg.moving_s = moving > 0 ? (int64_t)fmin(moving, secs(start, end)) : 0;
    seg.top_speed_ms = isfinite(d->t_top) ? d->t_top : 0;
    seg.mode = trip_mode(d, seg.distance_m, secs(start, end), s->stay_radius_m);
    put(o, ev, &seg);
}

/* ---------------------------------------------------------------- the place */

static void place_xy(const struct tl_detector *d, double lat, double lon, double *x, double *y)
{
    double dlon = lon - d->o_lon;
    if (dlon > 180)
        dlon -= 360;
    else if (dlon < -180)
        dlon += 360;
    *x = dlon * d->o_cos * M_PER_DEG;
    *y = (lat - d->o_lat) * M_PER_DEG;
}

/*
 * The centre: the mean of the place's fixes weighted by accuracy (1/acc^2) and by dwell, the
 * time until the next fix (at most DWELL_CAP_S): where the device spent its time. In sparse
 * data a place is an approach fix and then one at the place followed by hours of silence;
 * the second is where it was. The last fix's dwell is `last_dwell` seconds (1 while it is
 * the newest; up to the departure when the place closes).
 */
static void place_centre(struct tl_detector *d, double last_dwell)
{
    double wl = d->l_w * fmin(fmax(last_dwell, 1), DWELL_CAP_S);
    double sw = d->sw + wl, cx = (d->swx + wl * d->l_x) / sw, cy = (d->swy + wl * d->l_y) / sw;
    double clat = d->o_lat + cy / M_PER_DEG;
    double clon = d->o_lon + cx / (d->o_cos * M_PER_DEG);
    d->c_lat = clat > 90 ? 90 : clat < -90 ? -90 : clat;
    d->c_lon = clon > 180 ? clon - 360 : clon < -180 ? clon + 360 : clon;
}

static void place_add(struct tl_detector *d, const struct tl_settings *s, const struct geo_fix *f,
                      double dist)
{
    double acc = fmax(acc_of(f->acc), ACC_WEIGHT_FLOOR_M), x, y;
    place_xy(d, f->lat, f->lon, &x, &y);
    if (d->c_n > 0) {
        /* The fix before this one has its dwell now: the time until this one. */
        double dwell = fmin(fmax(secs(d->c_last, f->tst), 1), DWELL_CAP_S);
        d->sw += d->l_w * dwell;
        d->swx += d->l_w * dwell * d->l_x;
        d->swy += d->l_w * dwell * d->l_y;
    }
    d->l_w = 1 / (acc * acc);
    d->c_inv_acc2 += 1 / (acc_of(f->acc) * acc_of(f->acc));
    d->l_x = x;
    d->l_y = y;
    d->c_n++;
    d->sx += x;
    d->sy += y;
    d->sxx += x * x;
    d->syy += y * y;
    place_centre(d, 1);
    if (acc_said(f->acc)) {
        int bin = (int)floor(log(f->acc) / log(ACC_RATIO));
        bin = bin < 0 ? 0 : bin >= ACC_BINS ? ACC_BINS - 1 : bin;
        d->c_acc_n[bin]++;
        d->c_acc_said++;
    }
    if (d->c_points > 0 && secs(d->c_last_any, f->tst) > QUIET_S) {
        d->c_near_last = d->c_last_any;
        d->c_points_after_near = 0;
    }
    d->c_points++;
    d->c_last = d->c_last_any = f->tst;
    /* Near the centre, within what the fix's accuracy allows: the device is surely still
     * there (the departure is not before it). */
    if (dist <= 0.3 * s->stay_radius_m + fmin(acc, s->stay_radius_m)) {
        d->c_near_last = f->tst;
        d->c_points_after_near = 0;
        d->c_near_lat = d->c_an_lat = f->lat;
        d->c_near_lon = d->c_an_lon = f->lon;
        d->c_an_acc = acc_of(f->acc);
        d->c_an_path = 0;
    } else {
        if (d->c_points_after_near == 0)
            d->c_after_near = f->tst;
        d->c_points_after_near++;
        /* The way out so far, should these fixes turn out to be the start of a trip: legs
         * as a trip counts them (trip_leg). */
        double acc_f = acc_of(f->acc);
        double leg = geo_distance_m(d->c_an_lat, d->c_an_lon, f->lat, f->lon);
        if (leg >= fmax(STEP_MIN_M, d->c_an_acc + acc_f)) {
            d->c_an_path += leg;
            d->c_an_lat = f->lat;
            d->c_an_lon = f->lon;
            d->c_an_acc = acc_f;
        }
    }
}

/* Fixes that count in the place without placing it: first..last, n of them. */
static void place_others(struct tl_detector *d, uint32_t n, int64_t first, int64_t last)
{
    if (n == 0)
        return;
    if (secs(d->c_last_any, first) > QUIET_S) {
        d->c_near_last = d->c_last_any;
        d->c_points_after_near = 0;
    }
    d->c_points += n;
    d->c_last_any = last;
    if (d->c_points_after_near == 0)
        d->c_after_near = first;
    d->c_points_after_near += n;
}

/* A new candidate at f; `before` is the fix fed just before f. Remembers what the trip was
 * at that moment, to end it there if the candidate becomes a stay. */
static void place_start(struct tl_detector *d, const struct tl_settings *s, const struct geo_fix *f,
                        int64_t before)
{
    d->have_place = true;
    d->c_near_lat = d->c_an_lat = f->lat;
    d->c_near_lon = d->c_an_lon = f->lon;
    d->c_an_acc = acc_of(f->acc);
    d->c_an_path = 0;
    d->o_lat = f->lat;
    d->o_lon = f->lon;
    d->o_cos = fmax(cos(f->lat * M_PI / 180), 1e-6);
    d->o_acc = acc_of(f->acc);
    d->sx = d->sy = d->sxx = d->syy = d->sw = d->swx = d->swy = d->c_inv_acc2 = 0;
    d->c_n = d->c_points = d->c_points_after_near = d->c_acc_said = 0;
    memset(d->c_acc_n, 0, sizeof(d->c_acc_n));
    d->c_first = f->tst;
    d->c_before = before < d->seg_start ? d->seg_start : before;
    d->c_have_pv = d->have_prev_good;
    d->c_pv_lat = d->prev_good_lat;
    d->c_pv_lon = d->prev_good_lon;
    d->c_pv_tst = d->prev_good_tst;
    d->c_v = trip_recent_speed(d);
    d->c_trip_dist = d->t_dist;
    d->c_trip_moving = d->t_moving;
    d->c_trip_top = d->t_top;
    memcpy(d->c_trip_speed_m, d->t_speed_m, sizeof(d->c_trip_speed_m));
    d->c_trip_a_lat = d->have_anchor ? d->a_lat : f->lat;
    d->c_trip_a_lon = d->have_anchor ? d->a_lon : f->lon;
    place_add(d, s, f, 0);
}

static double place_radius(const struct tl_detector *d, const struct tl_settings *s)
{
    if (d->c_n < 2)
        return 0;
    double n = d->c_n, mx = d->sx / n, my = d->sy / n;
    double var = d->sxx / n - mx * mx + d->syy / n - my * my;
    /* 1.5 times the RMS distance holds about 90 % of a 2-D normal scatter. */
    double r = var > 0 ? 1.5 * sqrt(var) : 0;
    return isfinite(r) && r < s->stay_radius_m ? r : s->stay_radius_m;
}

static double place_acc(const struct tl_detector *d)
{
    if (d->c_acc_said == 0)
        return NAN;
    uint32_t run = 0, half = (d->c_acc_said + 1) / 2;
    for (int i = 0; i < ACC_BINS; i++) {
        run += d->c_acc_n[i];
        if (run >= half)
            return pow(ACC_RATIO, i + 0.5);
    }
    return pow(ACC_RATIO, ACC_BINS - 0.5);
}

static void emit_stay(struct tl_detector *d, const struct tl_settings *s, const struct out *o,
                      enum tl_event ev, int64_t start, int64_t end, uint32_t points)
{
    place_centre(d, secs(d->c_last, end));
    struct tl_segment seg = {.kind = TL_STAY, .start = start, .end = end, .points = points};
    seg.lat = seg.end_lat = d->c_lat;
    seg.lon = seg.end_lon = d->c_lon;
    seg.radius_m = place_radius(d, s);
    seg.acc_m = place_acc(d);
    put(o, ev, &seg);
}

static void emit_gap(const struct out *o, int64_t start, int64_t end, double lat, double lon,
                     double end_lat, double end_lon)
{
    struct tl_segment seg = {.kind = TL_GAP, .start = start, .end = end};
    seg.lat = lat;
    seg.lon = lon;
    seg.end_lat = end_lat;
    seg.end_lon = end_lon;
    seg.radius_m = 0;
    seg.acc_m = NAN;
    put(o, o->closed_as, &seg);
}

/* When the device reached the candidate: from the trip's last good fix before it, at the
 * trip's speed; between the fix before the candidate's first and that first fix. */
static int64_t place_arrival(const struct tl_detector *d)
{
    int64_t lo = d->c_before < d->seg_start ? d->seg_start : d->c_before;
    if (lo > d->c_first)
        lo = d->c_first;
    if (!d->c_have_pv) /* nothing usable before it: nothing says it was elsewhere */
        return d->seg_start < d->c_first ? d->seg_start : d->c_first;
    double dd = geo_distance_m(d->c_pv_lat, d->c_pv_lon, d->c_lat, d->c_lon);
    double t = (double)d->c_pv_tst + (isfinite(dd) ? dd : 0) / d->c_v;
    return clamp_time(t, lo, d->c_first);
}

/* ---------------------------------------------------------------- the machine */

static void feed_good(struct tl_detector *d, const struct tl_settings *s, const struct geo_fix *f,
                      int64_t before, const struct out *o);

/* Counts a fix that places nothing (no position, poor accuracy, impossible speed). */
static void count_other(struct tl_detector *d, int64_t tst)
{
    if (d->npending > 0) {
        struct tl_pending_fix *p = &d->pending[d->npending - 1];
        if (p->others == 0)
            p->others_first = tst;
        p->others++;
        p->others_last = tst;
    } else if (d->have_place) {
        place_others(d, 1, tst, tst);
    } else {
        d->seg_points++;
    }
}

/* Feeds the pending fixes again, after what they were pending on was decided. */
static void replay(struct tl_detector *d, const struct tl_settings *s,
                   const struct tl_pending_fix *p, uint32_t n, const struct out *o)
{
    for (uint32_t i = 0; i < n; i++) {
        feed_good(d, s, &p[i].fix, p[i].before, o);
        if (p[i].others == 0)
            continue;
        if (d->npending > 0) {
            struct tl_pending_fix *q = &d->pending[d->npending - 1];
            if (q->others == 0)
                q->others_first = p[i].others_first;
            q->others += p[i].others;
            q->others_last = p[i].others_last;
        } else if (d->have_place) {
            place_others(d, p[i].others, p[i].others_first, p[i].others_last);
        } else {
            d->seg_points += p[i].others;
        }
    }
}

/* A fresh trip (after a gap) beginning at t, with nothing known yet. */
static void start_over(struct tl_detector *d, int64_t t)
{
    d->phase = PHASE_TRIP;
    d->seg_start = t;
    d->seg_points = 0;
    d->have_place = false;
    d->have_prev_good = false;
    trip_reset(d);
}

/* The place's segment (the stay, or the trip holding the candidate) ends at the last fix it
 * holds, and a gap follows up to `until`, where the position is (lat, lon). */
static void close_before_gap(struct tl_detector *d, const struct tl_settings *s,
                             const struct out *o, int64_t until, double lat, double lon)
{
    int64_t end = d->c_last_any;
    if (d->phase == PHASE_STAY)
        emit_stay(d, s, o, o->closed_as, d->seg_start, end, d->c_points);
    else
        emit_trip(d, s, o, o->closed_as, d->seg_start, end, d->seg_points + d->c_points,
                  d->prev_good_lat, d->prev_good_lon, d->t_dist, d->t_moving);
    emit_gap(o, end, until, d->c_lat, d->c_lon, lat, lon);
    start_over(d, until);
}

/* The candidate has lasted long enough: the trip before it ends on arrival, the stay opens. */
static void confirm_stay(struct tl_detector *d, const struct tl_settings *s, const struct out *o,
                         bool report_open)
{
    int64_t arrival = place_arrival(d);
    uint32_t trip_points = d->seg_points;
    /* The trip as it was when the candidate began: what the fixes did since is the stay's
     * jitter, not travel. */
    d->t_top = d->c_trip_top;
    memcpy(d->t_speed_m, d->c_trip_speed_m, sizeof(d->t_speed_m));
    if (arrival > d->seg_start) {
        double to_centre = geo_distance_m(d->c_trip_a_lat, d->c_trip_a_lon, d->c_lat, d->c_lon);
        emit_trip(d, s, o, o->closed_as, d->seg_start, arrival, trip_points, d->c_lat, d->c_lon,
                  d->c_trip_dist + (isfinite(to_centre) ? to_centre : 0), d->c_trip_moving);
    } else {
        d->c_points += trip_points; /* nothing before it but fixes at the same instant */
    }
    d->phase = PHASE_STAY;
    d->seg_start = arrival;
    d->seg_points = 0;
    if (report_open)
        emit_stay(d, s, o, TL_OPENED, arrival, d->c_last_any, d->c_points);
}

/*
 * DEPART_FIXES good fixes (or fewer, for tl_pending) lie outside the place: it is left. A
 * long silence before them that ends far away is a gap; otherwise the departure time is
 * estimated (see the top of the file), the place closes as a stay if it lasted long enough,
 * and the pending fixes are fed again to the trip that follows.
 */
static void depart(struct tl_detector *d, const struct tl_settings *s, const struct out *o)
{
    struct tl_pending_fix p[TL_PENDING_MAX];
    uint32_t n = d->npending;
    memcpy(p, d->pending, n * sizeof(p[0]));
    d->npending = 0;
    const struct geo_fix *first = &p[0].fix;
    double from_centre = geo_distance_m(d->c_lat, d->c_lon, first->lat, first->lon);
    if (!isfinite(from_centre))
        from_centre = 0;

    double v = WALK_MS;
    if (n >= 2) {
        double dd = geo_distance_m(first->lat, first->lon, p[1].fix.lat, p[1].fix.lon);
        double dt = secs(first->tst, p[1].fix.tst);
        if (dt > 0 && dd / dt >= MOVING_MS)
            v = dd / dt;
    }
    if (secs(p[0].before, first->tst) > (double)s->gap_s && from_centre / v > SILENT_MOVE_S) {
        close_before_gap(d, s, o, first->tst, first->lat, first->lon);
        replay(d, s, p, n, o);
        return;
    }
    /* Between the last fix near the centre and the first pending one. The fixes between
     * those (inside the radius, not near the centre) go with the trip if the departure is
     * before the last of them; after it, they are the stay's (jitter before a silence). */
    int64_t lo = d->c_near_last < d->seg_start ? d->seg_start : d->c_near_last;
    if (lo > first->tst)
        lo = first->tst;
    int64_t departure = clamp_time((double)first->tst - from_centre / v, lo, first->tst);
    uint32_t after = d->c_points_after_near;
    if (after > 0) {
        if (departure >= d->c_last_any)
            after = 0;
        else if (departure > d->c_after_near)
            departure = d->c_after_near;
    }

    /* A candidate whose fixes span less than a stay is one only by the silence after them,
     * and then only a clearly longer one: in significant-changes mode a phone says nothing
     * while it moves less than ~500 m, so a few minutes of silence are as likely a slow part
     * of a trip (walking to a station, waiting there) as a stop. */
    bool stay = d->phase == PHASE_STAY;
    double least = secs(d->c_first, d->c_last) >= (double)s->stay_min_s
                       ? (double)s->stay_min_s
                       : SILENT_STAY_FACTOR * (double)s->stay_min_s;
    if (!stay && secs(d->c_first, departure) >= least) {
        confirm_stay(d, s, o, false);
        stay = true;
    }
    if (stay) {
        if (departure < d->seg_start)
            departure = d->seg_start;
        emit_stay(d, s, o, o->closed_as, d->seg_start, departure, d->c_points - after);
        double lat = d->c_lat, lon = d->c_lon;
        d->phase = PHASE_TRIP;
        d->have_place = false;
        d->seg_start = departure;
        d->seg_points = after;
        trip_from(d, lat, lon, departure);
        if (after > 0) {
            /* The fixes on the way out, inside the radius, are the trip's: its way starts
             * through them. */
            double to_near = geo_distance_m(lat, lon, d->c_near_lat, d->c_near_lon);
            d->t_dist = (isfinite(to_near) ? to_near : 0) + d->c_an_path;
            d->a_lat = d->c_an_lat;
            d->a_lon = d->c_an_lon;
            d->a_acc = d->c_an_acc;
        }
        replay(d, s, p, n, o);
        if (o->closed_as == TL_CLOSED && d->phase == PHASE_TRIP && d->seg_start == departure)
            emit_trip(d, s, o, TL_OPENED, departure, d->last_tst,
                      d->seg_points + (d->have_place ? d->c_points : 0), d->prev_good_lat,
                      d->prev_good_lon, d->t_dist, d->t_moving);
        return;
    }
    d->seg_points += d->c_points; /* the candidate was part of the trip */
    d->have_place = false;
    replay(d, s, p, n, o);
}

/*
 * The last two pending fixes, A then B: is A a spike (a fix thrown far, then the next one
 * back near the place)? The way from the place through A to B is then much longer than the
 * way straight to B. A departure that turns, even at right angles, stays under SPIKE_RATIO;
 * speed cannot tell in sparse data, where anything is reachable in an hour.
 */
static bool is_spike(const struct tl_detector *d, const struct tl_settings *s)
{
    const struct geo_fix *a = &d->pending[d->npending - 2].fix;
    const struct geo_fix *b = &d->pending[d->npending - 1].fix;
    double to_a = geo_distance_m(d->c_lat, d->c_lon, a->lat, a->lon);
    double a_to_b = geo_distance_m(a->lat, a->lon, b->lat, b->lon);
    double to_b = geo_distance_m(d->c_lat, d->c_lon, b->lat, b->lon);
    double slack = s->stay_radius_m + acc_of(a->acc) + acc_of(b->acc);
    /* A fix followed by a silence of stay_min_s or more may be a stay of its own (sparse
     * data): only a fix the device cannot have stayed at is a spike. */
    return secs(a->tst, b->tst) < (double)s->stay_min_s &&
           to_a + a_to_b > SPIKE_RATIO * to_b + slack;
}

/* A was a spike: a point of the place, B pending in its stead. */
static void drop_spike(struct tl_detector *d)
{
    struct tl_pending_fix *a = &d->pending[d->npending - 2], *b = a + 1;
    place_others(d, 1, a->fix.tst, a->fix.tst);
    place_others(d, a->others, a->others_first, a->others_last);
    b->before = a->before;
    *a = *b;
    d->npending--;
}

static void feed_good(struct tl_detector *d, const struct tl_settings *s, const struct geo_fix *f,
                      int64_t before, const struct out *o)
{
    if (!d->have_place) {
        trip_leg(d, f);
        place_start(d, s, f, before);
    } else {
        double dist = geo_distance_m(d->c_lat, d->c_lon, f->lat, f->lon);
        /* Outside only beyond twice the accuracy of the fix and of the centre together (acc
         * is about the 68 % radius: twice it holds 99 % of a normal error), so that indoor
         * scatter does not leave, nor a precise fix leave a candidate made of a vague one. */
        double acc_f = acc_of(f->acc), acc_c = 1 / sqrt(d->c_inv_acc2);
        double reach =
            s->stay_radius_m + fmin(2 * sqrt(acc_f * acc_f + acc_c * acc_c), 2 * s->stay_radius_m);
        /* A candidate also holds its fixes within reach of its first (Li et al.'s anchor):
         * the mean of a walk follows the walker, the first fix does not. */
        bool inside = dist <= reach;
        if (inside && d->phase == PHASE_TRIP)
            inside = geo_distance_m(d->o_lat, d->o_lon, f->lat, f->lon) <=
                     s->stay_radius_m +
                         fmin(2 * sqrt(acc_f * acc_f + d->o_acc * d->o_acc), 2 * s->stay_radius_m);
        if (!inside && acc_f >= s->stay_radius_m) {
            /* A fix too vague to tell whether it is within the radius tells no departure
             * either: a point of the place, no more. */
            count_other(d, f->tst);
            return;
        }
        if (!inside) {
            struct tl_pending_fix *p = &d->pending[d->npending++];
            memset(p, 0, sizeof(*p));
            p->fix = *f;
            p->before = before;
            if (d->npending >= 2 && is_spike(d, s))
                drop_spike(d);
            if (d->npending >= DEPART_FIXES)
                depart(d, s, o);
            return;
        }
        /* Back inside after a fix outside and a silence of a stay's length: the device went
         * there and stayed (in sparse data a stay may be one point). */
        if (d->npending > 0 &&
            secs(d->pending[d->npending - 1].fix.tst, f->tst) >= (double)s->stay_min_s) {
            depart(d, s, o);
            feed_good(d, s, f, before, o);
            return;
        }
        /* Back inside soon: what was pending were outliers, points of the place. */
        for (uint32_t i = 0; i < d->npending; i++) {
            place_others(d, 1, d->pending[i].fix.tst, d->pending[i].fix.tst);
            place_others(d, d->pending[i].others, d->pending[i].others_first,
                         d->pending[i].others_last);
        }
        d->npending = 0;
        if (secs(before, f->tst) > (double)s->stay_silence_max_s) {
            close_before_gap(d, s, o, f->tst, f->lat, f->lon);
            feed_good(d, s, f, before, o);
            return;
        }
        place_add(d, s, f, dist);
        if (d->phase == PHASE_TRIP)
            trip_leg(d, f);
    }
    if (d->phase == PHASE_TRIP) {
        d->prev_good_lat = f->lat;
        d->prev_good_lon = f->lon;
        d->prev_good_tst = f->tst;
        d->have_prev_good = true;
        if (secs(d->c_first, d->c_last) >= (double)s->stay_min_s)
            confirm_stay(d, s, o, true);
    }
}

void tl_init(struct tl_detector *d)
{
    memset(d, 0, sizeof(*d));
    d->version = TL_DETECTOR_VERSION;
    d->phase = PHASE_NONE;
}

bool tl_feed(struct tl_detector *d, const struct tl_settings *settings, const struct geo_fix *f,
             tl_emit_fn emit, void *arg)
{
    if (f->tst <= d->last_tst)
        return false;
    struct tl_settings s = usable_settings(settings);
    struct out o = {emit, arg, TL_CLOSED};
    if (d->npending > TL_PENDING_MAX || d->phase > PHASE_STAY) /* not a state we made */
        tl_init(d);
    int64_t before = d->phase == PHASE_NONE ? f->tst : d->last_tst;
    d->last_tst = f->tst;
    if (d->phase == PHASE_NONE) {
        d->phase = PHASE_TRIP;
        d->seg_start = f->tst;
        d->seg_points = 0;
        trip_reset(d);
    }

    struct geo_fix g = *f;
    if (!acc_said(g.acc))
        g.acc = NAN;
    bool good = has_position(&g) && !(g.acc > s.max_acc_m);
    if (good && d->have_accepted) {
        /* An impossible speed from the last believed fix: drop it, unless the one before was
         * dropped too (then the believed one was the wrong one). */
        double dd = geo_distance_m(d->ok_lat, d->ok_lon, g.lat, g.lon) - d->ok_acc - acc_of(g.acc);
        if (dd / secs(d->ok_tst, g.tst) > V_MAX_MS && !d->rejected_last) {
            d->rejected_last = true;
            good = false;
        } else {
            d->rejected_last = false;
        }
    }
    if (!good) {
        count_other(d, g.tst);
        return true;
    }
    d->have_accepted = true;
    d->ok_lat = g.lat;
    d->ok_lon = g.lon;
    d->ok_acc = acc_of(g.acc);
    d->ok_tst = g.tst;
    feed_good(d, &s, &g, before, &o);
    return true;
}

void tl_pending_at(const struct tl_detector *d, const struct tl_settings *settings, int64_t now,
                   tl_emit_fn emit, void *arg)
{
    if (d->phase == PHASE_NONE || d->phase > PHASE_STAY || d->npending > TL_PENDING_MAX)
        return;
    struct tl_settings s = usable_settings(settings);
    struct out o = {emit, arg, TL_OPENED};
    struct tl_detector c = *d;
    bool later = now > c.last_tst;
    /* A fix outside the place and a silence since it long enough for a stay: the device went
     * there (the rule of feed_good for a fix back inside, with `now` as that fix). */
    if (later && c.npending > 0 &&
        secs(c.pending[c.npending - 1].fix.tst, now) >= (double)s.stay_min_s)
        depart(&c, &s, &o);
    /* Fewer than DEPART_FIXES outside fixes, lately: a departure or an outlier. Until the
     * next fix tells, they are points of the place (a single point kilometres away does not
     * end a stay, even for a while). */
    for (uint32_t i = 0; i < c.npending; i++) {
        place_others(&c, 1, c.pending[i].fix.tst, c.pending[i].fix.tst);
        place_others(&c, c.pending[i].others, c.pending[i].others_first, c.pending[i].others_last);
    }
    c.npending = 0;
    /* The silence since the last fix began at the place: it is part of a stay there up to
     * stay_silence_max_s, and makes the candidate one if long enough (see depart). */
    bool quiet = later && secs(c.c_last_any, now) <= (double)s.stay_silence_max_s;
    if (quiet && c.phase == PHASE_TRIP && c.have_place) {
        double least = secs(c.c_first, c.c_last) >= (double)s.stay_min_s
                           ? (double)s.stay_min_s
                           : SILENT_STAY_FACTOR * (double)s.stay_min_s;
        if (secs(c.c_first, now) >= least)
            confirm_stay(&c, &s, &o, false);
    }
    if (c.phase == PHASE_STAY) {
        emit_stay(&c, &s, &o, TL_OPENED, c.seg_start, quiet ? now : c.last_tst, c.c_points);
        return;
    }
    double end_lat = c.have_prev_good ? c.prev_good_lat : NAN;
    double end_lon = c.have_prev_good ? c.prev_good_lon : NAN;
    emit_trip(&c, &s, &o, TL_OPENED, c.seg_start, c.last_tst,
              c.seg_points + (c.have_place ? c.c_points : 0), end_lat, end_lon, c.t_dist,
              c.t_moving);
}

void tl_pending(const struct tl_detector *d, const struct tl_settings *settings, tl_emit_fn emit,
                void *arg)
{
    tl_pending_at(d, settings, d->last_tst, emit, arg);
}

bool tl_detector_valid(const void *bytes, size_t len)
{
    struct tl_detector d;
    if (!bytes || len != sizeof(d))
        return false;
    memcpy(&d, bytes, sizeof(d));
    return d.version == TL_DETECTOR_VERSION && d.phase <= PHASE_STAY &&
           d.npending <= TL_PENDING_MAX;
}
