#include "gazetteer.h"

#include <errno.h>
#include <geonames.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "geo.h"

/* One-degree cells: 64,800 of them, 260 KB of offsets, and a lookup at 100 km reads a few
 * cells of a few dozen cities at most. */
#define ROWS  180
#define COLS  360
#define CELLS (ROWS * COLS)

struct city {
    float lat, lon; /* within 2 m of GeoNames' 5 decimals: enough for the nearest of cities */
    uint32_t name;  /* offset into names */
    uint16_t zone;  /* index into zones */
    char cc[3];
};

struct gazetteer {
    struct city *cities; /* sorted by cell */
    size_t ncities;
    uint32_t *cell_start; /* CELLS + 1: the cities of cell c are [cell_start[c], cell_start[c+1]) */
    char *names;          /* NUL-terminated names, one after the other */
    size_t names_len;
    char **zones; /* distinct time zone names */
    size_t nzones;
    size_t bytes;
};

static int row_of(double lat)
{
    int r = (int)floor(lat + 90);
    return r < 0 ? 0 : r >= ROWS ? ROWS - 1 : r;
}

static int col_of(double lon)
{
    int c = (int)floor(lon + 180);
    return ((c % COLS) + COLS) % COLS;
}

static int cell_of(double lat, double lon)
{
    return row_of(lat) * COLS + col_of(lon);
}

/* The index of zone in g->zones, added if new; -1 when out of memory or too many. */
static int zone_index(struct gazetteer *g, const char *zone, size_t *cap)
{
    for (size_t i = g->nzones; i-- > 0;) /* the cities come by country: the last zone is likely */
        if (strcmp(g->zones[i], zone) == 0)
            return (int)i;
    if (g->nzones >= UINT16_MAX)
        return -1;
    if (g->nzones == *cap) {
        size_t ncap = *cap ? *cap * 2 : 256;
        char **z = realloc(g->zones, ncap * sizeof(*z));
        if (!z)
            return -1;
        g->zones = z;
        *cap = ncap;
    }
    if (!(g->zones[g->nzones] = strdup(zone)))
        return -1;
    g->bytes += strlen(zone) + 1;
    return (int)g->nzones++;
}

static int by_cell(const void *a, const void *b)
{
    int ca = cell_of(((const struct city *)a)->lat, ((const struct city *)a)->lon);
    int cb = cell_of(((const struct city *)b)->lat, ((const struct city *)b)->lon);
    return (ca > cb) - (ca < cb);
}

/* Reads every city libgeonames has into g's arrays (unsorted). */
static int read_cities(struct gazetteer *g)
{
    int n = geonames_get_n_cities();
    size_t names_cap = 0, zones_cap = 0;

    if (n <= 0)
        return -ENOENT;
    g->cities = calloc((size_t)n, sizeof(*g->cities));
    if (!g->cities)
        return -ENOMEM;
    for (int i = 0; i < n; i++) {
        GeonamesCity *c = geonames_get_city(i);
        if (!c)
            continue;
        const char *name = geonames_city_get_name(c), *cc = geonames_city_get_country_code(c),
                   *zone = geonames_city_get_timezone(c);
        double lat = geonames_city_get_latitude(c), lon = geonames_city_get_longitude(c);
        int rc = 0;
        if (name && cc && strlen(cc) == 2 && zone && zone[0] && isfinite(lat) && isfinite(lon) &&
            fabs(lat) <= 90 && fabs(lon) <= 180) {
            size_t len = strlen(name) + 1;
            int z = zone_index(g, zone, &zones_cap);
            if (z < 0)
                rc = -ENOMEM;
            if (rc == 0 && g->names_len + len > names_cap) {
                size_t ncap = names_cap ? names_cap * 2 : 256 * 1024;
                while (ncap < g->names_len + len)
                    ncap *= 2;
                char *p = realloc(g->names, ncap);
                if (p) {
                    g->names = p;
                    names_cap = ncap;
                } else {
                    rc = -ENOMEM;
                }
            }
            if (rc == 0) {
                struct city *out = &g->cities[g->ncities++];
                memcpy(g->names + g->names_len, name, len);
                *out = (struct city){.lat = (float)lat,
                                     .lon = (float)lon,
                                     .name = (uint32_t)g->names_len,
                                     .zone = (uint16_t)z,
                                     .cc = {cc[0], cc[1], '\0'}};
                g->names_len += len;
            }
        }
        geonames_city_free(c);
        if (rc)
            return rc;
    }
    g->bytes += (size_t)n * sizeof(*g->cities) + names_cap + zones_cap * sizeof(char *);
    return g->ncities ? 0 : -ENOENT;
}

int gazetteer_open(struct gazetteer **out)
{
    struct gazetteer *g = calloc(1, sizeof(*g));
    int rc;

    if (!g)
        return -ENOMEM;
    g->bytes = sizeof(*g);
    if ((rc = read_cities(g)))
        goto fail;
    qsort(g->cities, g->ncities, sizeof(*g->cities), by_cell);
    g->cell_start = calloc(CELLS + 1, sizeof(*g->cell_start));
    if (!g->cell_start) {
        rc = -ENOMEM;
        goto fail;
    }
    g->bytes += (CELLS + 1) * sizeof(*g->cell_start);
    for (size_t i = 0; i < g->ncities; i++)
        g->cell_start[cell_of(g->cities[i].lat, g->cities[i].lon) + 1]++;
    for (int c = 0; c < CELLS; c++)
        g->cell_start[c + 1] += g->cell_start[c];
    *out = g;
    return 0;
fail:
    gazetteer_free(g);
    return rc;
}

void gazetteer_free(struct gazetteer *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->nzones; i++)
        free(g->zones[i]);
    free(g->zones);
    free(g->names);
    free(g->cities);
    free(g->cell_start);
    free(g);
}

/*
 * The search compares squared distances on a local flat projection (degrees of latitude, and of
 * longitude times the cosine of the latitude): within GAZETTEER_MAX_DISTANCE_M that orders
 * cities as the great circle does, but for ties closer than the data's own precision, at a
 * fraction of haversine's cost. Only the winner's distance is computed on the sphere.
 */
struct search {
    double lat, lon, coslat;
    double best; /* squared projected distance of the best so far */
    const struct city *city;
};

/* Longitude difference folded into -180..180. */
static double dlon_of(double a, double b)
{
    double d = a - b;
    return d > 180 ? d - 360 : d < -180 ? d + 360 : d;
}

static void search_cell(const struct gazetteer *g, int row, int col, struct search *q)
{
    /* The nearest the cell can be: skip it when that is no nearer than the best. */
    double lat_lo = row - 90.0, lon_lo = col - 180.0;
    double dy = q->lat < lat_lo ? lat_lo - q->lat : q->lat > lat_lo + 1 ? q->lat - lat_lo - 1 : 0;
    double dx1 = fabs(dlon_of(q->lon, lon_lo)), dx2 = fabs(dlon_of(q->lon, lon_lo + 1));
    double dx =
        dlon_of(q->lon, lon_lo) >= 0 && dlon_of(lon_lo + 1, q->lon) >= 0 ? 0 : fmin(dx1, dx2);
    if (dy * dy + dx * dx * q->coslat * q->coslat >= q->best)
        return;
    int cell = row * COLS + col;
    for (uint32_t i = g->cell_start[cell]; i < g->cell_start[cell + 1]; i++) {
        const struct city *c = &g->cities[i];
        double y = c->lat - q->lat, x = dlon_of(c->lon, q->lon) * q->coslat;
        double d = y * y + x * x;
        if (d < q->best) {
            q->best = d;
            q->city = c;
        }
    }
}

bool gazetteer_nearest(const struct gazetteer *g, double lat, double lon,
                       struct gazetteer_city *out)
{
    const double degree_m = GEO_EARTH_RADIUS_M * M_PI / 180;

    if (!isfinite(lat) || !isfinite(lon) || fabs(lat) > 90 || fabs(lon) > 180)
        return false;
    double dlat = GAZETTEER_MAX_DISTANCE_M / degree_m;
    /* A little more than the limit: the projection is not the sphere; the winner is checked on
     * the sphere below. */
    struct search q = {.lat = lat,
                       .lon = lon,
                       .coslat = fmax(cos(lat * M_PI / 180), 1e-6),
                       .best = 1.2 * dlat * 1.2 * dlat};
    /* The point's own cell first: what it finds prunes the others. */
    search_cell(g, row_of(lat), col_of(lon), &q);
    int row_lo = row_of(lat - dlat), row_hi = row_of(lat + dlat);
    for (int row = row_lo; row <= row_hi; row++) {
        /* A degree of longitude is shortest on the row's edge nearer the pole. */
        double edge = fmax(fabs(row - 90.0), fabs(row + 1 - 90.0));
        double polemost = fmin(edge, fabs(lat) + dlat), cosine = cos(polemost * M_PI / 180);
        double dlon = cosine > 1e-6 ? dlat / cosine : 180;
        int first = (int)floor(lon - dlon + 180), last = (int)floor(lon + dlon + 180);
        if (dlon >= 180)
            first = 0, last = COLS - 1;
        for (int col = first; col <= last; col++) {
            int c = ((col % COLS) + COLS) % COLS;
            if (row != row_of(lat) || c != col_of(lon))
                search_cell(g, row, c, &q);
        }
    }
    if (!q.city)
        return false;
    const struct city *best = q.city;
    double d = geo_distance_m(lat, lon, best->lat, best->lon);
    if (!(d <= GAZETTEER_MAX_DISTANCE_M))
        return false;
    *out = (struct gazetteer_city){.name = g->names + best->name,
                                   .cc = best->cc,
                                   .tzname = g->zones[best->zone],
                                   .lat = best->lat,
                                   .lon = best->lon,
                                   .distance_m = d};
    return true;
}

size_t gazetteer_cities(const struct gazetteer *g)
{
    return g->ncities;
}

size_t gazetteer_bytes(const struct gazetteer *g)
{
    return g->bytes;
}
