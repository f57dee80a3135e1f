/* fmt_internal.h - what the format writers share; not part of the fmt.h interface. */
#ifndef WL_FMT_INTERNAL_H
#define WL_FMT_INTERNAL_H

#include "fmt.h"
#include "pack.h"

/* The parts of a point most formats need, read in one pass over its members. */
struct fmt_fix {
    struct pack_value lat, lon, alt;
    bool has_alt;
};

/* Reads lat, lon and alt. Returns 0, or WL_ECORRUPT (also when lat/lon are missing, which
 * validation at ingest rules out for stored locations). */
int fmt_read_fix(int64_t tst, const void *data, size_t len, struct fmt_fix *fix);
/* A number as an xsd:decimal (no exponent), for GPX attributes and elements. */
void fmt_write_decimal(struct sink *s, const struct pack_value *v);
/* True for members that are not worth repeating in every GeoJSON/CSV row (big blobs). */
bool fmt_is_blob_key(int key_index);

#define FMT_DECL(name)                                                                             \
    void fmt_##name##_begin(struct fmt_writer *w);                                                 \
    int fmt_##name##_point(struct fmt_writer *w, int64_t tst, const void *data, size_t len);       \
    void fmt_##name##_end(struct fmt_writer *w)

FMT_DECL(json);
FMT_DECL(geojson);
FMT_DECL(linestring);
FMT_DECL(gpx);
FMT_DECL(csv);
FMT_DECL(xml);

#endif
