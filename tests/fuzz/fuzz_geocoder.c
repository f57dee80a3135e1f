/*
 * Fuzz target: what a geocoder answers (geocoder_parse_answer), the setting that names one
 * (geocoder_parse_spec), and geohashes (geohash_encode and _decode).
 *
 * Input: byte 0 chooses the provider's format (mod 3), the rest is its answer body; the same
 * bytes are also read as a provider setting, as a geohash and as two doubles.
 *
 * Oracles: an answer is 1, 0 or -EPROTO; a place's strings are NUL-terminated within their
 * fields and its country is "" or two upper-case letters; "nothing there" leaves every field
 * empty. A hash that decodes names a cell within the Earth whose centre encodes back to it.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "geocoder.h"
#include "geohash.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct geocoder_answer a;
    if (size < 1)
        return 0;
    enum geocoder_kind kind = (enum geocoder_kind)(data[0] % 3);
    int rc = geocoder_parse_answer(kind, (const char *)data + 1, size - 1, &a);
    if (rc != 1 && rc != 0 && rc != -EPROTO)
        abort();
    if (memchr(a.cc, 0, sizeof(a.cc)) == NULL || memchr(a.addr, 0, sizeof(a.addr)) == NULL ||
        memchr(a.locality, 0, sizeof(a.locality)) == NULL)
        abort();
    if (a.cc[0] &&
        (strlen(a.cc) != 2 || a.cc[0] < 'A' || a.cc[0] > 'Z' || a.cc[1] < 'A' || a.cc[1] > 'Z'))
        abort();
    if (rc != 1 && (a.cc[0] || a.addr[0] || a.locality[0]))
        abort();

    char text[512];
    size_t n = size - 1 < sizeof(text) - 1 ? size - 1 : sizeof(text) - 1;
    memcpy(text, data + 1, n);
    text[n] = '\0';
    struct geocoder_spec spec;
    char why[300];
    if (geocoder_parse_spec(text, &spec, why, sizeof(why)) == 0 &&
        (!(spec.rate >= 0.001 && spec.rate <= 1000) || strlen(spec.url) >= sizeof(spec.url)))
        abort();

    double lat_min, lon_min, lat_max, lon_max;
    char back[GEOHASH_SIZE];
    if (geohash_decode(text, &lat_min, &lon_min, &lat_max, &lon_max) == 0) {
        if (lat_min < -90 || lat_max > 90 || lon_min < -180 || lon_max > 180)
            abort();
        if (geohash_encode((lat_min + lat_max) / 2, (lon_min + lon_max) / 2, (int)strlen(text),
                           back) != 0 ||
            strcmp(back, text) != 0)
            abort();
    }
    if (size >= 17) {
        double lat, lon;
        memcpy(&lat, data + 1, sizeof(lat));
        memcpy(&lon, data + 9, sizeof(lon));
        if (geohash_encode(lat, lon, 1 + data[0] % GEOHASH_PRECISION_MAX, back) == 0 &&
            !geohash_valid(back))
            abort();
    }
    return 0;
}
