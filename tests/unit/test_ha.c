/* Home Assistant's discovery messages (ha.h): object ids, the config, state and attributes. */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <string.h>

#include "ha.h"
#include "pack.h"
#include "sink.h"

static void packed(struct sink *buf, const char *json, int64_t tst)
{
    struct json_object *o = json_tokener_parse(json);
    cr_assert(o, "test JSON parses");
    struct pack_encode_ctx ctx = {.type = "location", .tst = tst, .tst_member = true};
    cr_assert_eq(sink_init_mem(buf, 128), 0);
    cr_assert_eq(pack_encode(buf, o, &ctx), 0);
    json_object_put(o);
}

static void state_in(const char *place, const char *json, const char *want)
{
    struct sink buf;
    char state[STORE_PLACE_NAME_MAX + 1];
    packed(&buf, json, 1714694400);
    ha_state(state, sizeof(state), place, buf.buf, buf.len, 1714694400);
    cr_assert_str_eq(state, want, "%s in %s", json, place ? place : "no place");
    sink_free(&buf);
}

static void state_of(const char *json, const char *want)
{
    state_in(NULL, json, want);
}

Test(ha, state_follows_the_regions_the_phone_reports)
{
    state_of("{\"lat\":1,\"lon\":2,\"tst\":1714694400}", "not_home");
    state_of("{\"lat\":1,\"lon\":2,\"tst\":1714694400,\"inregions\":[]}", "not_home");
    state_of("{\"lat\":1,\"lon\":2,\"tst\":1714694400,\"inregions\":[\"Work\",\"HOME\"]}", "home");
    state_of("{\"lat\":1,\"lon\":2,\"tst\":1714694400,\"inregions\":[\"Work\",\"Town\"]}", "Work");
    state_of("{\"lat\":1,\"lon\":2,\"tst\":1714694400,\"inregions\":\"Home\"}", "not_home");
}

Test(ha, state_follows_the_wherelog_place_first)
{
    const char *work = "{\"lat\":1,\"lon\":2,\"tst\":1714694400,\"inregions\":[\"Work\"]}";
    state_in("HoMe", work, "home");
    state_in("Grandma's house", work, "Grandma's house");
    state_in("", work, "Work");
    state_in(NULL, "{\"lat\":1,\"lon\":2,\"tst\":1714694400}", "not_home");
    cr_assert(ha_is_home("Home", 4) && !ha_is_home("Homer", 5) && !ha_is_home("Hom", 3));
}

Test(ha, object_ids_are_safe_and_distinct)
{
    char a[HA_OBJECT_ID_MAX], b[HA_OBJECT_ID_MAX];
    ha_object_id(a, "jane", "car.1");
    ha_object_id(b, "jane", "car_1");
    cr_assert_neq(strcmp(a, b), 0, "names that clean up alike stay apart");
    for (const char *p = a; *p; p++)
        cr_assert(strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", *p),
                  "%s: only [a-zA-Z0-9_-]", a);
    cr_assert_eq(strncmp(a, "wherelog_jane_car_1_", 20), 0, "%s", a);
}

Test(ha, config_and_attributes_are_json)
{
    struct sink out, buf;
    cr_assert_eq(sink_init_mem(&out, 256), 0);
    ha_config_json(&out, "ja\"ne", "phone");
    sink_putc(&out, 0);
    struct json_object *o = json_tokener_parse(out.buf), *v, *dev;
    cr_assert(o, "config is JSON: %s", out.buf);
    cr_assert(json_object_object_get_ex(o, "state_topic", &v));
    cr_assert_str_eq(json_object_get_string(v), "wherelog/ha/ja\"ne/phone/state");
    cr_assert(json_object_object_get_ex(o, "device", &dev));
    cr_assert(json_object_object_get_ex(dev, "identifiers", &v) &&
              json_object_is_type(v, json_type_array));
    json_object_put(o);

    packed(&buf, "{\"lat\":48.85,\"lon\":2.29,\"acc\":12,\"batt\":9,\"tst\":1714694400}",
           1714694400);
    out.len = 0;
    ha_attributes_json(&out, NULL, buf.buf, buf.len, 1714694400);
    sink_putc(&out, 0);
    o = json_tokener_parse(out.buf);
    cr_assert(o, "attributes are JSON: %s", out.buf);
    cr_assert(json_object_object_get_ex(o, "latitude", &v) && json_object_get_double(v) == 48.85);
    cr_assert(json_object_object_get_ex(o, "gps_accuracy", &v) && json_object_get_int(v) == 12);
    cr_assert(json_object_object_get_ex(o, "battery_level", &v) && json_object_get_int(v) == 9);
    cr_assert(!json_object_object_get_ex(o, "place", &v), "no place: no attribute");
    json_object_put(o);

    out.len = 0;
    ha_attributes_json(&out, "Caf\xc3\xa9 \"Nord\"", buf.buf, buf.len, 1714694400);
    sink_putc(&out, 0);
    o = json_tokener_parse(out.buf);
    cr_assert(o, "attributes with a place are JSON: %s", out.buf);
    cr_assert(json_object_object_get_ex(o, "place", &v) &&
                  strcmp(json_object_get_string(v), "Caf\xc3\xa9 \"Nord\"") == 0,
              "the place's name: %s", out.buf);
    json_object_put(o);
    sink_free(&buf);
    sink_free(&out);
}
