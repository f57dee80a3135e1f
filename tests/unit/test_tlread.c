#include <criterion/criterion.h>
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <string.h>

#include "sink.h"
#include "timeline.h"
#include "tlread.h"
#include "zone.h"

/* 2024-05-03T06:41:00Z: 08:41 in Paris (summer time, +02:00). */
#define T0 1714718460

static struct zone *paris;
static struct sink out;

static void setup(void)
{
    cr_assert_eq(zone_open("Europe/Paris", &paris), 0, "the system knows Europe/Paris");
    cr_assert_eq(sink_init_mem(&out, 256), 0);
}

static void teardown(void)
{
    zone_unref(paris);
    sink_free(&out);
}

TestSuite(tlread, .init = setup, .fini = teardown);

static const char *text(void)
{
    sink_putc(&out, '\0');
    out.len--;
    return out.buf;
}

static struct tl_segment a_stay(void)
{
    return (struct tl_segment){.kind = TL_STAY,
                               .start = T0,
                               .end = T0 + 8 * 3600 + 29 * 60,
                               .points = 51,
                               .lat = 48.8584,
                               .lon = 2.2945,
                               .radius_m = 42,
                               .acc_m = NAN,
                               .end_lat = NAN,
                               .end_lon = NAN};
}

static struct tl_segment a_walk(void)
{
    return (struct tl_segment){.kind = TL_TRIP,
                               .mode = TL_MODE_WALKING,
                               .start = T0 - 39 * 60,
                               .end = T0,
                               .points = 80,
                               .lat = 48.85,
                               .lon = 2.35,
                               .end_lat = 48.8584,
                               .end_lon = 2.2945,
                               .distance_m = 2340,
                               .moving_s = 2200,
                               .top_speed_ms = 1.9};
}

Test(tlread, writes_local_times_with_their_offset)
{
    char iso[TLREAD_ISO_SIZE];
    tlread_iso(T0, zone_offset(paris, T0), iso);
    cr_expect_str_eq(iso, "2024-05-03T08:41:00+02:00");
    tlread_iso(T0, -(5 * 3600 + 30 * 60), iso);
    cr_expect_str_eq(iso, "2024-05-03T01:11:00-05:30");
    tlread_iso(1704067200, zone_offset(paris, 1704067200), iso); /* winter: +01:00 */
    cr_expect_str_eq(iso, "2024-01-01T01:00:00+01:00");
}

Test(tlread, a_stay_as_json_reads_back_with_every_member)
{
    struct tl_segment s = a_stay();
    tlread_segment_json(&out, &s, true, paris);
    struct json_object *o = json_tokener_parse(text()), *v;
    cr_assert_not_null(o, "valid JSON: %s", text());
    json_object_object_get_ex(o, "type", &v);
    cr_expect_str_eq(json_object_get_string(v), "stay");
    json_object_object_get_ex(o, "open", &v);
    cr_expect(json_object_get_boolean(v));
    json_object_object_get_ex(o, "isostart", &v);
    cr_expect_str_eq(json_object_get_string(v), "2024-05-03T08:41:00+02:00");
    json_object_object_get_ex(o, "isoend", &v);
    cr_expect_str_eq(json_object_get_string(v), "2024-05-03T17:10:00+02:00");
    json_object_object_get_ex(o, "duration", &v);
    cr_expect_eq(json_object_get_int64(v), 8 * 3600 + 29 * 60);
    json_object_object_get_ex(o, "lat", &v);
    cr_expect_float_eq(json_object_get_double(v), 48.8584, 1e-9);
    cr_expect(json_object_object_get_ex(o, "acc", &v) && v == NULL,
              "an unknown accuracy is null, not NaN");
    cr_expect(!json_object_object_get_ex(o, "mode", &v), "a stay has no mode");
    json_object_put(o);
}

Test(tlread, a_trip_as_json_has_its_speeds_and_ends)
{
    struct tl_segment s = a_walk();
    tlread_segment_json(&out, &s, false, paris);
    struct json_object *o = json_tokener_parse(text()), *v, *w;
    cr_assert_not_null(o, "valid JSON: %s", text());
    json_object_object_get_ex(o, "mode", &v);
    cr_expect_str_eq(json_object_get_string(v), "walking");
    json_object_object_get_ex(o, "distance", &v);
    cr_expect_eq(json_object_get_int(v), 2340);
    json_object_object_get_ex(o, "avg_speed", &v);
    cr_expect_float_eq(json_object_get_double(v), 1.0, 1e-9, "2340 m in 39 min");
    json_object_object_get_ex(o, "to", &v);
    json_object_object_get_ex(v, "lon", &w);
    cr_expect_float_eq(json_object_get_double(w), 2.2945, 1e-9);
    json_object_put(o);

    out.len = 0; /* negative numbers, rounding half away from zero, and never "-0.00" */
    s.lat = -33.8690004;
    s.end_lon = -0.1278;
    s.distance_m = 2339.5;
    s.top_speed_ms = -0.004;
    tlread_segment_json(&out, &s, false, NULL);
    cr_expect(strstr(text(), "\"from\":{\"lat\":-33.869000,") != NULL, "%s", text());
    cr_expect(strstr(text(), "\"lon\":-0.127800}") != NULL, "%s", text());
    cr_expect(strstr(text(), "\"distance\":2340,") != NULL, "%s", text());
    cr_expect(strstr(text(), "\"top_speed\":0.00,") != NULL, "%s", text());

    out.len = 0; /* a gap without a position before it says null */
    struct tl_segment g = {.kind = TL_GAP,
                           .start = T0,
                           .end = T0 + 7200,
                           .lat = NAN,
                           .lon = NAN,
                           .end_lat = 45.76,
                           .end_lon = 4.84};
    tlread_segment_json(&out, &g, false, NULL);
    o = json_tokener_parse(text());
    cr_assert_not_null(o, "valid JSON: %s", text());
    cr_expect(json_object_object_get_ex(o, "from", &v) && v == NULL);
    json_object_object_get_ex(o, "isostart", &v);
    cr_expect_str_eq(json_object_get_string(v), "2024-05-03T06:41:00+00:00", "no zone: UTC");
    json_object_put(o);
}

Test(tlread, the_list_for_people_reads_like_a_diary)
{
    struct tl_segment w = a_walk(), s = a_stay();
    tlread_segment_text(&out, &w, false, paris);
    tlread_segment_text(&out, &s, false, paris);
    cr_expect_str_eq(text(), "08:02\xe2\x80\x93"
                             "08:41  walk   2.3 km  39 min\n"
                             "08:41\xe2\x80\x93"
                             "17:10  stay   8 h 29 min  48.8584, 2.2945\n");
    out.len = 0;
    s.end = s.start + 20 * 3600; /* into the next day, and still going on */
    tlread_segment_text(&out, &s, true, paris);
    cr_expect_str_eq(text(), "08:41\xe2\x80\x93"
                             "04:41 (+1)  stay   20 h 0 min  48.8584, 2.2945  (open)\n");
}

Test(tlread, durations_for_people)
{
    char buf[32];
    cr_expect_str_eq(tlread_duration_text(59, buf, sizeof(buf)), "0 min");
    cr_expect_str_eq(tlread_duration_text(39 * 60 + 5, buf, sizeof(buf)), "39 min");
    cr_expect_str_eq(tlread_duration_text(3600, buf, sizeof(buf)), "1 h 0 min");
    cr_expect_str_eq(tlread_duration_text(2 * 86400 + 3 * 3600 + 59, buf, sizeof(buf)), "2 d 3 h");
    cr_expect_str_eq(tlread_duration_text(-5, buf, sizeof(buf)), "0 min");
}

Test(tlread, interpolates_in_time_and_the_short_way_round)
{
    double lat, lon;
    tlread_interpolate(100, 10, 20, 200, 20, 40, 125, &lat, &lon);
    cr_expect_float_eq(lat, 12.5, 1e-12);
    cr_expect_float_eq(lon, 25, 1e-12);
    tlread_interpolate(0, 0, 179, 100, 0, -179, 50, &lat, &lon); /* across the antimeridian */
    cr_expect(fabs(fabs(lon) - 180) < 1e-9, "lon %f is on the antimeridian", lon);
    tlread_interpolate(0, 0, 179, 100, 0, -179, 25, &lat, &lon);
    cr_expect_float_eq(lon, 179.5, 1e-9);
    tlread_interpolate(5, 1, 2, 5, 3, 4, 5, &lat, &lon); /* one instant: the first */
    cr_expect_float_eq(lat, 1, 1e-12);
}

Test(tlread, reads_groups_formats_and_local_days)
{
    struct request_error err;
    enum tlread_group g;
    enum tlread_format f;
    int64_t t = 42;
    cr_expect_eq(tlread_parse_group("month", &g, &err), 0);
    cr_expect_eq(g, TLREAD_MONTH);
    cr_expect_eq(tlread_parse_group(NULL, &g, &err), 0);
    cr_expect_eq(g, TLREAD_DAY);
    cr_expect_eq(tlread_parse_group("week", &g, &err), -EINVAL);
    cr_expect_str_eq(err.param, "group");
    cr_expect_eq(tlread_parse_format("text", false, &f, &err), -EINVAL, "text: the CLI's only");
    cr_expect_eq(tlread_parse_format("text", true, &f, &err), 0);
    cr_expect_eq(f, TLREAD_TEXT);

    /* A plain date is the local day; any other time stays what it named. */
    cr_expect_eq(tlread_local_bound("2024-05-03", "from", false, paris, &t, &err), 0);
    cr_expect_eq(t, 1714694400 - 7200);
    cr_expect_eq(tlread_local_bound("2024-05-03", "to", true, paris, &t, &err), 0);
    cr_expect_eq(t, 1714694400 + 86400 - 7200 - 1);
    cr_expect_eq(tlread_local_bound("2024-02", "to", true, paris, &t, &err), 0);
    cr_expect_eq(t, 1709247600 - 1, "the end of February 2024 in Paris (+01:00)");
    t = 42;
    cr_expect_eq(tlread_local_bound("2024-05-03T10:00Z", "from", false, paris, &t, &err), 0);
    cr_expect_eq(t, 42);
    cr_expect_eq(tlread_local_bound("2024-02-30", "from", false, paris, &t, &err), -EINVAL);
    cr_expect_str_eq(err.param, "from");

    cr_expect_eq(tlread_at_time("2024-05-03", "t", paris, &t, &err), 0);
    cr_expect_eq(t, 1714694400 - 7200);
    cr_expect_eq(tlread_at_time("3000-01-01", "t", paris, &t, &err), -EINVAL);
    cr_expect(strstr(err.why, "not within"), "%s", err.why);
    cr_expect_eq(tlread_at_time("soon", "t", paris, &t, &err), -EINVAL);
}

Test(tlread, a_live_event_wraps_the_segment)
{
    struct tl_segment s = a_stay();
    tlread_event_json(&out, "jane", "phone", TL_CLOSED, &s, paris);
    struct json_object *o = json_tokener_parse(text()), *v, *seg;
    cr_assert_not_null(o, "valid JSON: %s", text());
    json_object_object_get_ex(o, "_type", &v);
    cr_expect_str_eq(json_object_get_string(v), "timeline");
    json_object_object_get_ex(o, "event", &v);
    cr_expect_str_eq(json_object_get_string(v), "closed");
    json_object_object_get_ex(o, "segment", &seg);
    json_object_object_get_ex(seg, "open", &v);
    cr_expect(!json_object_get_boolean(v));
    json_object_put(o);
}
