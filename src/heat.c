#include "heat.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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
    if (!mercator_cell(lat, lon, g->zoom, &x, &y))
        return -EINVAL;
    if ((rc = flush_run(g)))
        return rc;
    double north, west, south, east;
    mercator_cell_corner(x, y, g->zoom, &north, &west);
    mercator_cell_corner(x + 1, y + 1, g->zoom, &south, &east);
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

/* What heat_read counts into, from the store's cells (STORE_HEAT_ZOOM) or points. */
struct counter {
    struct heat_grid *g;
    const struct heat_bbox *bbox;
    int shift; /* STORE_HEAT_ZOOM - zoom: a cell's parent at the grid's zoom */
    /* With a bbox: the cells at STORE_HEAT_ZOOM whose centre is inside it. Columns from x_west
     * to x_east, or outside (x_east, x_west) when the box crosses the antimeridian; rows from
     * y_north to y_south (none when y_north > y_south). */
    uint32_t x_west, x_east, y_north, y_south;
    bool wraps;
    /* Consecutive cells of one parent are added at once: the store's cells come in code order,
     * where the cells of one parent follow each other. */
    bool have_run;
    uint32_t run_x, run_y, run_count;
};

/* The first of 0..side-1 for which pred holds (side if none), pred being false then true. */
static uint32_t first_true(uint32_t side, bool (*pred)(uint32_t v, double limit), double limit)
{
    uint32_t lo = 0, hi = side;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (pred(mid, limit))
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static bool east_of(uint32_t x, double lon)
{
    return mercator_column_lon(x, STORE_HEAT_ZOOM) >= lon;
}

static bool beyond_east(uint32_t x, double lon)
{
    return mercator_column_lon(x, STORE_HEAT_ZOOM) > lon;
}

static bool south_of_north(uint32_t y, double lat)
{
    return mercator_row_lat(y, STORE_HEAT_ZOOM) <= lat;
}

static bool beyond_south(uint32_t y, double lat)
{
    return mercator_row_lat(y, STORE_HEAT_ZOOM) < lat;
}

/* The columns and rows of the cells whose centre heat_bbox_contains: the centre's longitude
 * grows with x and its latitude falls with y, so each bound is one binary search. */
static void box_cells(struct counter *c, const struct heat_bbox *b)
{
    const uint32_t side = 1u << (STORE_HEAT_ZOOM + MERCATOR_SIDE_SHIFT);
    uint32_t east_end = first_true(side, beyond_east, b->east); /* first column past east */
    uint32_t south_end = first_true(side, beyond_south, b->south);
    c->x_west = first_true(side, east_of, b->west);
    c->x_east = east_end ? east_end - 1 : 0;
    c->wraps = b->west > b->east;
    c->y_north = first_true(side, south_of_north, b->north);
    c->y_south = south_end ? south_end - 1 : 0;
    if (!c->wraps && east_end == 0)
        c->x_west = 1, c->x_east = 0; /* nothing */
    if (south_end == 0)
        c->y_north = 1, c->y_south = 0;
}

static bool in_box(const struct counter *c, uint32_t x, uint32_t y)
{
    if (y < c->y_north || y > c->y_south)
        return false;
    if (c->wraps)
        return x >= c->x_west || x <= c->x_east;
    return x >= c->x_west && x <= c->x_east;
}

static int flush_cells(struct counter *c)
{
    if (!c->have_run)
        return 0;
    c->have_run = false;
    return heat_grid_add_cell(c->g, c->run_x, c->run_y, c->run_count);
}

static int count_cells(void *arg, const struct store_heat_cell *v, size_t n)
{
    struct counter *c = arg;
    int rc;
    for (size_t i = 0; i < n; i++) {
        if (c->bbox && !in_box(c, v[i].x, v[i].y))
            continue;
        uint32_t x = v[i].x >> c->shift, y = v[i].y >> c->shift;
        if (c->have_run && c->run_x == x && c->run_y == y &&
            c->run_count <= UINT32_MAX - v[i].count) {
            c->run_count += v[i].count;
            continue;
        }
        if ((rc = flush_cells(c)))
            return rc;
        c->have_run = true;
        c->run_x = x;
        c->run_y = y;
        c->run_count = v[i].count;
    }
    return 0;
}

static int count_position(void *arg, double lat, double lon)
{
    struct counter *c = arg;
    if (c->bbox && !heat_bbox_contains(c->bbox, lat, lon))
        return 0;
    int rc = heat_grid_add(c->g, lat, lon, 1);
    return rc == -EINVAL ? 0 : rc; /* no cell: not counted */
}

int heat_read(struct store *s, const struct heat_request *rq, struct heat_grid *g)
{
    struct counter c = {.g = g, .bbox = rq->bbox, .shift = STORE_HEAT_ZOOM - rq->zoom};
    bool from_cells = rq->zoom <= STORE_HEAT_ZOOM;
    struct store_heat_sink out = {
        .cells = from_cells ? count_cells : NULL, .position = count_position, .arg = &c};
    if (from_cells && rq->bbox)
        box_cells(&c, rq->bbox);
    int rc = store_heat_read(s, rq->user, rq->device, rq->from, rq->to, rq->scan_points, &out);
    if (rc == 0)
        rc = flush_cells(&c);
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
                HEAT_CELL_PX, 1ull << (g->zoom + MERCATOR_SIDE_SHIFT), (unsigned long)x0,
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
