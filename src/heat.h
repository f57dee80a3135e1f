/*
 * heat.h - a density grid of a user's points over a range, for the map's heat layer: counts per
 * cell at the zoom the map asks for, so a year of half a million points is drawn from a few
 * thousand cells instead of being sent to the browser.
 *
 * Cells are mercator.h's: at zoom Z the world is 2^(Z + 5) cells of 8 pixels on a side, cell
 * (0, 0) at the north-west corner, x growing east and y south.
 *
 * The store keeps counts per device, UTC day and cell at STORE_HEAT_ZOOM (store.h, "heat"), and
 * at that zoom or a coarser one (every zoom the web map asks for) the grid is made from them:
 * the whole UTC days of the range from their counts, the hours before the first and after the
 * last from the points. A year of 500,000 points is then read as its day records, a few bytes a
 * cell, instead of the points: tests/bench/bench_summary.py measures some 5 ms of CPU at zooms 4
 * to 12, where reading the points took 40 to 80 ms (half of it decoding them). A finer zoom reads
 * the points. Memory is bounded by HEAT_CELLS_MAX, not by the points.
 *
 * A bbox, at STORE_HEAT_ZOOM or coarser, is applied to the cells of the counts: a point is counted
 * when the centre of its cell at STORE_HEAT_ZOOM is inside the box (the points of the range's two
 * ends too, so that where a day begins never changes the answer). A point within half such a
 * cell of the box's edge (some 2.4 m at the equator, less towards the poles) may be counted
 * though just outside, or left out though just inside; one beyond Web Mercator's +-85.0511 is
 * judged by its edge row's centre. At a finer zoom each point's own position is tested.
 *
 * Thread rules: none kept; a struct heat_grid belongs to one thread.
 *
 * Errors: 0 or a negative code: -EINVAL (bad arguments, said where), -E2BIG (more than
 * HEAT_CELLS_MAX cells: a lower zoom or a smaller bbox is needed), -ENOMEM, -ENOENT (no such
 * device), or a store error (store.h).
 */
#ifndef WL_HEAT_H
#define WL_HEAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mercator.h"
#include "sink.h"
#include "store.h"

#define HEAT_CELL_PX  MERCATOR_CELL_PX
#define HEAT_ZOOM_MAX MERCATOR_ZOOM_MAX
/* Distinct cells a grid may hold: a screen of 2000 x 1200 pixels shows 37,500 cells, and a
 * year at a street-level zoom over a whole country rarely touches more than a few hundred
 * thousand; at 16 bytes a cell in memory and some 20 on the wire this bounds both (4 MB). */
#define HEAT_CELLS_MAX 262144

/* A bounding box in degrees; west > east crosses the antimeridian. */
struct heat_bbox {
    double west, south, east, north;
};

/* Is (lat, lon) inside the box (edges included)? */
bool heat_bbox_contains(const struct heat_bbox *b, double lat, double lon);
/* Parses "west,south,east,north" (degrees: longitudes -180..180, latitudes -90..90, south <=
 * north). 0, or -EINVAL with why set to a static sentence. */
int heat_parse_bbox(const char *text, struct heat_bbox *out, const char **why);
/* Parses a zoom "0".."20": 0, or -EINVAL. */
int heat_parse_zoom(const char *text, int *zoom);

struct heat_cell_count {
    uint32_t x, y, count;
};

/* Counts per cell, in a hash table that grows up to HEAT_CELLS_MAX cells. */
struct heat_grid {
    int zoom;
    struct heat_cell_count *slot; /* open addressing; count 0 is an empty slot */
    size_t cap, n;
    uint64_t points; /* points counted into cells (after heat_grid_sort: all of them) */
    /* The run of points in one cell not yet added: consecutive points of a track mostly fall
     * in the cell of the one before, and a box test is far cheaper than projecting. */
    bool have_run;
    uint32_t run_x, run_y, run_count;
    double run_south, run_north, run_west, run_east;
};

/* A new empty grid at zoom (0..HEAT_ZOOM_MAX; the caller checks). Free with heat_grid_free. */
void heat_grid_init(struct heat_grid *g, int zoom);
void heat_grid_free(struct heat_grid *g);
/* Adds n points at (lat, lon) (counted in g->n and g->points from the next call that leaves
 * their cell, or heat_grid_sort). 0, -EINVAL (a position mercator_cell refuses: not counted),
 * -E2BIG (a new cell past HEAT_CELLS_MAX) or -ENOMEM. */
int heat_grid_add(struct heat_grid *g, double lat, double lon, uint32_t n);
/* Adds n points to cell (x, y) itself: 0, -E2BIG or -ENOMEM. */
int heat_grid_add_cell(struct heat_grid *g, uint32_t x, uint32_t y, uint32_t n);
/* Adds the last run, then sorts the cells into row order (y, then x) at the front of g->slot:
 * g->slot[0..g->n) are then the cells; nothing may be added after. 0, -E2BIG or -ENOMEM. */
int heat_grid_sort(struct heat_grid *g);

/* What to count: the visible points of the user's devices (one device if device is not NULL)
 * with from <= tst <= to, inside bbox if it is not NULL (see above for how exactly). */
struct heat_request {
    const char *user, *device;
    int64_t from, to;
    int zoom;
    const struct heat_bbox *bbox;
    /* Count every point, not the kept counts (to compare the two: tests, benchmarks); the
     * answer is the same. */
    bool scan_points;
};

/* Counts the points into g (initialised by the caller at rq->zoom), in one read transaction of
 * the store, and sorts it (heat_grid_sort). Returns 0,
 * -ENOENT (no such device, or a user without devices), -E2BIG, -ENOMEM or a store error. */
int heat_read(struct store *s, const struct heat_request *rq, struct heat_grid *g);

/* Writes a sorted grid as the JSON of /api/0/heat (api/openapi.yaml, Heat):
 * {"zoom":Z,"cell_px":8,"side":2^(Z+5),"x0":X,"y0":Y,"points":N,"max":M,
 *  "cells":[dx,dy,count, dx,dy,count, ...]}\n
 * flat, each cell as its offset from (x0, y0), the least x and y of the cells: at a street-level
 * zoom that saves half the bytes of [x,y,count] triples. */
void heat_json(struct sink *out, const struct heat_grid *g);

#endif
