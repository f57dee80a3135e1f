#include <criterion/criterion.h>
#include <errno.h>
#include <json-c/json.h>
#include <sodium.h>
#include <string.h>

#include "helpers.h"
#include "owntracks.h"

static const struct owntracks_keyring keys = {.lookup = fixture_key_lookup};
#define NOW 1764000000

static const char *outcome_name(enum owntracks_outcome o)
{
    return o == OWNTRACKS_ACCEPT ? "stored" : o == OWNTRACKS_IGNORE ? "ignored" : "rejected";
}

static void check_file(const char *name)
{
    size_t n;
    struct fixture *fx = fixtures_load(name, &n);
    cr_assert_gt(n, 0);
    for (size_t i = 0; i < n; i++) {
        struct owntracks_message msg;
        enum owntracks_outcome o = owntracks_parse_mqtt(&keys, fx[i].topic, fx[i].topic_len,
                                                        fx[i].payload, fx[i].len, NOW, &msg);
        cr_expect_str_eq(outcome_name(o), fx[i].expect, "%s:%d (%s): got %s (%s)", name, fx[i].line,
                         fx[i].note, outcome_name(o), msg.reason);
        if (o == OWNTRACKS_ACCEPT) {
            cr_expect_not_null(msg.root, "%s:%d: accepted message has its JSON", name, fx[i].line);
            cr_expect_str_empty(msg.reason);
        } else {
            cr_expect_null(msg.root, "%s:%d: nothing kept for a refused message", name, fx[i].line);
            cr_expect_str_not_empty(msg.reason, "%s:%d: a refusal says why", name, fx[i].line);
        }
        owntracks_message_clear(&msg);
    }
    fixtures_free(fx, n);
}

Test(owntracks, every_valid_fixture_gets_its_expected_outcome)
{
    check_file("valid.jsonl");
}

Test(owntracks, every_invalid_fixture_gets_its_expected_outcome)
{
    check_file("invalid.jsonl");
}

static enum owntracks_outcome parse(const char *topic, const char *payload,
                                    struct owntracks_message *msg)
{
    return owntracks_parse_mqtt(&keys, topic, strlen(topic), payload, strlen(payload), NOW, msg);
}

Test(owntracks, takes_user_and_device_from_the_topic_lowercased)
{
    struct owntracks_message m;
    cr_assert_eq(parse("/OwnTracks/Jane/iPhone",
                       "{\"_type\":\"location\",\"lat\":1,\"lon\":2,"
                       "\"tst\":1733061600}",
                       &m),
                 OWNTRACKS_ACCEPT, "%s", m.reason);
    cr_expect_str_eq(m.user, "jane");
    cr_expect_str_eq(m.device, "iphone");
    cr_expect_eq(m.kind, OWNTRACKS_LOCATION);
    cr_expect_eq(m.tst, 1733061600);
    cr_expect(m.tst_member);
    owntracks_message_clear(&m);
}

Test(owntracks, never_takes_ownership_from_the_payload)
{
    struct owntracks_message m;
    cr_assert_eq(parse("owntracks/jjolie/iphone",
                       "{\"_type\":\"location\",\"lat\":1,\"lon\":2,\"tst\":1733061600,"
                       "\"topic\":\"owntracks/admin/x\",\"username\":\"admin\"}",
                       &m),
                 OWNTRACKS_ACCEPT);
    cr_expect_str_eq(m.user, "jjolie");
    owntracks_message_clear(&m);
}

Test(owntracks, refuses_bad_topics_with_reasons)
{
    struct owntracks_message m;
    const char *bad[] = {"owntracks/jjolie", "owntracks//x",     "owntracks/a/b/",      "a/+/b",
                         "owntracks/../x",   "owntracks/a\\b/c", "owntracks/a/b//event"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_expect_eq(parse(bad[i], "{\"_type\":\"lwt\"}", &m), OWNTRACKS_REJECT, "topic %s",
                     bad[i]);
        cr_expect_str_not_empty(m.reason);
    }
    cr_expect_eq(parse("owntracks/a/b/unknown", "{\"_type\":\"lwt\"}", &m), OWNTRACKS_IGNORE);
    cr_expect_eq(parse("owntracks/a/b/event/x", "{\"_type\":\"lwt\"}", &m), OWNTRACKS_IGNORE);
}

Test(owntracks, normalises_names_and_refuses_bad_ones)
{
    char out[OWNTRACKS_NAME_MAX + 1];
    const char *why;
    cr_expect_eq(owntracks_normalize_name("Jöhn", strlen("Jöhn"), out, &why), 0);
    cr_expect_str_eq(out, "jöhn", "only ASCII is lowercased, UTF-8 is kept");
    char long_name[OWNTRACKS_NAME_MAX + 2];
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[OWNTRACKS_NAME_MAX + 1] = '\0';
    cr_expect_eq(owntracks_normalize_name(long_name, OWNTRACKS_NAME_MAX, out, &why), 0,
                 "64 bytes is allowed");
    cr_expect_eq(owntracks_normalize_name(long_name, OWNTRACKS_NAME_MAX + 1, out, &why), -EINVAL);
    cr_expect_eq(owntracks_normalize_name("a/b", 3, out, &why), -EINVAL);
    cr_expect_eq(owntracks_normalize_name("a\nb", 3, out, &why), -EINVAL);
    cr_expect_eq(owntracks_normalize_name("\xC0\xAF", 2, out, &why), -EINVAL);
}

Test(owntracks, validates_utf8_strictly)
{
    cr_expect(owntracks_utf8_valid("h\xC3\xA9", 3));
    cr_expect(owntracks_utf8_valid("\xF0\x9F\x9A\xB2", 4));
    cr_expect_not(owntracks_utf8_valid("\xC0\xAF", 2), "overlong");
    cr_expect_not(owntracks_utf8_valid("\xE0\x80\xAF", 3), "overlong 3-byte");
    cr_expect_not(owntracks_utf8_valid("\xED\xA0\x80", 3), "UTF-16 surrogate");
    cr_expect_not(owntracks_utf8_valid("\xF4\x90\x80\x80", 4), "above U+10FFFF");
    cr_expect_not(owntracks_utf8_valid("\xE2\x82", 2), "truncated");
    cr_expect_not(owntracks_utf8_valid("\xFF", 1));
}

Test(owntracks, normalises_legacy_string_tst_and_float_tst)
{
    struct owntracks_message m;
    cr_assert_eq(parse("owntracks/a/b",
                       "{\"_type\":\"location\",\"lat\":1,\"lon\":2,"
                       "\"tst\":\"1733061600\"}",
                       &m),
                 OWNTRACKS_ACCEPT);
    cr_expect_eq(m.tst, 1733061600);
    owntracks_message_clear(&m);
    cr_assert_eq(parse("owntracks/a/b",
                       "{\"_type\":\"location\",\"lat\":1,\"lon\":2,"
                       "\"tst\":1733061600.9}",
                       &m),
                 OWNTRACKS_ACCEPT);
    cr_expect_eq(m.tst, 1733061600, "fractional tst is truncated");
    owntracks_message_clear(&m);
}

Test(owntracks, dates_messages_without_tst_by_arrival)
{
    struct owntracks_message m;
    cr_assert_eq(parse("owntracks/a/b/status", "{\"_type\":\"status\",\"android\":{}}", &m),
                 OWNTRACKS_ACCEPT);
    cr_expect_eq(m.tst, NOW);
    cr_expect_not(m.tst_member);
    owntracks_message_clear(&m);
    cr_assert_eq(parse("owntracks/a/b/step", "{\"_type\":\"steps\",\"tst\":\"x\"}", &m),
                 OWNTRACKS_ACCEPT, "a bad optional tst does not drop a steps message");
    cr_expect_eq(m.tst, NOW);
    owntracks_message_clear(&m);
}

Test(owntracks, decrypts_the_protocol_test_vector)
{
    struct owntracks_message m;
    const char *payload = "{\"_type\":\"encrypted\",\"data\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYX"
                          "xUc6VZtFLwQ08IaOXo9OyNv2hFEi673vdntViQ9cMNc1+D0+oyr0ujPh1H9CxQ24xXVAo"
                          "AgBz6vRzPT/sY1hMewDAqnMQsYUPDU0H6Hy7ESgkfAWCNLS6OQ0tZXW+AA=\"}";
    cr_assert_eq(parse("owntracks/jjolie/iphone", payload, &m), OWNTRACKS_ACCEPT, "%s", m.reason);
    cr_expect_eq(m.kind, OWNTRACKS_LOCATION);
    cr_expect_eq(m.tst, 1733061600);
    cr_expect(m.decrypted);
    struct json_object *v;
    cr_assert(json_object_object_get_ex(m.root, "tid", &v));
    cr_expect_str_eq(json_object_get_string(v), "JJ");
    cr_assert(json_object_object_get_ex(m.root, "_decrypted", &v));
    cr_expect(json_object_get_boolean(v));
    owntracks_message_clear(&m);
    cr_expect_eq(parse("owntracks/john/pixel", payload, &m), OWNTRACKS_REJECT,
                 "no key for john/pixel");
}

Test(owntracks, encrypts_what_it_can_decrypt)
{
    struct owntracks_message m;
    const char *plain = "{\"_type\":\"lwt\",\"tst\":1733040000}";
    char *b64, payload[512];
    cr_assert_eq(sodium_init() < 0, 0);
    cr_assert_eq(
        owntracks_encrypt((const unsigned char *)"mysecreTpass01", 14, plain, strlen(plain), &b64),
        0);
    snprintf(payload, sizeof(payload), "{\"_type\":\"encrypted\",\"data\":\"%s\"}", b64);
    free(b64);
    cr_assert_eq(parse("owntracks/jjolie/iphone", payload, &m), OWNTRACKS_ACCEPT, "%s", m.reason);
    cr_expect_eq(m.kind, OWNTRACKS_LWT);
    owntracks_message_clear(&m);
}

Test(owntracks, marks_http_messages)
{
    struct owntracks_message m;
    const char *p = "{\"_type\":\"location\",\"lat\":1,\"lon\":2,\"tst\":1733061600}";
    cr_assert_eq(
        owntracks_parse_named(&keys, "Jane", "Phone", p, strlen(p), NOW, OWNTRACKS_VIA_HTTP, &m),
        OWNTRACKS_ACCEPT);
    cr_expect_str_eq(m.user, "jane");
    struct json_object *v;
    cr_expect(json_object_object_get_ex(m.root, "_http", &v) && json_object_get_boolean(v));
    owntracks_message_clear(&m);
    cr_expect_eq(
        owntracks_parse_named(&keys, "a/b", "c", p, strlen(p), NOW, OWNTRACKS_VIA_HTTP, &m),
        OWNTRACKS_REJECT);
}

Test(owntracks, accepts_json_with_surrounding_whitespace_only)
{
    struct owntracks_message m;
    cr_expect_eq(parse("owntracks/a/b", " {\"_type\":\"lwt\"}\r\n", &m), OWNTRACKS_ACCEPT);
    owntracks_message_clear(&m);
    cr_expect_eq(parse("owntracks/a/b", "{\"_type\":\"lwt\"} x", &m), OWNTRACKS_REJECT);
}

Test(owntracks, finds_duplicates_and_surrogates_in_nested_objects)
{
    struct owntracks_message m;
    cr_expect_eq(parse("owntracks/a/b", "{\"_type\":\"lwt\",\"x\":{\"a\":1,\"a\":2}}", &m),
                 OWNTRACKS_REJECT);
    cr_expect_eq(parse("owntracks/a/b", "{\"_type\":\"lwt\",\"x\":\"\\udc00\"}", &m),
                 OWNTRACKS_REJECT);
    cr_expect_eq(parse("owntracks/a/b", "{\"_type\":\"lwt\",\"x\":\"\\ud83d\\ude00\"}", &m),
                 OWNTRACKS_ACCEPT, "a proper surrogate pair is fine");
    owntracks_message_clear(&m);
    cr_expect_eq(
        parse("owntracks/a/b", "{\"_type\":\"lwt\",\"k\":\"a:b\",\"x\\\"\":\"\\\\u0000\"}", &m),
        OWNTRACKS_ACCEPT, "':' and escapes inside strings are not members or NULs");
    owntracks_message_clear(&m);
}

Test(owntracks, numbers_follow_the_json_grammar)
{
    /* json-c's strict mode lets some of these through; RFC 8259 does not. */
    static const char *const bad[] = {"52.", "1.e5", "1e", "1e+", "-1.E", "048.5", "-01"};
    static const char *const good[] = {"52.0", "1e5", "1E+5", "-1.5e-3", "0.5", "-0", "0e0"};
    char p[128];
    struct owntracks_message m;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(p, sizeof(p), "{\"_type\":\"lwt\",\"x\":%s}", bad[i]);
        cr_expect_eq(parse("owntracks/a/b", p, &m), OWNTRACKS_REJECT, "%s", bad[i]);
    }
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(p, sizeof(p), "{\"_type\":\"lwt\",\"x\":[%s]}", good[i]);
        cr_expect_eq(parse("owntracks/a/b", p, &m), OWNTRACKS_ACCEPT, "%s", good[i]);
        owntracks_message_clear(&m);
    }
}

Test(owntracks, refuses_raw_control_characters_in_strings)
{
    /* RFC 8259: U+0000..U+001F only escaped inside strings; json-c takes them raw. */
    static const char *const bad[] = {
        "{\"_type\":\"lwt\",\"x\":\"a\tb\"}",          "{\"_type\":\"lwt\",\"x\":\"a\nb\"}",
        "{\"_type\":\"lwt\",\"x\":\"\x01\"}",          "{\"_type\":\"lwt\",\"x\x1f\":1}",
        "{\"_type\":\"lwt\",\"x\":[\"ok\",\"\x1f\"]}", "{\"_type\":\"lwt\t\"}"};
    struct owntracks_message m;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_expect_eq(parse("owntracks/a/b", bad[i], &m), OWNTRACKS_REJECT, "case %zu", i);
        cr_expect(strstr(m.reason, "control character 0x") && strstr(m.reason, "in a string"),
                  "case %zu says why: %s", i, m.reason);
        cr_expect_null(m.root);
    }
    cr_expect_eq(parse("owntracks/a/b", "{\"_type\":\"lwt\",\"x\":\"a\tb\"}", &m),
                 OWNTRACKS_REJECT);
    cr_expect_str_eq(m.reason, "control character 0x09 in a string (JSON needs it escaped)");
    /* Between tokens they are whitespace, escaped they are text, and DEL is no control
     * character to JSON. */
    cr_expect_eq(parse("owntracks/a/b", "{\t\"_type\":\"lwt\",\r\n\"x\":\"a\\tb\\u001f\x7f\"}", &m),
                 OWNTRACKS_ACCEPT, "%s", m.reason);
    owntracks_message_clear(&m);
    const char *card = "{\"_type\":\"card\",\"name\":\"J\to\"}";
    cr_expect_eq(
        owntracks_parse_named(&keys, "a", "b", card, strlen(card), NOW, OWNTRACKS_VIA_HTTP, &m),
        OWNTRACKS_REJECT, "the HTTP door refuses them too");
}
