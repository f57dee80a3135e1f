#include "geohash.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

static const char alphabet[] = "0123456789bcdefghjkmnpqrstuvwxyz";

/* The position of v within lo..hi as a 30-bit integer: bit by bit, what halving the range 30
 * times says (1: v is in the upper half, its edge included); the upper edge is the last cell.
 * Fewer bits are its top bits (a power-of-two scale is exact). */
static uint64_t cell_bits(double v, double lo, double hi)
{
    const double max = (1u << 30) - 1;
    double f = ldexp((v - lo) / (hi - lo), 30);
    return f >= max ? (uint64_t)max : (uint64_t)f;
}

/* The 30 bits of v at the even positions of a 60-bit word. */
static uint64_t spread(uint64_t v)
{
    v = (v | v << 16) & 0x0000FFFF0000FFFFull;
    v = (v | v << 8) & 0x00FF00FF00FF00FFull;
    v = (v | v << 4) & 0x0F0F0F0F0F0F0F0Full;
    v = (v | v << 2) & 0x3333333333333333ull;
    v = (v | v << 1) & 0x5555555555555555ull;
    return v;
}

int geohash_encode(double lat, double lon, int precision, char out[GEOHASH_SIZE])
{
    out[0] = '\0';
    if (precision < GEOHASH_PRECISION_MIN || precision > GEOHASH_PRECISION_MAX || !isfinite(lat) ||
        !isfinite(lon) || fabs(lat) > 90 || fabs(lon) > 180)
        return -EINVAL;
    /* The bits alternate, longitude first: 60 of them, of which a hash takes the first. */
    uint64_t code = spread(cell_bits(lon, -180, 180)) << 1 | spread(cell_bits(lat, -90, 90));
    code >>= 60 - 5 * precision;
    for (int c = precision - 1; c >= 0; c--) {
        out[c] = alphabet[code & 31];
        code >>= 5;
    }
    out[precision] = '\0';
    return 0;
}

static int value_of(char c)
{
    const char *p = c ? strchr(alphabet, c) : NULL;
    return p ? (int)(p - alphabet) : -1;
}

bool geohash_valid(const char *hash)
{
    size_t n = strnlen(hash, GEOHASH_PRECISION_MAX + 1);
    if (n < GEOHASH_PRECISION_MIN || n > GEOHASH_PRECISION_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (value_of(hash[i]) < 0)
            return false;
    return true;
}

int geohash_decode(const char *hash, double *lat_min, double *lon_min, double *lat_max,
                   double *lon_max)
{
    if (!geohash_valid(hash))
        return -EINVAL;
    double lat_lo = -90, lat_hi = 90, lon_lo = -180, lon_hi = 180;
    bool even = true;
    for (const char *p = hash; *p; p++) {
        int v = value_of(*p);
        for (int bit = 4; bit >= 0; bit--) {
            double *lo = even ? &lon_lo : &lat_lo, *hi = even ? &lon_hi : &lat_hi;
            double mid = (*lo + *hi) / 2;
            if ((v >> bit) & 1)
                *lo = mid;
            else
                *hi = mid;
            even = !even;
        }
    }
    *lat_min = lat_lo;
    *lat_max = lat_hi;
    *lon_min = lon_lo;
    *lon_max = lon_hi;
    return 0;
}
