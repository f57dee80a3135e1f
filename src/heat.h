/*
 * heat.h - a density grid of a user's points over a range, for the map's heat layer: counts per
 * cell at the zoom the map asks for, so a year of half a million points is drawn from a few
 * thousand cells instead of being sent to the browser.
 *
 * Cells: at zoom Z the Web Mercator world (EPSG:3857, as Leaflet and the tile servers draw it)
 * is 256 * 2^Z pixels wide; a cell is HEAT_CELL_PX by HEAT_CELL_PX of those pixels, so the world
 * is 2^(Z + HEAT_SIDE_SHIFT) cells on a side, cell (0, 0) at the north-west corner (lon -180,
 * lat +85.0511), x growing east and y south. A point belongs to the cell its projected pixel
 * falls in; latitudes beyond Web Mercator's +-85.0511 are clamped to the edge rows.
 *
 * The grid is computed as it is read: every point of the range is read once, and consecutive
 * points in one cell are counted without projecting them again. tests/bench/bench_summary.py
 * measures a year of 500,000 points at 40 to 70 ms of CPU (half of it decoding the points), at
 * issue 14's 50 ms rather than under it; counts per device, day and cell kept at ingest would
 * take the decoding away. Memory is bounded by HEAT_CELLS_MAX, not by the points.
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

#include "sink.h"
#include "store.h"

#define HEAT_CELL_SHIFT 3 /* a cell is 2^3 = 8 pixels: about a finger's width of heat on screen */
#define HEAT_CELL_PX    (1 << HEAT_CELL_SHIFT)
#define HEAT_SIDE_SHIFT (8 - HEAT_CELL_SHIFT) /* a 256-pixel tile is 2^5 cells a side */
#define HEAT_ZOOM_MAX   20 /* 2^(20+5) cells a side still fits a uint32; tile servers stop at 19 */
/* Distinct cells a grid may hold: a screen of 2000 x 1200 pixels shows 37,500 cells, and a
 * year at a street-level zoom over a whole country rarely touches more than a few hundred
 * thousand; at 16 bytes a cell in memory and some 20 on the wire this bounds both (4 MB). */
#define HEAT_CELLS_MAX 262144

/* A bounding box in degrees; west > east crosses the antimeridian. */
struct heat_bbox {
    double west, south, east, north;
};

/* The cell of (lat, lon) at zoom (0..HEAT_ZOOM_MAX): false for a position that is not finite
 * or out of range. */
bool heat_cell(double lat, double lon, int zoom, uint32_t *x, uint32_t *y);
/* The north-west corner of cell (x, y) at zoom, in degrees (its south-east one is (x+1, y+1)). */
void heat_cell_corner(uint32_t x, uint32_t y, int zoom, double *lat, double *lon);
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
 * their cell, or heat_grid_sort). 0, -EINVAL (a position heat_cell refuses: not counted),
 * -E2BIG (a new cell past HEAT_CELLS_MAX) or -ENOMEM. */
int heat_grid_add(struct heat_grid *g, double lat, double lon, uint32_t n);
/* Adds n points to cell (x, y) itself: 0, -E2BIG or -ENOMEM. */
int heat_grid_add_cell(struct heat_grid *g, uint32_t x, uint32_t y, uint32_t n);
/* Adds the last run, then sorts the cells into row order (y, then x) at the front of g->slot:
 * g->slot[0..g->n) are then the cells; nothing may be added after. 0, -E2BIG or -ENOMEM. */
int heat_grid_sort(struct heat_grid *g);

/* What to count: the visible points of the user's devices (one device if device is not NULL)
 * with from <= tst <= to, inside bbox if it is not NULL. */
struct heat_request {
    const char *user, *device;
    int64_t from, to;
    int zoom;
    const struct heat_bbox *bbox;
};

/* Reads the points, counts them into g (initialised by the caller at rq->zoom) and sorts it
 * (heat_grid_sort). Returns 0,
 * -ENOENT (no such device, or a user without devices), -E2BIG, -ENOMEM or a store error. */
int heat_read(struct store *s, const struct heat_request *rq, struct heat_grid *g);

/* Writes a sorted grid as the JSON of /api/0/heat (api/openapi.yaml, Heat):
 * {"zoom":Z,"cell_px":8,"side":2^(Z+5),"x0":X,"y0":Y,"points":N,"max":M,
 *  "cells":[dx,dy,count, dx,dy,count, ...]}\n
 * flat, each cell as its offset from (x0, y0), the least x and y of the cells: at a street-level
 * zoom that saves half the bytes of [x,y,count] triples. */
void heat_json(struct sink *out, const struct heat_grid *g);

#endif
