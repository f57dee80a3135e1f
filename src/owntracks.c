#include "owntracks.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wtime.h"

static const char *const kind_names[OWNTRACKS_KIND_COUNT] = {
    [OWNTRACKS_LOCATION] = "location",
    [OWNTRACKS_TRANSITION] = "transition",
    [OWNTRACKS_WAYPOINT] = "waypoint",
    [OWNTRACKS_WAYPOINTS] = "waypoints",
    [OWNTRACKS_CARD] = "card",
    [OWNTRACKS_LWT] = "lwt",
    [OWNTRACKS_STATUS] = "status",
    [OWNTRACKS_STEPS] = "steps",
    [OWNTRACKS_BEACON] = "beacon",
    [OWNTRACKS_CMD] = "cmd",
    [OWNTRACKS_CONFIGURATION] = "configuration",
};

/* Subtopics the apps publish on (protocol §2.2); anything else is not a device message. */
static const char *const subtopics[] = {"event", "info",   "waypoint", "waypoints", "cmd",
                                        "step",  "beacon", "dump",     "status",    "request"};

const char *owntracks_kind_name(enum owntracks_kind kind)
{
    return kind < OWNTRACKS_KIND_COUNT ? kind_names[kind] : "unknown";
}

int owntracks_kind_from_name(const char *name)
{
    for (int k = 0; k < OWNTRACKS_KIND_COUNT; k++)
        if (strcmp(kind_names[k], name) == 0)
            return k;
    return -1;
}

static enum owntracks_outcome verdict(struct owntracks_message *msg, enum owntracks_outcome o,
                                      const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static enum owntracks_outcome verdict(struct owntracks_message *msg, enum owntracks_outcome o,
                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg->reason, sizeof(msg->reason), fmt, ap);
    va_end(ap);
    if (msg->root) {
        json_object_put(msg->root);
        msg->root = NULL;
    }
    return o;
}

void owntracks_message_clear(struct owntracks_message *msg)
{
    if (msg->root)
        json_object_put(msg->root);
    msg->root = NULL;
}

bool owntracks_utf8_valid(const void *buf, size_t len)
{
    const unsigned char *s = buf, *end = s + len;

    while (s < end) {
        unsigned char c = *s;
        if (c < 0x80) {
            s++;
            continue;
        }
        size_t n;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false; /* continuation byte, overlong lead C0/C1, or F5..FF */
        }
        if ((size_t)(end - s) <= n)
            return false;
        for (size_t i = 1; i <= n; i++) {
            if ((s[i] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        s += n + 1;
    }
    return true;
}

int owntracks_normalize_name(const char *name, size_t len, char *out, const char **why)
{
    if (len == 0) {
        *why = "empty name";
        return -EINVAL;
    }
    if (len > OWNTRACKS_NAME_MAX) {
        *why = "name longer than 64 bytes";
        return -EINVAL;
    }
    if (!owntracks_utf8_valid(name, len)) {
        *why = "name is not valid UTF-8";
        return -EINVAL;
    }
    if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.')) {
        *why = "name is '.' or '..'";
        return -EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f) {
            *why = "control character in name";
            return -EINVAL;
        }
        if (c == '\\' || c == '/' || c == '+' || c == '#') {
            *why = "name contains '\\', '/', '+' or '#'";
            return -EINVAL;
        }
        /* ASCII only, as OwnTracks Recorder does: the same device whatever the case. */
        out[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    }
    out[len] = '\0';
    return 0;
}

/* ---------------------------------------------------------------- JSON */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_number_char(char c)
{
    return is_digit(c) || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-';
}

/*
 * json-c validates the syntax; what it cannot tell us is checked on the raw text:
 * duplicate keys (json-c keeps the last one silently), "\u0000" (json-c truncates keys at
 * it), lone surrogate escapes, and what json-c's strict mode lets through: NaN, Infinity,
 * leading zeros in fractional numbers ("048.5"), fractions or exponents without digits
 * ("52.", "1.e5"), and raw control characters (U+0000..U+001F) inside strings, which
 * RFC 8259 allows only escaped. Every ':' outside a string introduces one object member,
 * so the text has duplicates exactly when it holds more members than the tree.
 * Returns 0, or -EINVAL with the reason in `why`.
 */
static int scan_text(const char *s, size_t len, size_t *members, char *why, size_t why_size)
{
    bool in_string = false;
    bool want_low = false; /* the previous escape was a high surrogate */
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!in_string) {
            if (c == '"') {
                in_string = true;
            } else if (c == ':') {
                n++;
            } else if (c == 'N' || c == 'I') {
                /* json-c accepts these even in strict mode; valid JSON has no other bare
                 * word starting with them */
                snprintf(why, why_size, "NaN or Infinity is not JSON");
                return -EINVAL;
            } else if (c == '-' || (c >= '0' && c <= '9')) {
                /* a number: json-c lets "048.5" and "52." through */
                size_t d = c == '-' ? i + 1 : i;
                if (d + 1 < len && s[d] == '0' && is_digit(s[d + 1])) {
                    snprintf(why, why_size, "number with a leading zero");
                    return -EINVAL;
                }
                while (i + 1 < len && is_number_char(s[i + 1])) {
                    i++;
                    if ((s[i] == '.' || s[i] == 'e' || s[i] == 'E') &&
                        !(i + 1 < len && (is_digit(s[i + 1]) ||
                                          (s[i] != '.' && (s[i + 1] == '+' || s[i + 1] == '-') &&
                                           i + 2 < len && is_digit(s[i + 2]))))) {
                        snprintf(why, why_size, "number without digits after its '.' or exponent");
                        return -EINVAL;
                    }
                }
            }
            continue;
        }
        if ((unsigned char)c < 0x20) {
            /* no byte offset: an import tallies rejections by reason */
            snprintf(why, why_size, "control character 0x%02X in a string (JSON needs it escaped)",
                     (unsigned char)c);
            return -EINVAL;
        }
        if (c == '"') {
            if (want_low)
                goto lone;
            in_string = false;
        } else if (c == '\\') {
            if (i + 1 >= len)
                break;
            char e = s[++i];
            if (e != 'u') {
                if (want_low)
                    goto lone;
                continue;
            }
            unsigned cu = 0;
            if (i + 4 >= len)
                break;
            for (int k = 0; k < 4; k++) {
                char h = s[++i];
                cu = cu * 16 + (unsigned)(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
            }
            if (cu == 0) {
                snprintf(why, why_size, "NUL (\\u0000) in a string");
                return -EINVAL;
            }
            if (cu >= 0xDC00 && cu <= 0xDFFF) {
                if (!want_low)
                    goto lone;
                want_low = false;
            } else if (want_low) {
                goto lone;
            } else if (cu >= 0xD800 && cu <= 0xDBFF) {
                want_low = true;
            }
        } else if (want_low) {
            goto lone;
        }
    }
    *members = n;
    return 0;
lone:
    snprintf(why, why_size, "lone UTF-16 surrogate escape");
    return -EINVAL;
}

static size_t tree_members(struct json_object *v)
{
    size_t n = 0;
    if (json_object_is_type(v, json_type_object)) {
        n = (size_t)json_object_object_length(v);
        json_object_object_foreach(v, key, val)
        {
            (void)key;
            n += tree_members(val);
        }
    } else if (json_object_is_type(v, json_type_array)) {
        size_t len = json_object_array_length(v);
        for (size_t i = 0; i < len; i++)
            n += tree_members(json_object_array_get_idx(v, i));
    }
    return n;
}

/* A tokener costs a few allocations to make: each thread keeps one, freed when it exits. */
static pthread_key_t tokener_key;
static pthread_once_t tokener_once = PTHREAD_ONCE_INIT;

static void tokener_free(void *tok)
{
    json_tokener_free(tok);
}

static void tokener_key_create(void)
{
    if (pthread_key_create(&tokener_key, tokener_free) != 0)
        abort(); /* only when the process is out of keys: a programming error */
}

static struct json_tokener *thread_tokener(void)
{
    pthread_once(&tokener_once, tokener_key_create);
    struct json_tokener *tok = pthread_getspecific(tokener_key);
    if (tok) {
        json_tokener_reset(tok);
        return tok;
    }
    if (!(tok = json_tokener_new_ex(OWNTRACKS_JSON_DEPTH)))
        return NULL;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    if (pthread_setspecific(tokener_key, tok) != 0) {
        json_tokener_free(tok);
        return NULL;
    }
    return tok;
}

static enum owntracks_outcome parse_json(const void *payload, size_t len,
                                         struct owntracks_message *msg)
{
    const char *text = payload;
    char why[OWNTRACKS_REASON_MAX];
    size_t members;

    if (len > OWNTRACKS_PAYLOAD_MAX)
        return verdict(msg, OWNTRACKS_REJECT, "payload of %zu bytes exceeds the 1 MiB limit", len);
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        return verdict(msg, OWNTRACKS_REJECT, "payload starts with a byte order mark");
    if (!owntracks_utf8_valid(text, len))
        return verdict(msg, OWNTRACKS_REJECT, "payload is not valid UTF-8");

    struct json_tokener *tok = thread_tokener();
    if (!tok) {
        msg->retry = true;
        return verdict(msg, OWNTRACKS_REJECT, "out of memory parsing JSON");
    }
    msg->root = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error err = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);

    if (!msg->root) {
        if (err == json_tokener_continue)
            return verdict(msg, OWNTRACKS_REJECT, "truncated JSON");
        if (err == json_tokener_error_depth)
            return verdict(msg, OWNTRACKS_REJECT, "JSON nested deeper than %d",
                           OWNTRACKS_JSON_DEPTH);
        return verdict(msg, OWNTRACKS_REJECT, "not JSON: %s at byte %zu",
                       json_tokener_error_desc(err), end);
    }
    for (size_t i = end; i < len; i++) {
        char c = text[i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            return verdict(msg, OWNTRACKS_REJECT, "trailing data after the JSON value at byte %zu",
                           i);
    }
    if (scan_text(text, end, &members, why, sizeof(why)) != 0)
        return verdict(msg, OWNTRACKS_REJECT, "%s", why);
    if (members != tree_members(msg->root))
        return verdict(msg, OWNTRACKS_REJECT, "duplicate key in JSON object");
    if (!json_object_is_type(msg->root, json_type_object))
        return verdict(msg, OWNTRACKS_REJECT, "top-level JSON value is not an object");
    return OWNTRACKS_ACCEPT;
}

/* ---------------------------------------------------------------- fields */

static bool is_number(struct json_object *v)
{
    return json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double);
}

/* A coordinate: required or optional, a finite JSON number within ±limit. */
static enum owntracks_outcome check_coord(struct owntracks_message *msg, const char *key,
                                          double limit, bool required)
{
    struct json_object *v;
    if (!json_object_object_get_ex(msg->root, key, &v)) {
        if (required)
            return verdict(msg, OWNTRACKS_REJECT, "%s missing", key);
        return OWNTRACKS_ACCEPT;
    }
    if (!is_number(v))
        return verdict(msg, OWNTRACKS_REJECT, "%s is not a number", key);
    double d = json_object_get_double(v);
    if (!isfinite(d) || d < -limit || d > limit)
        return verdict(msg, OWNTRACKS_REJECT, "%s %s out of range", key,
                       json_object_to_json_string(v));
    return OWNTRACKS_ACCEPT;
}

/*
 * tst: a JSON number (truncated to whole seconds) or, for legacy payloads, a string of ASCII
 * digits; within [WTIME_MIN, WTIME_MAX], which also catches milliseconds and overflow.
 * Returns 0 with the value, -ENOENT when absent, -EINVAL with a reason otherwise.
 */
static int read_tst(struct json_object *root, int64_t *out, char *why, size_t why_size)
{
    struct json_object *v;
    int64_t tst = 0;

    if (!json_object_object_get_ex(root, "tst", &v))
        return -ENOENT;
    if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        size_t n = (size_t)json_object_get_string_len(v);
        if (n == 0 || n > 12 || strspn(s, "0123456789") != n) {
            snprintf(why, why_size, "tst is a non-numeric string");
            return -EINVAL;
        }
        for (size_t i = 0; i < n; i++)
            tst = tst * 10 + (s[i] - '0');
    } else if (json_object_is_type(v, json_type_int)) {
        tst = json_object_get_int64(v);
    } else if (json_object_is_type(v, json_type_double)) {
        double d = json_object_get_double(v);
        tst = isfinite(d) && d >= WTIME_MIN && d < WTIME_MAX + 1.0 ? (int64_t)d : 0;
    } else {
        snprintf(why, why_size, "tst is not a number");
        return -EINVAL;
    }
    if (tst < WTIME_MIN || tst > WTIME_MAX) {
        snprintf(why, why_size, "tst %.40s out of range", json_object_to_json_string(v));
        return -EINVAL;
    }
    *out = tst;
    return 0;
}

static enum owntracks_outcome check_tst(struct owntracks_message *msg, bool required)
{
    char why[OWNTRACKS_REASON_MAX];
    int rc = read_tst(msg->root, &msg->tst, why, sizeof(why));

    if (rc == -ENOENT)
        return required ? verdict(msg, OWNTRACKS_REJECT, "tst missing") : OWNTRACKS_ACCEPT;
    if (rc)
        return verdict(msg, OWNTRACKS_REJECT, "%s", why);
    msg->tst_member = true;
    return OWNTRACKS_ACCEPT;
}

static enum owntracks_outcome check_radius(struct owntracks_message *msg)
{
    struct json_object *v;
    if (!json_object_object_get_ex(msg->root, "rad", &v))
        return OWNTRACKS_ACCEPT;
    if (!is_number(v) || !isfinite(json_object_get_double(v)) || json_object_get_double(v) < 0)
        return verdict(msg, OWNTRACKS_REJECT, "rad is not a non-negative number");
    return OWNTRACKS_ACCEPT;
}

#define CHECK(expr)                                                                                \
    do {                                                                                           \
        enum owntracks_outcome o_ = (expr);                                                        \
        if (o_ != OWNTRACKS_ACCEPT)                                                                \
            return o_;                                                                             \
    } while (0)

static enum owntracks_outcome check_kind(struct owntracks_message *msg)
{
    struct json_object *v;

    switch (msg->kind) {
    case OWNTRACKS_LOCATION:
        CHECK(check_coord(msg, "lat", 90, true));
        CHECK(check_coord(msg, "lon", 180, true));
        return check_tst(msg, true);
    case OWNTRACKS_TRANSITION:
        if (!json_object_object_get_ex(msg->root, "event", &v) ||
            !json_object_is_type(v, json_type_string) ||
            (strcmp(json_object_get_string(v), "enter") != 0 &&
             strcmp(json_object_get_string(v), "leave") != 0))
            return verdict(msg, OWNTRACKS_REJECT, "transition event is not \"enter\" or \"leave\"");
        CHECK(check_coord(msg, "lat", 90, false));
        CHECK(check_coord(msg, "lon", 180, false));
        return check_tst(msg, true);
    case OWNTRACKS_WAYPOINT:
        if (!json_object_object_get_ex(msg->root, "desc", &v) ||
            !json_object_is_type(v, json_type_string))
            return verdict(msg, OWNTRACKS_REJECT, "waypoint desc missing or not a string");
        CHECK(check_coord(msg, "lat", 90, false));
        CHECK(check_coord(msg, "lon", 180, false));
        CHECK(check_radius(msg));
        return check_tst(msg, true);
    case OWNTRACKS_WAYPOINTS:
        if (!json_object_object_get_ex(msg->root, "waypoints", &v) ||
            !json_object_is_type(v, json_type_array))
            return verdict(msg, OWNTRACKS_REJECT, "waypoints is not an array");
        return OWNTRACKS_ACCEPT;
    case OWNTRACKS_LWT: return check_tst(msg, false);
    default:
        /* card, cmd, steps, status, configuration, beacon: stored as they are. A usable
         * tst dates them; without one they are dated by their arrival. */
        {
            char why[OWNTRACKS_REASON_MAX];
            msg->tst_member = read_tst(msg->root, &msg->tst, why, sizeof(why)) == 0;
        }
        return OWNTRACKS_ACCEPT;
    }
}

/* ---------------------------------------------------------------- encryption */

int owntracks_encrypt(const unsigned char *secret, size_t secret_len, const void *plain, size_t len,
                      char **b64_out)
{
    unsigned char key[crypto_secretbox_KEYBYTES] = {0};
    size_t blob_len = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + len;
    unsigned char *blob = malloc(blob_len);
    size_t b64_len = sodium_base64_encoded_len(blob_len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(b64_len);
    int rc = -ENOMEM;

    if (!blob || !b64)
        goto out;
    memcpy(key, secret, secret_len < sizeof(key) ? secret_len : sizeof(key));
    randombytes_buf(blob, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(blob + crypto_secretbox_NONCEBYTES, plain, len, blob, key);
    sodium_bin2base64(b64, b64_len, blob, blob_len, sodium_base64_VARIANT_ORIGINAL);
    *b64_out = b64;
    b64 = NULL;
    rc = 0;
out:
    sodium_memzero(key, sizeof(key));
    free(blob);
    free(b64);
    return rc;
}

static enum owntracks_outcome classify(const struct owntracks_keyring *keys, const void *payload,
                                       size_t len, int64_t now, bool nested,
                                       struct owntracks_message *msg);

static enum owntracks_outcome decrypt(const struct owntracks_keyring *keys, int64_t now,
                                      struct owntracks_message *msg)
{
    struct json_object *data;
    unsigned char secret[OWNTRACKS_SECRET_MAX];
    unsigned char key[crypto_secretbox_KEYBYTES] = {0};
    unsigned char *blob = NULL, *plain = NULL;
    size_t blob_len;
    enum owntracks_outcome o;

    if (!json_object_object_get_ex(msg->root, "data", &data))
        return verdict(msg, OWNTRACKS_REJECT, "encrypted message without data");
    if (!json_object_is_type(data, json_type_string))
        return verdict(msg, OWNTRACKS_REJECT, "encrypted data is not a string");

    const char *b64 = json_object_get_string(data);
    size_t b64_len = (size_t)json_object_get_string_len(data);
    if (b64_len % 4 != 0)
        return verdict(msg, OWNTRACKS_REJECT, "encrypted data is not base64");
    blob = malloc(b64_len / 4 * 3 + 1);
    if (!blob) {
        msg->retry = true;
        return verdict(msg, OWNTRACKS_REJECT, "out of memory decrypting");
    }
    if (sodium_base642bin(blob, b64_len / 4 * 3 + 1, b64, b64_len, NULL, &blob_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0) {
        o = verdict(msg, OWNTRACKS_REJECT, "encrypted data is not base64");
        goto out;
    }
    if (blob_len < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
        o = verdict(msg, OWNTRACKS_REJECT, "encrypted data shorter than nonce and MAC (%zu bytes)",
                    blob_len);
        goto out;
    }
    int n = keys && keys->lookup ? keys->lookup(keys->arg, msg->user, msg->device, secret) : 0;
    if (n <= 0) {
        msg->retry = true; /* until `wherelog key set` */
        o = verdict(msg, OWNTRACKS_REJECT, "no encryption key configured for %s/%s", msg->user,
                    msg->device);
        goto out;
    }
    memcpy(key, secret, (size_t)n);
    size_t plain_len = blob_len - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
    plain = malloc(plain_len + 1);
    if (!plain) {
        msg->retry = true;
        o = verdict(msg, OWNTRACKS_REJECT, "out of memory decrypting");
        goto out;
    }
    if (crypto_secretbox_open_easy(plain, blob + crypto_secretbox_NONCEBYTES,
                                   blob_len - crypto_secretbox_NONCEBYTES, blob, key) != 0) {
        o = verdict(msg, OWNTRACKS_REJECT, "decryption failed (wrong key or forged message)");
        goto out;
    }
    json_object_put(msg->root);
    msg->root = NULL;
    o = classify(keys, plain, plain_len, now, true, msg);
    if (o == OWNTRACKS_ACCEPT) {
        msg->decrypted = true;
        json_object_object_add(msg->root, "_decrypted", json_object_new_boolean(1));
    }
out:
    sodium_memzero(secret, sizeof(secret));
    sodium_memzero(key, sizeof(key));
    if (plain)
        sodium_memzero(plain, blob_len - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES);
    free(plain);
    free(blob);
    return o;
}

static enum owntracks_outcome classify(const struct owntracks_keyring *keys, const void *payload,
                                       size_t len, int64_t now, bool nested,
                                       struct owntracks_message *msg)
{
    struct json_object *type;

    if (len == 0)
        return verdict(msg, OWNTRACKS_IGNORE, "zero-length payload");
    CHECK(parse_json(payload, len, msg));

    if (!json_object_object_get_ex(msg->root, "_type", &type))
        return verdict(msg, OWNTRACKS_REJECT, "_type missing");
    if (!json_object_is_type(type, json_type_string))
        return verdict(msg, OWNTRACKS_REJECT, "_type is not a string");

    const char *name = json_object_get_string(type);
    if (strcmp(name, "encrypted") == 0) {
        if (nested)
            return verdict(msg, OWNTRACKS_REJECT, "encrypted message inside an encrypted message");
        return decrypt(keys, now, msg);
    }
    if (strcmp(name, "request") == 0)
        return verdict(msg, OWNTRACKS_IGNORE, "request (tours) is not implemented");
    int kind = owntracks_kind_from_name(name);
    if (kind < 0) {
        char q[48];
        size_t n = (size_t)json_object_get_string_len(type);
        snprintf(q, sizeof(q), "%.*s", (int)(n > 40 ? 40 : n), name);
        return verdict(msg, OWNTRACKS_IGNORE, "unknown _type \"%s\"", q);
    }
    msg->kind = (enum owntracks_kind)kind;
    msg->tst = now;
    msg->tst_member = false;
    return check_kind(msg);
}

static void message_init(struct owntracks_message *msg)
{
    memset(msg, 0, sizeof(*msg));
}

enum owntracks_outcome owntracks_parse_mqtt(const struct owntracks_keyring *keys, const char *topic,
                                            size_t topic_len, const void *payload, size_t len,
                                            int64_t now, struct owntracks_message *msg)
{
    const char *levels[4], *why;
    size_t lens[4], nlevels = 0;
    const char *p = topic, *end = topic + topic_len;

    message_init(msg);
    if (p < end && *p == '/')
        p++;
    /* Split into ROOT, USER, DEVICE and the rest (the subtopic, kept whole). */
    while (nlevels < 4) {
        const char *slash = nlevels < 3 ? memchr(p, '/', (size_t)(end - p)) : NULL;
        const char *stop = slash ? slash : end;
        levels[nlevels] = p;
        lens[nlevels++] = (size_t)(stop - p);
        if (!slash)
            break;
        p = slash + 1;
    }
    if (nlevels < 3)
        return verdict(msg, OWNTRACKS_REJECT, "topic has fewer than 3 levels");
    if (memchr(topic, '+', topic_len) || memchr(topic, '#', topic_len))
        return verdict(msg, OWNTRACKS_REJECT, "wildcard character in topic");
    for (size_t i = 0; i < nlevels; i++)
        if (lens[i] == 0)
            return verdict(msg, OWNTRACKS_REJECT, "empty topic level");
    if (nlevels == 4) {
        /* Deeper levels inside the subtopic must not be empty either. */
        const char *sub = levels[3];
        size_t sl = lens[3];
        if (sub[0] == '/' || sub[sl - 1] == '/' || memmem(sub, sl, "//", 2))
            return verdict(msg, OWNTRACKS_REJECT, "empty topic level");
    }
    if (owntracks_normalize_name(levels[1], lens[1], msg->user, &why) != 0)
        return verdict(msg, OWNTRACKS_REJECT, "user: %s", why);
    if (owntracks_normalize_name(levels[2], lens[2], msg->device, &why) != 0)
        return verdict(msg, OWNTRACKS_REJECT, "device: %s", why);
    if (nlevels == 4) {
        bool known = false;
        for (size_t i = 0; i < sizeof(subtopics) / sizeof(subtopics[0]) && !known; i++)
            known =
                strlen(subtopics[i]) == lens[3] && memcmp(subtopics[i], levels[3], lens[3]) == 0;
        if (!known)
            return verdict(msg, OWNTRACKS_IGNORE, "unknown subtopic");
    }
    return classify(keys, payload, len, now, false, msg);
}

enum owntracks_outcome owntracks_parse_named(const struct owntracks_keyring *keys, const char *user,
                                             const char *device, const void *payload, size_t len,
                                             int64_t now, unsigned flags,
                                             struct owntracks_message *msg)
{
    const char *why;

    message_init(msg);
    if (owntracks_normalize_name(user, strlen(user), msg->user, &why) != 0)
        return verdict(msg, OWNTRACKS_REJECT, "user: %s", why);
    if (owntracks_normalize_name(device, strlen(device), msg->device, &why) != 0)
        return verdict(msg, OWNTRACKS_REJECT, "device: %s", why);
    enum owntracks_outcome o = classify(keys, payload, len, now, false, msg);
    if (o == OWNTRACKS_ACCEPT && (flags & OWNTRACKS_VIA_HTTP))
        json_object_object_add(msg->root, "_http", json_object_new_boolean(1));
    return o;
}
