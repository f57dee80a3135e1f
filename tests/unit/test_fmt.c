#include <criterion/criterion.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fmt.h"
#include "helpers.h"
#include "pack.h"
#include "wl.h"

struct point {
    int64_t tst;
    struct sink packed;
};

static struct point make_point(int64_t tst, const char *members)
{
    char doc[1024];
    struct point p = {.tst = tst};
    snprintf(doc, sizeof(doc), "{\"_type\":\"location\",%s,\"tst\":%lld}", members, (long long)tst);
    struct json_object *o = json_tokener_parse(doc);
    cr_assert_not_null(o, "%s", doc);
    struct pack_encode_ctx ctx = {.type = "location", .tst = tst, .tst_member = true};
    sink_init_mem(&p.packed, 64);
    cr_assert_eq(pack_encode(&p.packed, o, &ctx), 0);
    json_object_put(o);
    return p;
}

/* Renders points with a format into a NUL-terminated string (caller frees). */
static char *render(enum fmt_kind kind, const struct fmt_options *opt, struct point *pts, size_t n)
{
    struct sink out;
    struct fmt_writer w;
    sink_init_mem(&out, 256);
    fmt_begin(&w, kind, &out, opt);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(fmt_point(&w, pts[i].tst, pts[i].packed.buf, pts[i].packed.len), 0);
    fmt_end(&w);
    sink_putc(&out, '\0');
    cr_assert_eq(out.err, 0);
    char *s = strdup(out.buf);
    sink_free(&out);
    return s;
}

/* Runs xmllint on the document; with a schema if xsd is not NULL. Returns its exit status. */
static int xmllint(const char *doc, const char *xsd)
{
    char path[300], cmd[1024];
    tmpdir_make(path, sizeof(path) - 16);
    char dirname[300];
    snprintf(dirname, sizeof(dirname), "%s", path);
    strcat(path, "/doc.xml");
    FILE *f = fopen(path, "w");
    fputs(doc, f);
    fclose(f);
    const char *tool = getenv("XMLLINT") ? getenv("XMLLINT") : "xmllint";
    if (xsd)
        snprintf(cmd, sizeof(cmd), "%s --noout --schema '%s' '%s' 2>&1", tool, xsd, path);
    else
        snprintf(cmd, sizeof(cmd), "%s --noout '%s' 2>&1", tool, path);
    int rc = system(cmd);
    tmpdir_remove(dirname);
    return rc;
}

static struct point track[6];

static void make_track(void)
{
    track[0] = make_point(1733061600, "\"lat\":48.856826,\"lon\":2.292713,\"alt\":36,"
                                      "\"tid\":\"J<&>\\\"'\",\"acc\":5,\"batt\":87");
    track[1] = make_point(1733061660, "\"lat\":-33.8688,\"lon\":180,\"alt\":-430");
    track[2] = make_point(1733061720, "\"lat\":0,\"lon\":-180.0,\"vel\":-1,\"image\":\"AAAA\"");
    /* two hours later: a new GPX segment */
    track[3] =
        make_point(1733068920, "\"lat\":4.8856826e1,\"lon\":2.292713E0,"
                               "\"tag\":\"a,b \\\"c\\\"\\nd\",\"inregions\":[\"Home\",\"x\"]");
    track[4] = make_point(1733068980, "\"lat\":90,\"lon\":179.999999,\"ctl\":\"\\u0001\"");
    track[5] = make_point(1733069040, "\"lat\":1e-40,\"lon\":1.5");
}

static void free_track(void)
{
    for (size_t i = 0; i < 6; i++)
        sink_free(&track[i].packed);
}

TestSuite(fmt, .init = make_track, .fini = free_track);

/* Reads GPX back with tests/tools/gpx_check.py (gpxpy and gpsbabel, and GPX 1.1's rules).
 * Returns its JSON answer ({"segments": [[{lat, lon, ele, time}...]...]}, caller puts it), or
 * NULL if the check failed; *why then holds its complaint. */
static struct json_object *gpx_read_back(const char *doc, char *why, size_t why_size)
{
    char dir[300], path[320], cmd[2048];
    const char *python = getenv("PYTHON"), *check = getenv("GPX_CHECK");
    cr_assert(python && check, "PYTHON and GPX_CHECK are set by tests/meson.build");
    tmpdir_make(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/doc.gpx", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(doc, f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "'%s' '%s' '%s' 2>&1", python, check, path);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    char *out = NULL;
    size_t cap = 0;
    ssize_t len = getdelim(&out, &cap, '\0', p);
    int status = pclose(p);
    tmpdir_remove(dir);
    snprintf(why, why_size, "%s", len > 0 ? out : "(no output)");
    struct json_object *o = status == 0 && len > 0 ? json_tokener_parse(out) : NULL;
    free(out);
    return o;
}

static struct json_object *gpx_point(struct json_object *segments, size_t seg, size_t i,
                                     const char *key)
{
    struct json_object *pt = json_object_array_get_idx(json_object_array_get_idx(segments, seg), i);
    cr_assert_not_null(pt, "segment %zu has a point %zu", seg, i);
    return json_object_object_get(pt, key);
}

Test(fmt, gpx_reads_back_and_splits_segments)
{
    char why[4096];
    struct json_object *o, *segs;
    cr_assert_null(gpx_read_back("<gpx version=\"1.1\"/>", why, sizeof(why)),
                   "the check itself can fail");
    struct fmt_options opt = {.user = "jane<&>", .device = "ph\"one"};
    char *gpx = render(FMT_GPX, &opt, track, 6);
    o = gpx_read_back(gpx, why, sizeof(why));
    cr_assert_not_null(o, "GPX must read back: %s\n%s", why, gpx);
    segs = json_object_object_get(o, "segments");
    cr_assert_eq(json_object_array_length(segs), 2, "a 2-hour gap starts a new segment");
    cr_expect_eq(json_object_array_length(json_object_array_get_idx(segs, 0)), 3);
    cr_expect_eq(json_object_array_length(json_object_array_get_idx(segs, 1)), 3);
    cr_expect_float_eq(json_object_get_double(gpx_point(segs, 0, 0, "lat")), 48.856826, 1e-9);
    cr_expect_str_eq(json_object_get_string(gpx_point(segs, 0, 0, "time")), "2024-12-01T14:00:00Z");
    cr_expect_float_eq(json_object_get_double(gpx_point(segs, 0, 1, "lon")), -180, 1e-9,
                       "180 is written as -180 (GPX range)");
    cr_expect_float_eq(json_object_get_double(gpx_point(segs, 0, 1, "ele")), -430, 1e-9);
    cr_expect_float_eq(json_object_get_double(gpx_point(segs, 1, 0, "lat")), 48.856826, 1e-9,
                       "exponent expanded");
    json_object_put(o);
    cr_expect_not_null(strstr(gpx, "lat=\"48.856826\" lon=\"2.292713\""), "exponent expanded");
    cr_expect_null(strstr(gpx, "e-"), "no exponent in xsd:decimal");
    free(gpx);

    char *empty = render(FMT_GPX, &opt, NULL, 0);
    o = gpx_read_back(empty, why, sizeof(why));
    cr_expect_not_null(o, "an empty track is a valid GPX too: %s\n%s", why, empty);
    json_object_put(o);
    free(empty);
}

/* The schema is not part of the repository (its file states no licence): the "shared" suite
 * runs this with ../shared/schemas/gpx-1.1.xsd when that sits beside the checkout. */
Test(fmt, gpx_validates_against_the_schema)
{
    const char *xsd = getenv("WHERELOG_GPX_XSD");
    if (!xsd)
        cr_skip_test("no GPX schema here: the shared-gpx-schema test runs this one");
    cr_assert_neq(xmllint("<gpx version=\"1.1\"/>", xsd), 0, "the check itself can fail");
    struct fmt_options opt = {.user = "jane<&>", .device = "ph\"one"};
    char *gpx = render(FMT_GPX, &opt, track, 6);
    cr_expect_eq(xmllint(gpx, xsd), 0, "GPX must validate:\n%s", gpx);
    free(gpx);
    char *empty = render(FMT_GPX, &opt, NULL, 0);
    cr_expect_eq(xmllint(empty, xsd), 0, "an empty track is a valid GPX too:\n%s", empty);
    free(empty);
}

Test(fmt, geojson_is_longitude_first_and_parses_back)
{
    char *doc = render(FMT_GEOJSON, NULL, track, 6);
    struct json_object *o = json_tokener_parse(doc), *features, *f0, *coords, *props, *v;
    cr_assert_not_null(o, "%s", doc);
    cr_assert(json_object_object_get_ex(o, "features", &features));
    cr_assert_eq(json_object_array_length(features), 6);
    f0 = json_object_array_get_idx(features, 0);
    cr_assert(
        json_object_object_get_ex(json_object_object_get(f0, "geometry"), "coordinates", &coords));
    cr_expect_float_eq(json_object_get_double(json_object_array_get_idx(coords, 0)), 2.292713,
                       1e-9);
    cr_expect_float_eq(json_object_get_double(json_object_array_get_idx(coords, 1)), 48.856826,
                       1e-9);
    cr_expect_eq(json_object_get_int(json_object_array_get_idx(coords, 2)), 36, "altitude");
    cr_assert(json_object_object_get_ex(f0, "properties", &props));
    cr_expect(json_object_object_get_ex(props, "tid", &v));
    cr_expect_str_eq(json_object_get_string(v), "J<&>\"'");
    cr_expect(json_object_object_get_ex(props, "isotst", &v));
    cr_expect_not(json_object_object_get_ex(props, "lat", &v), "geometry is not repeated");
    props = json_object_object_get(json_object_array_get_idx(features, 2), "properties");
    cr_expect_not(json_object_object_get_ex(props, "image", &v), "blobs stay out");
    json_object_put(o);
    free(doc);
}

Test(fmt, json_keeps_payloads_and_adds_times)
{
    char *doc = render(FMT_JSON, NULL, track, 6);
    struct json_object *o = json_tokener_parse(doc), *p, *v;
    cr_assert_not_null(o, "%s", doc);
    cr_assert_eq(json_object_array_length(o), 6);
    p = json_object_array_get_idx(o, 3);
    cr_expect(json_object_object_get_ex(p, "inregions", &v) && json_object_array_length(v) == 2);
    cr_expect(json_object_object_get_ex(p, "isotst", &v));
    cr_expect_str_eq(json_object_get_string(v), "2024-12-01T16:02:00Z");
    cr_expect(json_object_object_get_ex(p, "disptst", &v));
    cr_expect_str_eq(json_object_get_string(v), "2024-12-01 16:02:00");
    cr_expect(json_object_object_get_ex(json_object_array_get_idx(o, 4), "ctl", &v));
    cr_expect_str_eq(json_object_get_string(v), "\x01", "control characters survive escaping");
    json_object_put(o);
    free(doc);

    const char *fields[] = {"tst", "isotst", "lat", "nosuch"};
    struct fmt_options opt = {
        .recorder_envelope = true, .version = "1.0", .fields = fields, .nfields = 4};
    doc = render(FMT_JSON, &opt, track, 2);
    o = json_tokener_parse(doc);
    cr_assert_not_null(o, "%s", doc);
    cr_expect(json_object_object_get_ex(o, "count", &v) && json_object_get_int(v) == 2);
    cr_expect(json_object_object_get_ex(o, "status", &v) && json_object_get_int(v) == 200);
    p = json_object_array_get_idx(json_object_object_get(o, "data"), 0);
    cr_expect_eq(json_object_object_length(p), 3, "only the fields asked for: %s",
                 json_object_to_json_string(p));
    json_object_put(o);
    free(doc);

    doc = render(FMT_JSON, &opt, NULL, 0);
    o = json_tokener_parse(doc);
    cr_assert_not_null(o, "%s", doc);
    cr_expect(json_object_object_get_ex(o, "count", &v) && json_object_get_int(v) == 0,
              "count is there even when empty (unlike the Recorder)");
    json_object_put(o);
    free(doc);
}

Test(fmt, csv_quotes_per_rfc4180)
{
    char *doc = render(FMT_CSV, NULL, track, 6);
    cr_expect_eq(strncmp(doc, "tst,isotst,lat,lon,alt,acc,", 27), 0, "header line: %s", doc);
    cr_expect_not_null(strstr(doc, "\"J<&>\"\"'\""), "quotes doubled inside a quoted field");
    cr_expect_not_null(strstr(doc, "\"a,b \"\"c\"\"\nd\""), "comma, quote and newline quoted");
    cr_expect_not_null(strstr(doc, "\"[\"\"Home\"\",\"\"x\"\"]\""), "arrays as quoted JSON");
    const char *cols[] = {"tid", "lat", "tid", "nosuch", "inregions"};
    struct fmt_options opt = {.fields = cols, .nfields = 5};
    char *picked = render(FMT_CSV, &opt, track, 1);
    cr_expect_str_eq(picked,
                     "tid,lat,tid,nosuch,inregions\r\n\"J<&>\"\"'\",48.856826,"
                     "\"J<&>\"\"'\",,\r\n",
                     "chosen columns, one named twice: %s", picked);
    free(picked);
    size_t rows = 0;
    for (const char *p = doc; (p = strstr(p, "\r\n")); p += 2)
        rows++;
    cr_expect_eq(rows, 7, "header and six rows end in CRLF");
    free(doc);
}

Test(fmt, xml_is_well_formed_whatever_the_keys)
{
    struct point odd[2] = {
        make_point(1, "\"lat\":1,\"lon\":2,\"1bad\":1,\"a b\":2,\"xmlns\":3,\"ok\":\"<&>\""),
        make_point(2, "\"lat\":1,\"lon\":2,\"o\":{\"k\":[1,\"<\"]}")};
    char *doc = render(FMT_XML, NULL, odd, 2);
    cr_expect_eq(xmllint(doc, NULL), 0, "%s", doc);
    cr_expect_not_null(strstr(doc, "<ok>&lt;&amp;&gt;</ok>"));
    cr_expect_null(strstr(doc, "1bad"));
    free(doc);
    sink_free(&odd[0].packed);
    sink_free(&odd[1].packed);
}

Test(fmt, linestring_lists_positions)
{
    char *doc = render(FMT_LINESTRING, NULL, track, 2);
    struct json_object *o = json_tokener_parse(doc), *g, *c;
    cr_assert_not_null(o, "%s", doc);
    cr_assert(json_object_object_get_ex(o, "geometry", &g));
    cr_assert(json_object_object_get_ex(g, "coordinates", &c));
    cr_expect_eq(json_object_array_length(c), 2);
    json_object_put(o);
    free(doc);
}

Test(fmt, parses_format_names)
{
    enum fmt_kind k;
    cr_expect_eq(fmt_parse("gpx", &k), 0);
    cr_expect_eq(k, FMT_GPX);
    cr_expect_neq(fmt_parse("GPX", &k), 0, "names are case-sensitive, as in the Recorder");
    cr_expect_str_eq(fmt_content_type(FMT_GPX), "application/gpx+xml; charset=utf-8");
}

/* A point that fails to decode halfway leaves no trace, even when the fd sink's small buffer
 * had to flush while the point was being written: the output is byte for byte that of the
 * good points alone. */
Test(fmt, a_point_that_fails_halfway_is_taken_back_whole)
{
    const enum fmt_kind kinds[] = {FMT_JSON, FMT_GEOJSON,    FMT_GPX,
                                   FMT_CSV,  FMT_LINESTRING, FMT_XML};
    struct point good[2] = {track[0], track[3]};
    /* track[3] cut short: its members begin to decode, its last one does not */
    const struct point *bad = &track[3];

    for (size_t k = 0; k < WL_ARRAY_LEN(kinds); k++) {
        char *want = render(kinds[k], NULL, good, 2);
        FILE *f = tmpfile();
        cr_assert_not_null(f);
        struct sink out;
        struct fmt_writer w;
        cr_assert_eq(sink_init_fd(&out, fileno(f), 8), 0);
        fmt_begin(&w, kinds[k], &out, NULL);
        cr_assert_eq(fmt_point(&w, good[0].tst, good[0].packed.buf, good[0].packed.len), 0);
        cr_expect_eq(fmt_point(&w, bad->tst + 30, bad->packed.buf, bad->packed.len - 1),
                     WL_ECORRUPT, "format %zu refuses the cut record", k);
        cr_assert_eq(fmt_point(&w, good[1].tst, good[1].packed.buf, good[1].packed.len), 0);
        fmt_end(&w);
        cr_assert_eq(sink_flush(&out), 0);
        sink_free(&out);

        long size = ftell(f);
        char *got = calloc(1, (size_t)size + 1);
        rewind(f);
        cr_assert_eq(fread(got, 1, (size_t)size, f), (size_t)size);
        fclose(f);
        cr_expect_str_eq(got, want, "format %zu: the failed point left nothing behind", k);
        free(got);
        free(want);
    }
}
