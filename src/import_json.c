/*
 * GeoJSON and Google location history. These files can be several GB, and json-c builds
 * whole documents, so a small scanner walks the file a block at a time and hands json-c one
 * element of the interesting top-level arrays at a time ("features", "locations",
 * "semanticSegments", "rawSignals"); everything else is skipped without being kept.
 */
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "import_internal.h"
#include "wtime.h"

/* One array element may be this large (a day of Timeline path, a huge Feature); bigger ones
 * are reported, not buffered without bound. */
#define ELEMENT_MAX (64u << 20)
#define READ_BLOCK  (1u << 16)
#define KEY_MAX     64

typedef int (*element_fn)(struct imp *imp, size_t dev, size_t key, struct json_object *o,
                          struct sink *json);
static int google_record(struct imp *imp, size_t dev, struct json_object *o, struct sink *s);

struct scanner {
    struct imp *imp;
    size_t dev;
    const char *path;
    const char *const *keys;
    size_t nkeys;
    element_fn fn;
    struct sink elem; /* the element being collected */
    struct sink json; /* scratch for the payload built from it */
    char key[KEY_MAX + 1];
    size_t keylen;
    int depth;      /* nesting: 1 inside the top-level object */
    int target;     /* index of the array being read, or -1 */
    int elem_depth; /* depth at which the current element started, 0: none */
    bool in_string, escaped, reading_key, after_colon, key_too_long;
    bool control_in_string; /* in the current element: RFC 8259 wants it escaped, json-c
                               takes it raw */
    uint64_t elements;
};

static int element_done(struct scanner *sc)
{
    struct json_tokener *tok = json_tokener_new_ex(64);
    struct json_object *o;
    int rc = 0;

    if (!tok)
        return -ENOMEM;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    o = json_tokener_parse_ex(tok, sc->elem.buf, (int)sc->elem.len);
    if (!o || json_tokener_get_parse_end(tok) != sc->elem.len)
        import_unreadable(sc->imp, sc->dev, "array element is not JSON");
    else if (sc->control_in_string)
        import_unreadable(sc->imp, sc->dev,
                          "array element is not JSON: control character in a string");
    else
        rc = sc->fn(sc->imp, sc->dev, (size_t)sc->target, o, &sc->json);
    json_object_put(o);
    json_tokener_free(tok);
    sc->elem.len = 0;
    sc->control_in_string = false;
    sc->elements++;
    return rc;
}

/* Feeds one block of the file to the scanner. */
static int scan(struct scanner *sc, const char *buf, size_t n)
{
    size_t start = 0; /* where the current element's bytes in this block begin */
    int rc = 0;

    for (size_t i = 0; i < n && rc == 0; i++) {
        char c = buf[i];
        if (sc->in_string) {
            if ((unsigned char)c < 0x20 && sc->elem_depth)
                sc->control_in_string = true;
            if (sc->reading_key && !sc->escaped && c != '"' && c != '\\') {
                if (sc->keylen < KEY_MAX)
                    sc->key[sc->keylen++] = c;
                else
                    sc->key_too_long = true;
            }
            if (sc->escaped)
                sc->escaped = false;
            else if (c == '\\')
                sc->escaped = true;
            else if (c == '"')
                sc->in_string = false;
            continue;
        }
        switch (c) {
        case '"':
            sc->in_string = true;
            /* a key of the top-level object: it starts at depth 1, before its colon */
            if (sc->depth == 1 && !sc->after_colon && sc->elem_depth == 0) {
                sc->reading_key = true;
                sc->keylen = 0;
                sc->key_too_long = false;
            } else {
                sc->reading_key = false;
            }
            break;
        case ':':
            if (sc->depth == 1)
                sc->after_colon = true;
            break;
        case ',':
            if (sc->depth == 1)
                sc->after_colon = false;
            break;
        case '{':
        case '[':
            if (sc->depth == 1 && sc->after_colon && c == '[') {
                sc->key[sc->keylen] = '\0';
                for (size_t k = 0; k < sc->nkeys && !sc->key_too_long; k++)
                    if (strcmp(sc->key, sc->keys[k]) == 0)
                        sc->target = (int)k;
            }
            sc->depth++;
            if (sc->target >= 0 && sc->depth == 3 && sc->elem_depth == 0) {
                sc->elem_depth = 3; /* an element of the target array begins */
                start = i;
            }
            break;
        case '}':
        case ']':
            sc->depth--;
            if (sc->elem_depth && sc->depth == 2) {
                sink_put(&sc->elem, buf + start, i + 1 - start);
                sc->elem_depth = 0;
                if (sc->elem.err)
                    return sc->elem.err;
                rc = element_done(sc);
            } else if (sc->target >= 0 && sc->depth == 1) {
                sc->target = -1; /* the target array ended */
            }
            if (sc->depth == 1)
                sc->after_colon = false;
            break;
        default: break;
        }
    }
    if (sc->elem_depth) { /* the element goes on in the next block */
        if (sc->elem.len + (n - start) > ELEMENT_MAX) {
            import_error(sc->imp, "%s: an array element larger than %u MiB", sc->path,
                         ELEMENT_MAX >> 20);
            return -E2BIG;
        }
        sink_put(&sc->elem, buf + start, n - start);
    }
    return rc ? rc : sc->elem.err;
}

static int stream_file(struct imp *imp, const char *path, size_t dev, const char *const *keys,
                       size_t nkeys, element_fn fn, uint64_t *elements)
{
    struct scanner sc = {
        .imp = imp, .dev = dev, .path = path, .keys = keys, .nkeys = nkeys, .fn = fn, .target = -1};
    char *buf = malloc(READ_BLOCK);
    FILE *f = fopen(path, "rb");
    struct stat st;
    int rc = 0;
    size_t n;

    if (!buf || !f) {
        if (!f)
            import_error(imp, "cannot read %s: %s", path, strerror(errno));
        free(buf);
        if (f)
            fclose(f);
        return f ? -ENOMEM : -EIO;
    }
    if (fstat(fileno(f), &st) == 0)
        imp->bytes_total += (uint64_t)st.st_size;
    imp->files++;
    if (sink_init_mem(&sc.elem, 4096) || sink_init_mem(&sc.json, 512)) {
        rc = -ENOMEM;
        goto out;
    }
    while (rc == 0 && (n = fread(buf, 1, READ_BLOCK, f)) > 0) {
        imp->bytes_done += n;
        rc = scan(&sc, buf, n);
        import_progress(imp);
    }
    if (rc == 0 && ferror(f)) {
        import_error(imp, "error reading %s: %s", path, strerror(errno));
        rc = -EIO;
    }
    if (rc == 0 && (sc.depth != 0 || sc.in_string)) {
        import_error(imp, "%s: the JSON ends in the middle (truncated file?)", path);
        rc = -EINVAL;
    }
out:
    *elements = sc.elements;
    sink_free(&sc.elem);
    sink_free(&sc.json);
    free(buf);
    fclose(f);
    return rc;
}

/* ---------------------------------------------------------------- building payloads */

/* A JSON value as written (json-c keeps the text of parsed numbers). */
static void put_value(struct sink *s, struct json_object *v)
{
    sink_puts(s, json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
                                                       JSON_C_TO_STRING_NOSLASHESCAPE));
}

static bool is_number(struct json_object *v)
{
    return json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double);
}

/* A time given as epoch seconds (number or digits), or ISO 8601 text. */
static bool read_time(struct json_object *v, int64_t *out)
{
    struct wtime t;
    if (is_number(v)) {
        double d = json_object_get_double(v);
        if (!isfinite(d) || d < WTIME_MIN || d >= WTIME_MAX + 1.0)
            return false; /* beyond what can be stored (and what an int64 holds) */
        *out = (int64_t)d;
        return true;
    }
    if (json_object_is_type(v, json_type_string) &&
        wtime_parse(json_object_get_string(v), &t) == 0) {
        *out = t.t;
        return true;
    }
    return false;
}

static void begin_location(struct sink *s, const char *lat, const char *lon, int64_t tst)
{
    s->len = 0;
    sink_puts(s, "{\"_type\":\"location\",\"lat\":");
    sink_puts(s, lat);
    sink_puts(s, ",\"lon\":");
    sink_puts(s, lon);
    sink_puts(s, ",\"tst\":");
    sink_put_i64(s, tst);
}

static int end_location(struct imp *imp, size_t dev, struct sink *s, int64_t tst)
{
    sink_putc(s, '}');
    return s->err ? s->err : import_feed(imp, dev, s->buf, s->len, tst);
}

/* ---------------------------------------------------------------- GeoJSON */

static const char *const time_keys[] = {"tst", "timestamp", "time", "isotst", "date"};

/* Properties that become the point's members, except the ones that say when (taken as tst),
 * the computed ones, and what the geometry says. */
static bool skip_property(const char *key)
{
    static const char *const skip[] = {"tst",   "timestamp", "time",       "isotst",
                                       "date",  "disptst",   "coordTimes", "times",
                                       "_type", "lat",       "lon"};
    for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
        if (strcmp(key, skip[i]) == 0)
            return true;
    return false;
}

static int geojson_point(struct imp *imp, size_t dev, struct json_object *coords,
                         struct json_object *props, struct json_object *when, struct sink *s)
{
    int64_t tst;
    struct json_object *lon = json_object_array_get_idx(coords, 0),
                       *lat = json_object_array_get_idx(coords, 1),
                       *alt = json_object_array_get_idx(coords, 2);
    if (!lon || !lat || !is_number(lon) || !is_number(lat)) {
        import_unreadable(imp, dev, "GeoJSON position without numeric coordinates");
        return 0;
    }
    if (!when || !read_time(when, &tst)) {
        import_unreadable(imp, dev, "GeoJSON point without a time");
        return 0;
    }
    begin_location(s, json_object_to_json_string(lat), json_object_to_json_string(lon), tst);
    bool has_alt = false;
    if (props && json_object_is_type(props, json_type_object)) {
        json_object_object_foreach(props, key, val)
        {
            if (skip_property(key))
                continue;
            has_alt |= strcmp(key, "alt") == 0;
            sink_putc(s, ',');
            sink_json_string(s, key, strlen(key));
            sink_putc(s, ':');
            put_value(s, val);
        }
    }
    if (alt && is_number(alt) && !has_alt) {
        sink_puts(s, ",\"alt\":");
        put_value(s, alt);
    }
    return end_location(imp, dev, s, tst);
}

static int geojson_feature(struct imp *imp, size_t dev, size_t key, struct json_object *f,
                           struct sink *s)
{
    struct json_object *geom, *type, *coords, *props = NULL, *when = NULL, *times = NULL;
    (void)key;
    if (!json_object_object_get_ex(f, "geometry", &geom) ||
        !json_object_object_get_ex(geom, "type", &type) ||
        !json_object_object_get_ex(geom, "coordinates", &coords) ||
        !json_object_is_type(coords, json_type_array)) {
        import_unreadable(imp, dev, "GeoJSON feature without a geometry");
        return 0;
    }
    json_object_object_get_ex(f, "properties", &props);
    for (size_t i = 0; props && !when && i < sizeof(time_keys) / sizeof(time_keys[0]); i++)
        json_object_object_get_ex(props, time_keys[i], &when);
    const char *t = json_object_get_string(type);
    if (strcmp(t, "Point") == 0)
        return geojson_point(imp, dev, coords, props, when, s);
    if (strcmp(t, "LineString") != 0) {
        import_unreadable(imp, dev, "GeoJSON geometry other than Point or LineString");
        return 0;
    }
    /* A LineString carries its times in a parallel array (togeojson's "coordTimes"). */
    if (props && !json_object_object_get_ex(props, "coordTimes", &times))
        json_object_object_get_ex(props, "times", &times);
    size_t n = json_object_array_length(coords);
    if (!times || !json_object_is_type(times, json_type_array) ||
        json_object_array_length(times) != n) {
        for (size_t i = 0; i < n; i++)
            import_unreadable(imp, dev, "GeoJSON LineString without a time for each point");
        return 0;
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = geojson_point(imp, dev, json_object_array_get_idx(coords, i), NULL,
                           json_object_array_get_idx(times, i), s);
    return rc;
}

int import_geojson(struct imp *imp, const char *path, const char *user, const char *device)
{
    static const char *const keys[] = {"features"};
    size_t dev = import_device(imp, user, device);
    uint64_t elements;
    if (dev == SIZE_MAX)
        return -ENOMEM;
    int rc = stream_file(imp, path, dev, keys, 1, geojson_feature, &elements);
    if (rc == 0 && elements == 0) {
        /* Not a FeatureCollection: a single Feature, read whole (it is small then). */
        struct json_object *o = json_object_from_file(path);
        struct sink s;
        if (!o || sink_init_mem(&s, 256)) {
            import_error(imp, "%s is not a GeoJSON FeatureCollection or Feature", path);
            rc = -EINVAL;
        } else {
            rc = geojson_feature(imp, dev, 0, o, &s);
            sink_free(&s);
        }
        json_object_put(o);
    }
    int frc = import_flush(imp);
    return rc ? rc : frc;
}

/* ---------------------------------------------------------------- Google */

/* "48.1371°, 11.5754°" (Timeline exports) into two number texts. */
static bool parse_degrees(const char *text, char *lat, char *lon, size_t size)
{
    char buf[128]; /* two coordinates with degree signs take less than 60 bytes */
    if (strlen(text) >= sizeof(buf))
        return false; /* not cut: the rest could make it other numbers */
    memcpy(buf, text, strlen(text) + 1);
    char *comma = strchr(buf, ',');
    if (!comma)
        return false;
    *comma = '\0';
    char *parts[2] = {buf, comma + 1}, *outs[2] = {lat, lon};
    for (int i = 0; i < 2; i++) {
        char *p = parts[i];
        while (*p == ' ')
            p++;
        char *deg = strstr(p, "\xC2\xB0"); /* the degree sign */
        if (deg)
            *deg = '\0';
        size_t n = strlen(p);
        while (n && p[n - 1] == ' ')
            p[--n] = '\0';
        char *end;
        double d = strtod(p, &end);
        if (n == 0 || n >= size || *end || !isfinite(d) || strspn(p, "-0123456789.") != n)
            return false;
        memcpy(outs[i], p, n + 1);
    }
    return true;
}

static void put_rounded(struct sink *s, const char *key, struct json_object *v, double scale)
{
    if (!v || !is_number(v))
        return;
    double d = json_object_get_double(v) * scale;
    if (!isfinite(d) || fabs(d) > 1e9)
        return;
    sink_printf(s, ",\"%s\":%.0f", key, d);
}

/* Takeout's Records.json: {"locations":[{"latitudeE7":..,"longitudeE7":..,...}]} */
static int google_record(struct imp *imp, size_t dev, struct json_object *o, struct sink *s)
{
    struct json_object *lat, *lon, *v;
    int64_t tst;
    if (!json_object_object_get_ex(o, "latitudeE7", &lat) ||
        !json_object_object_get_ex(o, "longitudeE7", &lon) ||
        !json_object_is_type(lat, json_type_int) || !json_object_is_type(lon, json_type_int)) {
        import_unreadable(imp, dev, "Google record without latitudeE7/longitudeE7");
        return 0;
    }
    if (json_object_object_get_ex(o, "timestamp", &v) && read_time(v, &tst)) {
        /* ISO 8601, newer exports */
    } else if (json_object_object_get_ex(o, "timestampMs", &v) &&
               (json_object_is_type(v, json_type_string) || is_number(v))) {
        const char *ms = json_object_get_string(v); /* older exports: milliseconds as text */
        if (strspn(ms, "0123456789") != strlen(ms) || strlen(ms) < 4 || strlen(ms) > 16) {
            import_unreadable(imp, dev, "Google record with an unreadable timestampMs");
            return 0;
        }
        tst = strtoll(ms, NULL, 10) / 1000;
    } else {
        import_unreadable(imp, dev, "Google record without a time");
        return 0;
    }
    char la[32], lo[32];
    struct sink t;
    /* E7 integers become exact decimals: 481371000 is 48.1371000 */
    if (sink_init_mem(&t, 64))
        return -ENOMEM;
    import_e7(&t, json_object_get_int64(lat));
    snprintf(la, sizeof(la), "%.*s", (int)t.len, t.buf);
    t.len = 0;
    import_e7(&t, json_object_get_int64(lon));
    snprintf(lo, sizeof(lo), "%.*s", (int)t.len, t.buf);
    sink_free(&t);
    begin_location(s, la, lo, tst);
    if (json_object_object_get_ex(o, "accuracy", &v))
        put_rounded(s, "acc", v, 1);
    if (json_object_object_get_ex(o, "altitude", &v))
        put_rounded(s, "alt", v, 1);
    if (json_object_object_get_ex(o, "verticalAccuracy", &v))
        put_rounded(s, "vac", v, 1);
    if (json_object_object_get_ex(o, "velocity", &v)) /* m/s; OwnTracks vel is km/h */
        put_rounded(s, "vel", v, 3.6);
    if (json_object_object_get_ex(o, "heading", &v))
        put_rounded(s, "cog", v, 1);
    return end_location(imp, dev, s, tst);
}

/* A position from the Timeline export: "point"/"LatLng" text and a time. */
static int timeline_position(struct imp *imp, size_t dev, struct json_object *where,
                             struct json_object *when, struct json_object *acc,
                             struct json_object *alt, struct json_object *speed, struct sink *s)
{
    char lat[48], lon[48];
    int64_t tst;
    if (!where || !json_object_is_type(where, json_type_string) ||
        !parse_degrees(json_object_get_string(where), lat, lon, sizeof(lat))) {
        import_unreadable(imp, dev, "Timeline position that does not read as \"lat°, lon°\"");
        return 0;
    }
    if (!when || !read_time(when, &tst)) {
        import_unreadable(imp, dev, "Timeline position without a time");
        return 0;
    }
    begin_location(s, lat, lon, tst);
    put_rounded(s, "acc", acc, 1);
    put_rounded(s, "alt", alt, 1);
    put_rounded(s, "vel", speed, 3.6);
    return end_location(imp, dev, s, tst);
}

static int google_element(struct imp *imp, size_t dev, size_t key, struct json_object *o,
                          struct sink *s)
{
    struct json_object *path, *pos, *a = NULL, *b = NULL, *c = NULL, *d = NULL, *e = NULL;
    int rc = 0;

    switch (key) {
    case 0: /* locations[] */ return google_record(imp, dev, o, s);
    case 1: /* semanticSegments[]: the timelinePath points; visits and activities are not */
        if (!json_object_object_get_ex(o, "timelinePath", &path) ||
            !json_object_is_type(path, json_type_array)) {
            import_ignored(imp, dev);
            return 0;
        }
        for (size_t i = 0; i < json_object_array_length(path) && rc == 0; i++) {
            struct json_object *p = json_object_array_get_idx(path, i);
            json_object_object_get_ex(p, "point", &a);
            json_object_object_get_ex(p, "time", &b);
            rc = timeline_position(imp, dev, a, b, NULL, NULL, NULL, s);
        }
        return rc;
    default: /* rawSignals[]: only positions (wifi scans and activities are not) */
        if (!json_object_object_get_ex(o, "position", &pos)) {
            import_ignored(imp, dev);
            return 0;
        }
        json_object_object_get_ex(pos, "LatLng", &a);
        json_object_object_get_ex(pos, "timestamp", &b);
        json_object_object_get_ex(pos, "accuracyMeters", &c);
        json_object_object_get_ex(pos, "altitudeMeters", &d);
        json_object_object_get_ex(pos, "speedMetersPerSecond", &e);
        return timeline_position(imp, dev, a, b, c, d, e, s);
    }
}

int import_google(struct imp *imp, const char *path, const char *user, const char *device)
{
    static const char *const keys[] = {"locations", "semanticSegments", "rawSignals"};
    size_t dev = import_device(imp, user, device);
    uint64_t elements;
    if (dev == SIZE_MAX)
        return -ENOMEM;
    int rc = stream_file(imp, path, dev, keys, 3, google_element, &elements);
    if (rc == 0 && elements == 0) {
        import_error(imp,
                     "%s holds no Google location history (no \"locations\", "
                     "\"semanticSegments\" or \"rawSignals\")",
                     path);
        rc = -EINVAL;
    }
    int frc = import_flush(imp);
    return rc ? rc : frc;
}
