#include "heat.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fmt_internal.h"
#include "pack.h"

/* Web Mercator's edge: the latitude where the square world ends. */
#define MERCATOR_LAT_MAX 85.0511287798066

bool heat_cell(double lat, double lon, int zoom, uint32_t *x, uint32_t *y)
{
    if (!isfinite(lat) || !isfinite(lon) || fabs(lat) > 90 || fabs(lon) > 180 || zoom < 0 ||
        zoom > HEAT_ZOOM_MAX)
        return false;
    double side = ldexp(1.0, zoom + HEAT_SIDE_SHIFT);
    if (lat > MERCATOR_LAT_MAX)
        lat = MERCATOR_LAT_MAX;
    if (lat < -MERCATOR_LAT_MAX)
        lat = -MERCATOR_LAT_MAX;
    double phi = lat * M_PI / 180;
    double fx = (lon + 180) / 360;
    double fy = (1 - log(tan(phi) + 1 / cos(phi)) / M_PI) / 2;
    double cx = floor(fx * side), cy = floor(fy * side);
    /* lon 180 and the clamped south edge land one past the last cell */
    *x = (uint32_t)(cx >= side ? side - 1 : cx < 0 ? 0 : cx);
    *y = (uint32_t)(cy >= side ? side - 1 : cy < 0 ? 0 : cy);
    return true;
}

void heat_cell_corner(uint32_t x, uint32_t y, int zoom, double *lat, double *lon)
{
    double side = ldexp(1.0, zoom + HEAT_SIDE_SHIFT);
    *lon = x / side * 360 - 180;
    *lat = atan(sinh(M_PI * (1 - 2 * y / side))) * 180 / M_PI;
}

bool heat_bbox_contains(const struct heat_bbox *b, double lat, double lon)
{
    if (lat < b->south || lat > b->north)
        return false;
    if (b->west <= b->east)
        return lon >= b->west && lon <= b->east;
    return lon >= b->west || lon <= b->east;
}

/* A number in text, the whole of it up to `end` (',' or NUL). */
static bool number(const char **p, char end, double *out)
{
    char *stop;
    errno = 0;
    *out = strtod(*p, &stop);
    if (stop == *p || errno || !isfinite(*out) || *stop != end)
        return false;
    *p = *stop ? stop + 1 : stop;
    return true;
}

int heat_parse_bbox(const char *text, struct heat_bbox *out, const char **why)
{
    const char *p = text;
    double v[4];
    for (int i = 0; i < 4; i++) {
        if (!number(&p, i < 3 ? ',' : '\0', &v[i])) {
            *why = "bbox must be four numbers: west,south,east,north";
            return -EINVAL;
        }
    }
    if (fabs(v[0]) > 180 || fabs(v[2]) > 180 || fabs(v[1]) > 90 || fabs(v[3]) > 90) {
        *why = "bbox: longitudes must be within -180..180 and latitudes within -90..90";
        return -EINVAL;
    }
    if (v[1] > v[3]) {
        *why = "bbox: south is north of north";
        return -EINVAL;
    }
    *out = (struct heat_bbox){.west = v[0], .south = v[1], .east = v[2], .north = v[3]};
    return 0;
}

int heat_parse_zoom(const char *text, int *zoom)
{
    if (!text || !text[0] || strlen(text) > 2)
        return -EINVAL;
    int z = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        z = z * 10 + (*p - '0');
    }
    if (z > HEAT_ZOOM_MAX)
        return -EINVAL;
    *zoom = z;
    return 0;
}

/* ---------------------------------------------------------------- the grid */

void heat_grid_init(struct heat_grid *g, int zoom)
{
    *g = (struct heat_grid){.zoom = zoom};
}

void heat_grid_free(struct heat_grid *g)
{
    free(g->slot);
    g->slot = NULL;
    g->cap = g->n = 0;
}

/* MurmurHash3's finaliser: neighbouring cells (x and y differing in low bits only) spread over
 * the whole table, whatever its size. */
static size_t cell_hash(uint32_t x, uint32_t y, size_t cap)
{
    uint64_t h = (uint64_t)x << 32 | y;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return (size_t)h & (cap - 1);
}

static struct heat_cell_count *find_slot(struct heat_cell_count *slot, size_t cap, uint32_t x,
                                         uint32_t y)
{
    size_t i = cell_hash(x, y, cap);
    while (slot[i].count && (slot[i].x != x || slot[i].y != y))
        i = (i + 1) & (cap - 1);
    return &slot[i];
}

/* Doubles the table (kept at most half full, so probes stay short). */
static int grow(struct heat_grid *g)
{
    size_t cap = g->cap ? g->cap * 2 : 1024;
    struct heat_cell_count *slot = calloc(cap, sizeof(*slot));
    if (!slot)
        return -ENOMEM;
    for (size_t i = 0; i < g->cap; i++)
        if (g->slot[i].count)
            *find_slot(slot, cap, g->slot[i].x, g->slot[i].y) = g->slot[i];
    free(g->slot);
    g->slot = slot;
    g->cap = cap;
    return 0;
}

int heat_grid_add_cell(struct heat_grid *g, uint32_t x, uint32_t y, uint32_t n)
{
    int rc;
    if (n == 0)
        return 0;
    if ((g->n + 1) * 2 > g->cap && (rc = grow(g)))
        return rc;
    struct heat_cell_count *c = find_slot(g->slot, g->cap, x, y);
    if (!c->count) {
        if (g->n >= HEAT_CELLS_MAX)
            return -E2BIG;
        *c = (struct heat_cell_count){.x = x, .y = y};
        g->n++;
    }
    c->count = c->count > UINT32_MAX - n ? UINT32_MAX : c->count + n;
    g->points += n;
    return 0;
}

/* A point this close to a cell's edge is projected rather than trusted to the box test, so
 * that rounding in the inverse projection never moves it across. */
#define RUN_MARGIN_DEG 1e-9

static int flush_run(struct heat_grid *g)
{
    if (!g->have_run)
        return 0;
    g->have_run = false;
    return heat_grid_add_cell(g, g->run_x, g->run_y, g->run_count);
}

int heat_grid_add(struct heat_grid *g, double lat, double lon, uint32_t n)
{
    uint32_t x, y;
    int rc;
    if (g->have_run && lat > g->run_south && lat < g->run_north && lon > g->run_west &&
        lon < g->run_east && g->run_count <= UINT32_MAX - n) {
        g->run_count += n;
        return 0;
    }
    if (!heat_cell(lat, lon, g->zoom, &x, &y))
        return -EINVAL;
    if ((rc = flush_run(g)))
        return rc;
    double north, west, south, east;
    heat_cell_corner(x, y, g->zoom, &north, &west);
    heat_cell_corner(x + 1, y + 1, g->zoom, &south, &east);
    g->have_run = true;
    g->run_x = x;
    g->run_y = y;
    g->run_count = n;
    g->run_south = south + RUN_MARGIN_DEG;
    g->run_north = north - RUN_MARGIN_DEG;
    g->run_west = west + RUN_MARGIN_DEG;
    g->run_east = east - RUN_MARGIN_DEG;
    return 0;
}

static int by_row(const void *a, const void *b)
{
    const struct heat_cell_count *p = a, *q = b;
    if (p->y != q->y)
        return p->y < q->y ? -1 : 1;
    return p->x < q->x ? -1 : p->x > q->x;
}

int heat_grid_sort(struct heat_grid *g)
{
    int rc = flush_run(g);
    if (rc)
        return rc;
    size_t n = 0;
    for (size_t i = 0; i < g->cap; i++)
        if (g->slot[i].count)
            g->slot[n++] = g->slot[i];
    if (n)
        qsort(g->slot, n, sizeof(*g->slot), by_row);
    return 0;
}

/* ---------------------------------------------------------------- reading */

static int count_device(struct store *s, uint32_t id, const struct heat_request *rq,
                        struct heat_grid *g)
{
    struct store_iter *it;
    struct store_item item;
    int rc = store_iter_points(s, id, rq->from, rq->to, 0, &it);
    if (rc)
        return rc;
    while ((rc = store_iter_next(it, &item)) == 1) {
        struct fmt_fix fix;
        double lat, lon;
        if (fmt_read_fix(item.tst, item.data, item.len, &fix) != 0 ||
            !pack_to_double(&fix.lat, &lat) || !pack_to_double(&fix.lon, &lon))
            continue; /* validation at ingest rules this out; a reader does not fail on it */
        if (rq->bbox && !heat_bbox_contains(rq->bbox, lat, lon))
            continue;
        rc = heat_grid_add(g, lat, lon, 1);
        if (rc && rc != -EINVAL)
            break;
    }
    store_iter_close(it);
    return rc < 0 ? rc : 0;
}

int heat_read(struct store *s, const struct heat_request *rq, struct heat_grid *g)
{
    struct store_device *dev;
    size_t n;
    int rc = store_devices(s, rq->user, rq->device, &dev, &n);
    if (rc)
        return rc;
    if (n == 0)
        rc = -ENOENT;
    for (size_t i = 0; i < n && !rc; i++)
        rc = count_device(s, dev[i].id, rq, g);
    free(dev);
    return rc ? rc : heat_grid_sort(g);
}

void heat_json(struct sink *out, const struct heat_grid *g)
{
    uint32_t max = 0, x0 = UINT32_MAX, y0 = UINT32_MAX;
    for (size_t i = 0; i < g->n; i++) {
        const struct heat_cell_count *c = &g->slot[i];
        max = c->count > max ? c->count : max;
        x0 = c->x < x0 ? c->x : x0;
        y0 = c->y < y0 ? c->y : y0;
    }
    if (!g->n)
        x0 = y0 = 0;
    sink_printf(out, "{\"zoom\":%d,\"cell_px\":%d,\"side\":%llu,\"x0\":%lu,\"y0\":%lu,", g->zoom,
                HEAT_CELL_PX, 1ull << (g->zoom + HEAT_SIDE_SHIFT), (unsigned long)x0,
                (unsigned long)y0);
    sink_printf(out, "\"points\":%llu,\"max\":%lu,\"cells\":[", (unsigned long long)g->points,
                (unsigned long)max);
    for (size_t i = 0; i < g->n; i++) {
        const struct heat_cell_count *c = &g->slot[i];
        if (i)
            sink_putc(out, ',');
        sink_put_u64(out, c->x - x0);
        sink_putc(out, ',');
        sink_put_u64(out, c->y - y0);
        sink_putc(out, ',');
        sink_put_u64(out, c->count);
    }
    sink_puts(out, "]}\n");
}
