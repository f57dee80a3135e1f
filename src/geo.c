#include "geo.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- distances */

/* Called for every point of every pass and path: kept in this file, where it inlines. */
static bool has_position(double lat, double lon)
{
    return isfinite(lat) && isfinite(lon);
}

static double cos_lat(double lat)
{
    return cos(lat * M_PI / 180);
}

/* The haversine, with the cosines of the latitudes given: a path computes each one once for
 * the two legs that meet at a fix. */
static inline double haversine(double lat1, double cos1, double lon1, double lat2, double cos2,
                               double lon2)
{
    double p1 = lat1 * M_PI / 180, p2 = lat2 * M_PI / 180;
    double dp = p2 - p1, dl = (lon2 - lon1) * M_PI / 180;
    double a = sin(dp / 2) * sin(dp / 2) + cos1 * cos2 * sin(dl / 2) * sin(dl / 2);
    /* Rounding can take `a` a hair past 1 near the antipodes (and below 0 for latitudes past
     * the poles): sqrt(1 - a) would be NaN. */
    if (a > 1)
        a = 1;
    else if (a < 0)
        a = 0;
    return 2 * GEO_EARTH_RADIUS_M * atan2(sqrt(a), sqrt(1 - a));
}

double geo_distance_m(double lat1, double lon1, double lat2, double lon2)
{
    return haversine(lat1, cos_lat(lat1), lon1, lat2, cos_lat(lat2), lon2);
}

void geo_path_add(struct geo_path *p, const struct geo_fix *f, double max_acc)
{
    if (!has_position(f->lat, f->lon) || f->acc > max_acc) /* NaN (unknown) is not worse */
        return;
    double cos_f = cos_lat(f->lat);
    if (p->have_last)
        p->metres += haversine(p->lat, p->cos_lat, p->lon, f->lat, cos_f, f->lon);
    p->lat = f->lat;
    p->lon = f->lon;
    p->cos_lat = cos_f;
    p->have_last = true;
}

/* ---------------------------------------------------------------- thinning */

static void plane_xy(double lat, double lon, double *x, double *y)
{
    *x = lon * cos(lat * (M_PI / 180));
    *y = lat;
}

void geo_plane_xy(double lat, double lon, double *x, double *y)
{
    plane_xy(lat, lon, x, y);
}

/* Index where bucket b (0..nb-1) of the middle points starts, for n points in all. */
static uint64_t bucket_start(uint64_t b, uint64_t nb, uint64_t n)
{
    return 1 + (uint64_t)((double)b * (double)(n - 2) / (double)nb);
}

/* The one place that writes into sel: within its capacity, in ascending order. */
static void thin_keep(struct geo_thin *t, uint32_t tst)
{
    if (t->nsel < t->max && (t->nsel == 0 || tst > t->sel[t->nsel - 1]))
        t->sel[t->nsel++] = tst;
}

int geo_thin_init(struct geo_thin *t, uint32_t max)
{
    *t = (struct geo_thin){0};
    if (max < GEO_THIN_MIN_MAX)
        return -EINVAL;
    t->max = max;
    t->nb = max - 2;
    t->sel = malloc(max * sizeof(*t->sel));
    return t->sel ? 0 : -ENOMEM;
}

void geo_thin_count(struct geo_thin *t, uint32_t tst)
{
    thin_keep(t, tst); /* if they all fit, these are the points to keep */
    t->counted++;
    t->counted_last = tst;
}

bool geo_thin_needed(const struct geo_thin *t)
{
    return t->counted > t->max;
}

int geo_thin_begin_averages(struct geo_thin *t)
{
    t->avg = calloc(t->nb + 1, sizeof(*t->avg));
    t->k = t->b = 0;
    t->nsel = 0;
    return t->avg ? 0 : -ENOMEM;
}

void geo_thin_average(struct geo_thin *t, double lat, double lon)
{
    uint64_t k = t->k++;
    double x, y;
    if (k == 0 || !has_position(lat, lon))
        return; /* the first point is kept whatever the averages */
    /* Points beyond pass 1's count all fall into the last slot, b <= nb: never past it. */
    while (t->b < t->nb && k >= bucket_start(t->b + 1, t->nb, t->counted))
        t->b++;
    plane_xy(lat, lon, &x, &y);
    t->avg[t->b][0] += x;
    t->avg[t->b][1] += y;
    t->avg[t->b][2] += 1;
}

void geo_thin_begin_choice(struct geo_thin *t)
{
    double(*avg)[3] = t->avg;
    for (uint64_t i = 0; i <= t->nb; i++) {
        if (avg[i][2] > 0) {
            avg[i][0] /= avg[i][2];
            avg[i][1] /= avg[i][2];
        }
    }
    /* A bucket left empty (points deleted since pass 1) borrows its neighbour's mean, so that
     * the triangles of the bucket before it still point the right way. */
    for (uint64_t i = t->nb; i-- > 0;)
        if (avg[i][2] == 0)
            memcpy(avg[i], avg[i + 1], sizeof(avg[i]));
    for (uint64_t i = 1; i <= t->nb; i++)
        if (avg[i][2] == 0)
            memcpy(avg[i], avg[i - 1], sizeof(avg[i]));
    t->k = t->b = 0;
    t->nsel = 0;
    t->best = -1;
    t->held = false;
    t->choosing = true;
}

/* Bucket b is done: keep its best point, if it had one. */
static void thin_close_bucket(struct geo_thin *t)
{
    if (t->best >= 0) {
        thin_keep(t, t->best_tst);
        t->px = t->best_x;
        t->py = t->best_y;
    }
    t->b++;
    t->best = -1;
}

/* Point j (0 < j) as a candidate of its bucket; points beyond pass 1's count compete in the
 * last bucket (nb - 1), so that at most nb buckets close. */
static void thin_candidate(struct geo_thin *t, uint64_t j, uint32_t tst, bool have_xy, double x,
                           double y)
{
    while (t->b + 1 < t->nb && j >= bucket_start(t->b + 1, t->nb, t->counted))
        thin_close_bucket(t);
    if (!have_xy)
        return;
    const double *next = t->avg[t->b + 1];
    double area = fabs((t->px - next[0]) * (y - t->py) - (t->px - x) * (next[1] - t->py));
    if (area > t->best) {
        t->best = area;
        t->best_tst = tst;
        t->best_x = x;
        t->best_y = y;
    }
}

void geo_thin_choose(struct geo_thin *t, uint32_t tst, double lat, double lon)
{
    uint64_t k = t->k++;
    bool have_xy = has_position(lat, lon);
    double x = 0, y = 0;
    if (have_xy)
        plane_xy(lat, lon, &x, &y);
    if (k == 0) {
        thin_keep(t, tst);
        t->px = x;
        t->py = y;
        return;
    }
    /* Only the end of the pass tells which point is the last: each waits for the next. */
    if (t->held)
        thin_candidate(t, k - 1, t->held_tst, t->held_xy, t->held_x, t->held_y);
    t->held = true;
    t->held_tst = tst;
    t->held_xy = have_xy;
    t->held_x = x;
    t->held_y = y;
}

void geo_thin_take(struct geo_thin *t, uint32_t **keep, size_t *nkeep)
{
    if (t->choosing && t->held) { /* the last bucket's best, then the last point */
        thin_close_bucket(t);
        thin_keep(t, t->held_tst);
        t->held = false;
    }
    *nkeep = t->nsel;
    *keep = t->nsel ? t->sel : NULL;
    if (t->nsel)
        t->sel = NULL;
    t->nsel = 0;
}

void geo_thin_free(struct geo_thin *t)
{
    free(t->avg);
    free(t->sel);
    t->avg = NULL;
    t->sel = NULL;
}
