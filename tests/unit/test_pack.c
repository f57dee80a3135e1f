#include <criterion/criterion.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "helpers.h"
#include "owntracks.h"
#include "pack.h"
#include "sink.h"
#include "wl.h"

const unsigned char *pack_dictionary_sorted(void); /* pack.c, for this test only */

static const struct owntracks_keyring keys = {.lookup = fixture_key_lookup};

Test(pack, dictionary_search_table_is_sorted_and_complete)
{
    const unsigned char *sorted = pack_dictionary_sorted();
    size_t n = pack_dictionary_size();
    unsigned char seen[256] = {0};
    for (size_t i = 0; i < n; i++) {
        cr_assert_lt(sorted[i], n);
        cr_expect_eq(seen[sorted[i]]++, 0, "index %u listed twice", sorted[i]);
        if (i > 0)
            cr_expect_lt(strcmp(pack_dictionary_key(sorted[i - 1]), pack_dictionary_key(sorted[i])),
                         0, "%s must sort before %s", pack_dictionary_key(sorted[i - 1]),
                         pack_dictionary_key(sorted[i]));
    }
    cr_expect_str_eq(pack_dictionary_key(PACK_KEY_LAT), "lat");
    cr_expect_str_eq(pack_dictionary_key(PACK_KEY_TID), "tid");
    cr_expect_str_eq(pack_dictionary_key(PACK_KEY_FACE), "face");
    cr_expect_str_eq(pack_dictionary_key(PACK_KEY_ISOTST), "isotst");
}

/* The members as JSON through the general reader and value writer, member by member: what
 * pack_write_members_json's shortcuts must reproduce byte for byte. */
static void write_members_generic(struct sink *out, const void *data, size_t len, int64_t tst,
                                  const char *type)
{
    struct pack_reader r;
    struct pack_value v;
    const char *key;
    size_t keylen;
    int rc, n = 0;
    cr_assert_eq(pack_open(&r, data, len, tst, type), 0);
    while ((rc = pack_next(&r, &key, &keylen, &v)) == 1) {
        if (n++)
            sink_putc(out, ',');
        pack_write_json_key(out, r.key_index, key, keylen);
        pack_write_value_json(out, &v, tst);
    }
    cr_assert_eq(rc, 0);
}

/* Encodes a message and decodes it back to JSON text (checking that both writers agree). */
static char *roundtrip(struct json_object *root, const char *type, int64_t tst, bool tst_member,
                       size_t *packed_len)
{
    struct sink packed, json, generic;
    struct pack_encode_ctx ctx = {.type = type, .tst = tst, .tst_member = tst_member};
    cr_assert_eq(sink_init_mem(&packed, 64), 0);
    cr_assert_eq(sink_init_mem(&json, 64), 0);
    cr_assert_eq(sink_init_mem(&generic, 64), 0);
    cr_assert_eq(pack_encode(&packed, root, &ctx), 0);
    if (packed_len)
        *packed_len = packed.len;
    sink_putc(&json, '{');
    cr_assert_geq(pack_write_members_json(&json, packed.buf, packed.len, tst, type, NULL), 0);
    sink_putc(&json, '}');
    sink_putc(&json, '\0');
    sink_putc(&generic, '{');
    write_members_generic(&generic, packed.buf, packed.len, tst, type);
    sink_putc(&generic, '}');
    sink_putc(&generic, '\0');
    cr_expect_str_eq(json.buf, generic.buf, "the export writer and the general writer agree");
    char *text = strdup(json.buf);
    sink_free(&packed);
    sink_free(&json);
    sink_free(&generic);
    return text;
}

Test(pack, keeps_every_member_of_every_fixture_in_order)
{
    const char *files[] = {"valid.jsonl", "invalid.jsonl"};
    size_t checked = 0, stored = 0;
    for (size_t f = 0; f < 2; f++) {
        size_t n;
        struct fixture *fx = fixtures_load(files[f], &n);
        for (size_t i = 0; i < n; i++) {
            struct owntracks_message m;
            stored += strcmp(fx[i].expect, "stored") == 0;
            if (owntracks_parse_mqtt(&keys, fx[i].topic, fx[i].topic_len, fx[i].payload, fx[i].len,
                                     1, &m) != OWNTRACKS_ACCEPT)
                continue;
            char *text = roundtrip(m.root, owntracks_kind_name(m.kind), m.tst, m.tst_member, NULL);
            struct json_object *back = json_tokener_parse(text);
            cr_assert_not_null(back, "%s:%d decodes to JSON: %s", files[f], fx[i].line, text);
            cr_expect_eq(json_object_object_length(back), json_object_object_length(m.root),
                         "%s:%d: same number of members", files[f], fx[i].line);
            struct json_object_iterator a = json_object_iter_begin(m.root),
                                        ae = json_object_iter_end(m.root),
                                        b = json_object_iter_begin(back);
            for (; !json_object_iter_equal(&a, &ae);
                 json_object_iter_next(&a), json_object_iter_next(&b)) {
                const char *key = json_object_iter_peek_name(&a);
                cr_expect_str_eq(json_object_iter_peek_name(&b), key, "%s:%d: member order",
                                 files[f], fx[i].line);
                struct json_object *va = json_object_iter_peek_value(&a),
                                   *vb = json_object_iter_peek_value(&b);
                if (strcmp(key, "tst") == 0 && m.tst_member) {
                    cr_expect_eq(json_object_get_int64(vb), m.tst, "tst normalised to integer");
                    continue;
                }
                cr_expect(json_object_equal(va, vb), "%s:%d: member %s: %s became %s", files[f],
                          fx[i].line, key, json_object_to_json_string(va),
                          json_object_to_json_string(vb));
            }
            json_object_put(back);
            free(text);
            owntracks_message_clear(&m);
            checked++;
        }
        fixtures_free(fx, n);
    }
    cr_expect_gt(stored, 0);
    cr_expect_eq(checked, stored, "every fixture expected to be stored was checked");
}

static void expect_number(const char *in, const char *out)
{
    char doc[256];
    snprintf(doc, sizeof(doc), "{\"x\":%s}", in);
    struct json_object *o = json_tokener_parse(doc);
    cr_assert_not_null(o, "%s parses", doc);
    char *text = roundtrip(o, NULL, 0, false, NULL);
    char want[256];
    snprintf(want, sizeof(want), "{\"x\":%s}", out);
    cr_expect_str_eq(text, want, "%s", in);
    free(text);
    json_object_put(o);
}

Test(pack, keeps_numbers_as_their_decimal_digits)
{
    expect_number("48.856826", "48.856826");
    expect_number("-0.127758", "-0.127758");
    expect_number("5.0", "5.0");
    expect_number("0.000001", "0.000001");
    expect_number("4.8856826e1", "48.856826");
    expect_number("2.292713E0", "2.292713");
    expect_number("1.7330872e9", "1733087200");
    expect_number("1e400", "1e400");
    expect_number("1.5e-40", "15e-41");
    expect_number("-0.0", "-0.0");
    expect_number("0", "0");
    expect_number("-1", "-1");
    expect_number("-32", "-32");
    expect_number("-33", "-33");
    expect_number("63", "63");
    expect_number("64", "64");
    expect_number("18446744073709551615", "18446744073709551615");
    expect_number("-9223372036854775808", "-9223372036854775808");
    expect_number("123456789012345678901.5", "123456789012345678901.5");
    expect_number("0.1234567890123456789012", "0.1234567890123456789012");
    /* integers are spelled out only while any JSON reader takes them as 64-bit integers */
    expect_number("1.5e17", "150000000000000000");
    expect_number("-0.083910e22", "-83910e16");
    expect_number("1e18", "1e18");
    expect_number("-0.00E2", "-0.0");
    /* the largest scale the short decimal form holds (31), and past it */
    expect_number("0.0000000000000000000000000000001", "0.0000000000000000000000000000001");
    expect_number("-0.0000000000001234567890123456789", "-0.0000000000001234567890123456789");
    expect_number("0.00000000000000000000000000000000012", "12e-35");
    /* more than 19 significant digits: kept as text */
    expect_number("-7.0000000000000000000000000000001", "-7.0000000000000000000000000000001");
    expect_number("18446744073709551615.5", "18446744073709551615.5");
    expect_number("-0.000", "-0.000");
    expect_number("99", "99");
    expect_number("100", "100");
}

Test(pack, keeps_strings_and_nesting)
{
    const char *doc = "{\"s\":\"caf\\u00e9 \\\"q\\\" \\n\",\"e\":\"\",\"l\":\""
                      "0123456789012345678901234567890123456789012345678901234567890\","
                      "\"a\":[1,[2,{\"k\":null}],true,false],\"o\":{}}";
    struct json_object *o = json_tokener_parse(doc);
    char *text = roundtrip(o, NULL, 0, false, NULL);
    struct json_object *back = json_tokener_parse(text);
    cr_expect(json_object_equal(o, back), "%s", text);
    json_object_put(back);
    json_object_put(o);
    free(text);
}

Test(pack, makes_a_typical_android_location_small)
{
    const char *doc = "{\"_type\":\"location\",\"_id\":\"e1c0f1a2\",\"acc\":12,\"alt\":48,"
                      "\"batt\":64,\"bs\":2,\"conn\":\"m\",\"created_at\":1733065210,"
                      "\"inregions\":[],\"inrids\":[],\"lat\":51.507351,\"lon\":-0.127758,"
                      "\"m\":1,\"t\":\"p\",\"tid\":\"JO\",\"tst\":1733065200,\"vac\":8,\"vel\":0}";
    struct json_object *o = json_tokener_parse(doc);
    size_t len;
    free(roundtrip(o, "location", 1733065200, true, &len));
    cr_expect_leq(len, 58, "%zu packed bytes for %zu bytes of JSON", len, strlen(doc));
    json_object_put(o);
}

Test(pack, finds_members_and_converts_numbers)
{
    struct json_object *o = json_tokener_parse("{\"lat\":-33.8688,\"n\":7,\"s\":\"x\"}");
    struct sink packed;
    struct pack_encode_ctx ctx = {0};
    struct pack_value v;
    double d;
    int64_t i;
    sink_init_mem(&packed, 64);
    cr_assert_eq(pack_encode(&packed, o, &ctx), 0);
    cr_assert_eq(pack_find(packed.buf, packed.len, 0, NULL, "lat", &v), 1);
    cr_expect(pack_to_double(&v, &d));
    cr_expect_eq(d, -33.8688, "exact double for a 4-decimal coordinate");
    cr_expect_not(pack_to_int(&v, &i));
    cr_assert_eq(pack_find(packed.buf, packed.len, 0, NULL, "n", &v), 1);
    cr_expect(pack_to_int(&v, &i) && i == 7);
    cr_expect_eq(pack_find(packed.buf, packed.len, 0, NULL, "missing", &v), 0);
    sink_free(&packed);
    json_object_put(o);
}

Test(pack, refuses_damaged_bytes_without_reading_past_them)
{
    struct json_object *o = json_tokener_parse(
        "{\"_type\":\"location\",\"lat\":1.5,\"x\":[1,{\"y\":\"zzzzzz\"}],\"unknown\":\"v\"}");
    struct sink packed, out;
    struct pack_encode_ctx ctx = {.type = "location"};
    sink_init_mem(&packed, 64);
    sink_init_mem(&out, 64);
    cr_assert_eq(pack_encode(&packed, o, &ctx), 0);
    /* Every truncation must decode to an error or a shorter object, never crash. */
    for (size_t cut = 0; cut < packed.len; cut++) {
        unsigned char *copy = malloc(cut ? cut : 1);
        memcpy(copy, packed.buf, cut);
        out.len = 0;
        int rc = pack_write_members_json(&out, copy, cut, 0, "location", NULL);
        cr_expect(rc < 0 || cut == packed.len, "truncated at %zu: %d", cut, rc);
        free(copy);
    }
    unsigned char bad[] = {1, 0, 0xEE};
    cr_expect_eq(pack_write_members_json(&out, bad, sizeof(bad), 0, "location", NULL), WL_ECORRUPT);
    sink_free(&packed);
    sink_free(&out);
    json_object_put(o);
}
