/* GeoJSON (RFC 7946): a FeatureCollection of Points, and the Recorder's LineString. */
#include <string.h>

#include "fmt_internal.h"
#include "wtime.h"

void fmt_geojson_begin(struct fmt_writer *w)
{
    sink_puts(w->sink, "{\"type\":\"FeatureCollection\",\"features\":[");
}

static void write_position(struct sink *s, const struct fmt_fix *fix, bool with_alt)
{
    sink_putc(s, '[');
    pack_write_number(s, &fix->lon); /* longitude first (RFC 7946 §3.1.1) */
    sink_putc(s, ',');
    pack_write_number(s, &fix->lat);
    if (with_alt && fix->has_alt) {
        sink_putc(s, ',');
        pack_write_number(s, &fix->alt);
    }
    sink_putc(s, ']');
}

int fmt_geojson_point(struct fmt_writer *w, int64_t tst, const void *data, size_t len)
{
    struct sink *s = w->sink;
    struct fmt_fix fix;
    struct pack_reader r;
    struct pack_value v;
    const char *key;
    size_t keylen;
    char iso[WTIME_ISO_SIZE];
    int rc = fmt_read_fix(tst, data, len, &fix);

    if (rc)
        return rc;
    sink_puts(s, w->count
                     ? ",\n{\"type\":\"Feature\",\"geometry\":{\"type\":\"Point\",\"coordinates\":"
                     : "\n{\"type\":\"Feature\",\"geometry\":{\"type\":\"Point\",\"coordinates\":");
    write_position(s, &fix, true);
    sink_puts(s, "},\"properties\":{");
    /* Every member but the geometry, the type and big blobs; then the ISO time. */
    pack_open(&r, data, len, tst, "location");
    while ((rc = pack_next(&r, &key, &keylen, &v)) == 1) {
        if (r.key_index == PACK_KEY_LAT || r.key_index == PACK_KEY_LON ||
            r.key_index == PACK_KEY_TYPE || r.key_index == PACK_KEY_ISOTST ||
            fmt_is_blob_key(r.key_index))
            continue;
        sink_json_string(s, key, keylen);
        sink_putc(s, ':');
        pack_write_value_json(s, &v, tst);
        sink_putc(s, ',');
    }
    wtime_iso_cached(&w->days, tst, iso);
    sink_puts(s, "\"isotst\":\"");
    sink_put(s, iso, 20);
    sink_puts(s, "\"}}");
    return rc < 0 ? rc : 0;
}

void fmt_geojson_end(struct fmt_writer *w)
{
    sink_puts(w->sink, w->count ? "\n]}\n" : "]}\n");
}

void fmt_linestring_begin(struct fmt_writer *w)
{
    sink_puts(w->sink, "{\"type\":\"Feature\",\"properties\":{},\"geometry\":{\"type\":"
                       "\"LineString\",\"coordinates\":[");
}

int fmt_linestring_point(struct fmt_writer *w, int64_t tst, const void *data, size_t len)
{
    struct fmt_fix fix;
    int rc = fmt_read_fix(tst, data, len, &fix);
    if (rc)
        return rc;
    if (w->count)
        sink_putc(w->sink, ',');
    write_position(w->sink, &fix, false);
    return 0;
}

void fmt_linestring_end(struct fmt_writer *w)
{
    sink_puts(w->sink, "]}}\n");
}
