#include "geohash.h"

#include <errno.h>
#include <math.h>
#include <string.h>

static const char alphabet[] = "0123456789bcdefghjkmnpqrstuvwxyz";

int geohash_encode(double lat, double lon, int precision, char out[GEOHASH_SIZE])
{
    out[0] = '\0';
    if (precision < GEOHASH_PRECISION_MIN || precision > GEOHASH_PRECISION_MAX || !isfinite(lat) ||
        !isfinite(lon) || fabs(lat) > 90 || fabs(lon) > 180)
        return -EINVAL;
    double lat_lo = -90, lat_hi = 90, lon_lo = -180, lon_hi = 180;
    bool even = true; /* bits alternate, longitude first */
    for (int c = 0; c < precision; c++) {
        unsigned idx = 0;
        for (int bit = 0; bit < 5; bit++) {
            double *lo = even ? &lon_lo : &lat_lo, *hi = even ? &lon_hi : &lat_hi;
            double v = even ? lon : lat, mid = (*lo + *hi) / 2;
            idx <<= 1;
            if (v >= mid) {
                idx |= 1;
                *lo = mid;
            } else {
                *hi = mid;
            }
            even = !even;
        }
        out[c] = alphabet[idx];
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
