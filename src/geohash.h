/*
 * geohash.h - the geohash of a position: the base-32 name of the cell of a grid that holds it,
 * as the OwnTracks Recorder keys its reverse-geocoding cache. A longer hash names a smaller cell
 * inside the shorter one (precision 7, the Recorder's default, is about 153 x 153 m at the
 * equator), so one hash stands for every point that fell in its cell.
 *
 * Pure functions on plain values: no state, any thread.
 */
#ifndef WL_GEOHASH_H
#define WL_GEOHASH_H

#include <stdbool.h>
#include <stddef.h>

#define GEOHASH_PRECISION_MIN     1
#define GEOHASH_PRECISION_MAX     12 /* 37 mm x 19 mm: finer than any phone's fix */
#define GEOHASH_PRECISION_DEFAULT 7  /* the Recorder's */
/* A buffer for any hash and its NUL. */
#define GEOHASH_SIZE (GEOHASH_PRECISION_MAX + 1)

/*
 * Writes the geohash of (lat, lon) in degrees with `precision` characters and a NUL into out
 * (GEOHASH_SIZE bytes). Returns 0, or -EINVAL (nothing written but an empty string) when
 * precision is out of GEOHASH_PRECISION_MIN..MAX or the position is not finite or out of range
 * (|lat| > 90, |lon| > 180). The edges belong to the cell above and to the right of them, so
 * lat 90 and lon 180 are in the last cells.
 */
int geohash_encode(double lat, double lon, int precision, char out[GEOHASH_SIZE]);

/*
 * The cell a hash names: its south-west and north-east corners. Returns 0, or -EINVAL when
 * hash is empty, longer than GEOHASH_PRECISION_MAX, or holds a character that is not in the
 * geohash alphabet (0-9 and b-z less a, i, l, o; lower case only).
 */
int geohash_decode(const char *hash, double *lat_min, double *lon_min, double *lat_max,
                   double *lon_max);

/* Is hash a well-formed geohash (what geohash_decode accepts)? */
bool geohash_valid(const char *hash);

#endif
