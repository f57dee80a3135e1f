#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "heat.h"

/* ---------------------------------------------------------------- cells */

Test(heat, the_world_at_zoom_0_is_one_tile_of_32_cells_a_side)
{
    uint32_t x, y;
    cr_assert(mercator_cell(0, 0, 0, &x, &y));
    cr_expect_eq(x, 16, "lon 0 is the middle column, not %u", x);
    cr_expect_eq(y, 16, "lat 0 is the middle row, not %u", y);
    cr_assert(mercator_cell(90, -180, 0, &x, &y));
    cr_expect(x == 0 && y == 0, "the north-west corner is (0, 0), not (%u, %u)", x, y);
    cr_assert(mercator_cell(-90, 180, 0, &x, &y));
    cr_expect(x == 31 && y == 31, "the south-east edge is the last cell, not (%u, %u)", x, y);
}

Test(heat, a_cell_lies_in_the_slippy_map_tile_of_its_position)
{
    /* Tiles of 256 px are 32 cells: a cell's tile is (x >> 5, y >> 5). The tile numbers are
     * those the OpenStreetMap tile servers use for these places. */
    static const struct {
        double lat, lon;
        int zoom;
        uint32_t tx, ty;
    } cases[] = {
        {48.8566, 2.3522, 10, 518, 352},    /* Paris */
        {51.5074, -0.1278, 12, 2046, 1362}, /* London */
        {-33.8688, 151.2093, 8, 235, 153},  /* Sydney */
        {40.7128, -74.0060, 14, 4823, 6160} /* New York */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint32_t x, y;
        cr_assert(mercator_cell(cases[i].lat, cases[i].lon, cases[i].zoom, &x, &y));
        cr_expect(x >> 5 == cases[i].tx && y >> 5 == cases[i].ty, "case %zu: tile %u/%u, not %u/%u",
                  i, x >> 5, y >> 5, cases[i].tx, cases[i].ty);
    }
}

Test(heat, a_cells_corners_bound_it)
{
    for (int zoom = 0; zoom <= HEAT_ZOOM_MAX; zoom += 4) {
        uint32_t x, y, cx, cy;
        double lat, lon, lat2, lon2;
        cr_assert(mercator_cell(47.3, 8.55, zoom, &x, &y));
        mercator_cell_corner(x, y, zoom, &lat, &lon);
        mercator_cell_corner(x + 1, y + 1, zoom, &lat2, &lon2);
        cr_expect(lat >= 47.3 && lat2 <= 47.3 && lon <= 8.55 && lon2 >= 8.55,
                  "zoom %d: cell %u,%u spans %f..%f, %f..%f", zoom, x, y, lat2, lat, lon, lon2);
        /* just inside the north-west corner is the same cell */
        cr_assert(mercator_cell(lat - 1e-9, lon + 1e-9, zoom, &cx, &cy));
        cr_expect(cx == x && cy == y, "zoom %d: corner cell %u,%u vs %u,%u", zoom, cx, cy, x, y);
    }
}

Test(heat, beyond_web_mercator_the_edge_rows_take_the_points)
{
    uint32_t x, y;
    cr_assert(mercator_cell(89.9, 10, 3, &x, &y));
    cr_expect_eq(y, 0);
    cr_assert(mercator_cell(-89.9, 10, 3, &x, &y));
    cr_expect_eq(y, (1u << 8) - 1);
}

Test(heat, nonsense_has_no_cell)
{
    uint32_t x, y;
    cr_expect_not(mercator_cell(NAN, 0, 3, &x, &y));
    cr_expect_not(mercator_cell(0, INFINITY, 3, &x, &y));
    cr_expect_not(mercator_cell(91, 0, 3, &x, &y));
    cr_expect_not(mercator_cell(0, -181, 3, &x, &y));
    cr_expect_not(mercator_cell(0, 0, -1, &x, &y));
    cr_expect_not(mercator_cell(0, 0, HEAT_ZOOM_MAX + 1, &x, &y));
}

/* ---------------------------------------------------------------- parameters */

Test(heat, bbox_and_zoom_parse_strictly)
{
    struct heat_bbox b;
    const char *why = NULL;
    cr_assert_eq(heat_parse_bbox("2.2,48.8,2.4,48.9", &b, &why), 0);
    cr_expect(b.west == 2.2 && b.south == 48.8 && b.east == 2.4 && b.north == 48.9);
    cr_expect(heat_bbox_contains(&b, 48.85, 2.3));
    cr_expect_not(heat_bbox_contains(&b, 48.95, 2.3));
    cr_expect_not(heat_bbox_contains(&b, 48.85, 2.5));
    const char *bad[] = {"",          "1,2,3",     "1,2,3,4,5", "a,2,3,4",   "1,2,3,4x",   "1,,3,4",
                         "181,0,1,1", "0,-91,1,1", "0,50,1,40", "nan,0,1,1", "1e999,0,1,1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why = NULL;
        cr_expect_eq(heat_parse_bbox(bad[i], &b, &why), -EINVAL, "'%s' is refused", bad[i]);
        cr_expect(why && why[0], "'%s' says why", bad[i]);
    }
    int z = -1;
    cr_expect(heat_parse_zoom("0", &z) == 0 && z == 0);
    cr_expect(heat_parse_zoom("20", &z) == 0 && z == 20);
    const char *badz[] = {"", "21", "-1", "1.5", "x", "100", " 3"};
    for (size_t i = 0; i < sizeof(badz) / sizeof(badz[0]); i++)
        cr_expect_eq(heat_parse_zoom(badz[i], &z), -EINVAL, "zoom '%s' is refused", badz[i]);
    cr_expect_eq(heat_parse_zoom(NULL, &z), -EINVAL);
}

Test(heat, a_box_across_the_antimeridian)
{
    struct heat_bbox b;
    const char *why;
    cr_assert_eq(heat_parse_bbox("170,-20,-170,-10", &b, &why), 0);
    cr_expect(heat_bbox_contains(&b, -15, 179));
    cr_expect(heat_bbox_contains(&b, -15, -179));
    cr_expect_not(heat_bbox_contains(&b, -15, 0));
}

/* ---------------------------------------------------------------- aggregation */

Test(heat, the_grid_counts_each_point_once_in_its_cell)
{
    struct heat_grid g;
    heat_grid_init(&g, 12);
    /* 5,000 points on a small spiral around Zurich, counted independently below */
    uint32_t want_total = 0;
    for (int i = 0; i < 5000; i++) {
        double r = i * 2e-6, a = i * 0.37;
        cr_assert_eq(heat_grid_add(&g, 47.37 + r * sin(a), 8.54 + r * cos(a), 1 + i % 3), 0);
        want_total += 1 + i % 3;
    }
    cr_expect_eq(heat_grid_add(&g, NAN, 0, 1), -EINVAL, "no cell, not counted");
    cr_assert_eq(heat_grid_sort(&g), 0);
    cr_expect_eq(g.points, want_total);
    uint64_t sum = 0;
    for (size_t i = 0; i < g.n; i++) {
        sum += g.slot[i].count;
        if (i) {
            const struct heat_cell_count *p = &g.slot[i - 1], *c = &g.slot[i];
            cr_expect(p->y < c->y || (p->y == c->y && p->x < c->x), "row order, no repeats");
        }
    }
    cr_expect_eq(sum, want_total, "the cells hold every point");
    /* each point's cell holds at least its weight */
    for (int i = 0; i < 5000; i += 97) {
        double r = i * 2e-6, a = i * 0.37;
        uint32_t x, y;
        mercator_cell(47.37 + r * sin(a), 8.54 + r * cos(a), 12, &x, &y);
        struct heat_cell_count key = {.x = x, .y = y};
        int found = 0;
        for (size_t k = 0; k < g.n; k++)
            found |= g.slot[k].x == key.x && g.slot[k].y == key.y;
        cr_expect(found, "point %d's cell %u,%u is there", i, x, y);
    }
    heat_grid_free(&g);
}

Test(heat, the_grid_is_bounded)
{
    struct heat_grid g;
    heat_grid_init(&g, 20);
    int rc = 0;
    uint32_t i;
    for (i = 0; i <= HEAT_CELLS_MAX && rc == 0; i++)
        rc = heat_grid_add_cell(&g, i, 7, 1);
    cr_expect_eq(rc, -E2BIG, "a cell past HEAT_CELLS_MAX is refused");
    cr_expect_eq(g.n, HEAT_CELLS_MAX);
    cr_expect_eq(heat_grid_add_cell(&g, 3, 7, 5), 0, "an existing cell still counts");
    heat_grid_free(&g);
}
