/*
 * mercator.h - the Web Mercator grid of cells that heat counts points in (EPSG:3857, as Leaflet
 * and the tile servers draw it): the store keeps counts per cell (store.h, "heat") and heat.h
 * reads them at the zoom the map asks for. A leaf: plain values, no state, any thread.
 *
 * At zoom Z the world is 256 * 2^Z pixels wide; a cell is MERCATOR_CELL_PX by MERCATOR_CELL_PX
 * of those pixels, so the world is 2^(Z + MERCATOR_SIDE_SHIFT) cells on a side, cell (0, 0) at
 * the north-west corner (lon -180, lat +85.0511), x growing east and y south. A point belongs to
 * the cell its projected pixel falls in; latitudes beyond Web Mercator's +-85.0511 are clamped to
 * the edge rows.
 *
 * Cells nest: the cell of a point at zoom Z is its cell at zoom Z + k shifted right by k, exactly
 * (the projection is computed once, as a fraction of the world, and scaled by powers of two, which
 * floating point does without rounding). That is what lets counts kept at one fine zoom answer
 * every coarser one.
 */
#ifndef WL_MERCATOR_H
#define WL_MERCATOR_H

#include <stdbool.h>
#include <stdint.h>

#define MERCATOR_CELL_SHIFT 3 /* a cell is 2^3 = 8 pixels: about a finger's width on screen */
#define MERCATOR_CELL_PX    (1 << MERCATOR_CELL_SHIFT)
#define MERCATOR_SIDE_SHIFT (8 - MERCATOR_CELL_SHIFT) /* a 256-pixel tile is 2^5 cells a side */
/* 2^(20+5) cells a side still fits a uint32, and two coordinates a uint64; tile servers stop at
 * 19. */
#define MERCATOR_ZOOM_MAX 20

/* The cell of (lat, lon) at zoom (0..MERCATOR_ZOOM_MAX): false for a position that is not finite
 * or out of range. */
bool mercator_cell(double lat, double lon, int zoom, uint32_t *x, uint32_t *y);
/* The north-west corner of cell (x, y) at zoom, in degrees (its south-east one is (x+1, y+1)). */
void mercator_cell_corner(uint32_t x, uint32_t y, int zoom, double *lat, double *lon);
/* The centre of column x and of row y at zoom, in degrees. */
double mercator_column_lon(uint32_t x, int zoom);
double mercator_row_lat(uint32_t y, int zoom);

/* Cell (x, y) as one number that interleaves their bits (a Morton code, y's bit above x's): cells
 * near each other get numbers near each other, so a sorted list of them is short as deltas, and
 * the code of a cell's parent k zooms out is the code shifted right by 2k. */
static inline uint64_t mercator_code(uint32_t x, uint32_t y)
{
    uint64_t v[2] = {x, y};
    for (int i = 0; i < 2; i++) {
        v[i] = (v[i] | v[i] << 16) & 0x0000ffff0000ffffull;
        v[i] = (v[i] | v[i] << 8) & 0x00ff00ff00ff00ffull;
        v[i] = (v[i] | v[i] << 4) & 0x0f0f0f0f0f0f0f0full;
        v[i] = (v[i] | v[i] << 2) & 0x3333333333333333ull;
        v[i] = (v[i] | v[i] << 1) & 0x5555555555555555ull;
    }
    return v[0] | v[1] << 1;
}

static inline uint32_t mercator_uncode_half(uint64_t v)
{
    v &= 0x5555555555555555ull;
    v = (v | v >> 1) & 0x3333333333333333ull;
    v = (v | v >> 2) & 0x0f0f0f0f0f0f0f0full;
    v = (v | v >> 4) & 0x00ff00ff00ff00ffull;
    v = (v | v >> 8) & 0x0000ffff0000ffffull;
    v = (v | v >> 16) & 0x00000000ffffffffull;
    return (uint32_t)v;
}

static inline void mercator_uncode(uint64_t code, uint32_t *x, uint32_t *y)
{
    *x = mercator_uncode_half(code);
    *y = mercator_uncode_half(code >> 1);
}

#endif
