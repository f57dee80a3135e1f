#include "fmt_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "wl.h"

static const struct {
    const char *name, *type, *ext;
    void (*begin)(struct fmt_writer *);
    int (*point)(struct fmt_writer *, int64_t, const void *, size_t);
    void (*end)(struct fmt_writer *);
} formats[] = {
    [FMT_JSON] = {"json", "application/json; charset=utf-8", "json", fmt_json_begin, fmt_json_point,
                  fmt_json_end},
    [FMT_GEOJSON] = {"geojson", "application/geo+json; charset=utf-8", "geojson", fmt_geojson_begin,
                     fmt_geojson_point, fmt_geojson_end},
    [FMT_GPX] = {"gpx", "application/gpx+xml; charset=utf-8", "gpx", fmt_gpx_begin, fmt_gpx_point,
                 fmt_gpx_end},
    [FMT_CSV] = {"csv", "text/csv; charset=utf-8; header=present", "csv", fmt_csv_begin,
                 fmt_csv_point, fmt_csv_end},
    [FMT_LINESTRING] = {"linestring", "application/geo+json; charset=utf-8", "geojson",
                        fmt_linestring_begin, fmt_linestring_point, fmt_linestring_end},
    [FMT_XML] = {"xml", "application/xml; charset=utf-8", "xml", fmt_xml_begin, fmt_xml_point,
                 fmt_xml_end},
};

int fmt_parse(const char *name, enum fmt_kind *out)
{
    for (size_t i = 0; i < WL_ARRAY_LEN(formats); i++) {
        if (strcmp(name, formats[i].name) == 0) {
            *out = (enum fmt_kind)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *fmt_content_type(enum fmt_kind kind)
{
    return formats[kind].type;
}

const char *fmt_extension(enum fmt_kind kind)
{
    return formats[kind].ext;
}

void fmt_begin(struct fmt_writer *w, enum fmt_kind kind, struct sink *sink,
               const struct fmt_options *opt)
{
    *w = (struct fmt_writer){.kind = kind, .sink = sink};
    if (opt)
        w->opt = *opt;
    if (w->opt.gpx_segment_gap <= 0)
        w->opt.gpx_segment_gap = FMT_GPX_SEGMENT_GAP;
    if (w->opt.nfields > FMT_MAX_FIELDS)
        w->opt.nfields = FMT_MAX_FIELDS;
    formats[kind].begin(w);
}

int fmt_point(struct fmt_writer *w, int64_t tst, const void *data, size_t len)
{
    /* A point that fails halfway is taken back whole, so the document stays well-formed. */
    sink_hold(w->sink);
    int rc = formats[w->kind].point(w, tst, data, len);
    if (rc) {
        sink_drop(w->sink);
        if (!w->error)
            w->error = rc;
        return rc;
    }
    sink_keep(w->sink);
    w->count++;
    w->prev_tst = tst;
    return 0;
}

void fmt_end(struct fmt_writer *w)
{
    formats[w->kind].end(w);
    if (w->scratch.buf)
        sink_free(&w->scratch);
}

int fmt_read_fix(int64_t tst, const void *data, size_t len, struct fmt_fix *fix)
{
    struct pack_reader r;
    struct pack_value v;
    enum { LAT = 1, LON = 2, ALT = 4 };
    unsigned found = 0;
    int rc = pack_open(&r, data, len, tst, "location");

    fix->has_alt = false;
    /* Keys are unique (owntracks refuses duplicates), so the scan ends once all three are seen:
     * phones send them early in the message, which spares reading half the members. */
    while (found != (LAT | LON | ALT) && rc == 0 && (rc = pack_next(&r, NULL, NULL, &v)) == 1) {
        rc = 0;
        switch (r.key_index) {
        case PACK_KEY_LAT:
            fix->lat = v;
            found |= LAT;
            break;
        case PACK_KEY_LON:
            fix->lon = v;
            found |= LON;
            break;
        case PACK_KEY_ALT:
            fix->alt = v;
            fix->has_alt = v.type == PACK_INT || v.type == PACK_DECIMAL;
            found |= ALT;
            break;
        default: break;
        }
    }
    if (rc < 0)
        return rc;
    if ((found & (LAT | LON)) != (LAT | LON) ||
        (fix->lat.type != PACK_INT && fix->lat.type != PACK_DECIMAL &&
         fix->lat.type != PACK_NUMTEXT))
        return WL_ECORRUPT;
    return 0;
}

void fmt_write_decimal(struct sink *s, const struct pack_value *v)
{
    if (v->type == PACK_INT || (v->type == PACK_DECIMAL && v->exp <= 0 && v->exp >= -31)) {
        pack_write_number(s, v); /* already plain digits */
        return;
    }
    double d;
    if (!pack_to_double(v, &d) || !isfinite(d))
        d = 0;
    char tmp[64];
    int n = snprintf(tmp, sizeof(tmp), "%.9f", d);
    sink_put(s, tmp, (size_t)n);
}

bool fmt_is_blob_key(int key_index)
{
    return key_index == PACK_KEY_IMAGE || key_index == PACK_KEY_FACE;
}

int fmt_split_fields(char *list, const char **fields)
{
    int n = 0;
    for (char *save = NULL, *f = strtok_r(list, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
        if (n == FMT_MAX_FIELDS)
            return -E2BIG;
        fields[n++] = f;
    }
    return n;
}
