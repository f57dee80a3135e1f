/*
 * Fuzz target: the OwnTracks parser (topic and payload, as MQTT delivers them) and, for what
 * it accepts, the packed encoding. Input: TOPIC '\n' PAYLOAD.
 *
 * Oracle beyond "no crash": an accepted message, packed and written back as JSON, must be
 * valid JSON that parses to an object, and packing that JSON again and writing it back gives
 * the same text (what we give back is stable: an export imported again is the same).
 */
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest.h"
#include "owntracks.h"
#include "pack.h"

/* Every device has a key, so the encrypted path is reached too. */
static int any_key(void *arg, const char *user, const char *device, unsigned char *secret)
{
    (void)arg;
    (void)user;
    (void)device;
    memcpy(secret, "mysecreTpass01", 14);
    return 14;
}

static void check_round_trip(const struct ingest_batch *b)
{
    const struct ingest_item *it = &b->items[0];
    const char *data = b->bytes.buf + it->data;
    const char *type = owntracks_kind_name(it->kind);
    struct sink json, again;

    if (sink_init_mem(&json, 256) || sink_init_mem(&again, 256))
        abort();
    sink_putc(&json, '{');
    if (pack_write_members_json(&json, data, it->data_len, it->tst, type, NULL) < 0)
        abort(); /* we wrote it: it must read */
    sink_putc(&json, '}');
    struct json_tokener *tok = json_tokener_new_ex(64);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    struct json_object *obj = json_tokener_parse_ex(tok, json.buf, (int)json.len);
    json_tokener_free(tok);
    if (!obj || !json_object_is_type(obj, json_type_object))
        abort(); /* what we give back must be JSON */
    /* As the parser decides it: "tst" is the record's tst when it is that number. */
    struct json_object *tst;
    struct pack_encode_ctx ctx = {.type = type,
                                  .tst = it->tst,
                                  .tst_member = json_object_object_get_ex(obj, "tst", &tst) &&
                                                json_object_is_type(tst, json_type_int) &&
                                                json_object_get_int64(tst) == it->tst};
    struct sink json2;
    if (sink_init_mem(&json2, 256))
        abort();
    if (pack_encode(&again, obj, &ctx) == 0) {
        sink_putc(&json2, '{');
        if (pack_write_members_json(&json2, again.buf, again.len, it->tst, type, NULL) < 0)
            abort();
        sink_putc(&json2, '}');
        if (json2.len != json.len || memcmp(json2.buf, json.buf, json.len) != 0)
            abort(); /* what we give back, stored again, reads back the same */
    }
    json_object_put(obj);
    sink_free(&json);
    sink_free(&json2);
    sink_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t topic_len = nl ? (size_t)(nl - data) : size;
    const uint8_t *payload = nl ? nl + 1 : data + size;
    size_t len = nl ? size - topic_len - 1 : 0;
    struct owntracks_keyring keys = {any_key, NULL};
    struct owntracks_message msg;
    struct ingest_batch b;

    if (ingest_batch_init(&b))
        return 0;
    if (owntracks_parse_mqtt(&keys, (const char *)data, topic_len, payload, len, 1700000000,
                             &msg) == OWNTRACKS_ACCEPT) {
        if (ingest_add(&b, &msg, "owntracks/u/d", 1700000000) == 0)
            check_round_trip(&b);
        owntracks_message_clear(&msg);
    }
    /* The same payload as HTTP mode would take it. */
    if (owntracks_parse_named(&keys, "user", "device", payload, len, 1700000000, OWNTRACKS_VIA_HTTP,
                              &msg) == OWNTRACKS_ACCEPT)
        owntracks_message_clear(&msg);
    ingest_batch_free(&b);
    return 0;
}
