#include "mercator.h"

#include <math.h>

/* Web Mercator's edge: the latitude where the square world ends. */
#define MERCATOR_LAT_MAX 85.0511287798066

bool mercator_cell(double lat, double lon, int zoom, uint32_t *x, uint32_t *y)
{
    if (!isfinite(lat) || !isfinite(lon) || fabs(lat) > 90 || fabs(lon) > 180 || zoom < 0 ||
        zoom > MERCATOR_ZOOM_MAX)
        return false;
    double side = ldexp(1.0, zoom + MERCATOR_SIDE_SHIFT);
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

static double lon_at(double x, int zoom)
{
    return x / ldexp(1.0, zoom + MERCATOR_SIDE_SHIFT) * 360 - 180;
}

static double lat_at(double y, int zoom)
{
    double side = ldexp(1.0, zoom + MERCATOR_SIDE_SHIFT);
    return atan(sinh(M_PI * (1 - 2 * y / side))) * 180 / M_PI;
}

void mercator_cell_corner(uint32_t x, uint32_t y, int zoom, double *lat, double *lon)
{
    *lon = lon_at(x, zoom);
    *lat = lat_at(y, zoom);
}

double mercator_column_lon(uint32_t x, int zoom)
{
    return lon_at(x + 0.5, zoom);
}

double mercator_row_lat(uint32_t y, int zoom)
{
    return lat_at(y + 0.5, zoom);
}
