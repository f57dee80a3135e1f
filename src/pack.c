#include "pack.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digits.h"
#include "varint.h"
#include "wl.h"

/* Value tags. Small values live in the tag byte itself. */
enum {
    PACK_TAG_UINT_SMALL = 0x00, /* 0x00..0x3F: the integers 0..63 */
    PACK_TAG_NEG_SMALL = 0x40,  /* 0x40..0x5F: the integers -1..-32 */
    PACK_TAG_DEC_POS = 0x60,    /* 0x60..0x7F: positive decimal, scale = tag & 31, varint */
    PACK_TAG_DEC_NEG = 0x80,    /* 0x80..0x9F: negative decimal, scale = tag & 31, varint */
    PACK_TAG_STR_SHORT = 0xA0,  /* 0xA0..0xCF: string of 0..47 bytes */
    PACK_TAG_NULL = 0xD0,
    PACK_TAG_FALSE = 0xD1,
    PACK_TAG_TRUE = 0xD2,
    PACK_TAG_UINT = 0xD3,        /* varint */
    PACK_TAG_NEG = 0xD4,         /* varint(-(v + 1)) */
    PACK_TAG_DEC = 0xD5,         /* sign byte, varint mantissa, zigzag varint exponent */
    PACK_TAG_NUMTEXT = 0xD6,     /* varint len, ASCII */
    PACK_TAG_STR = 0xD7,         /* varint len, bytes */
    PACK_TAG_ARRAY = 0xD8,       /* varint byte length, varint count, values */
    PACK_TAG_OBJECT = 0xD9,      /* varint byte length, varint count, members */
    PACK_TAG_TST = 0xDA,         /* the record's tst */
    PACK_TAG_TYPE = 0xDB,        /* the record's _type name */
    PACK_TAG_TST_REL = 0xDC,     /* zigzag varint, relative to the record's tst */
    PACK_TAG_EMPTY_ARRAY = 0xDD, /* [] (inregions and inrids are often empty) */
    PACK_TAG_EMPTY_OBJECT = 0xDE,
};
#define PACK_STR_SHORT_MAX 47
#define PACK_KEY_INLINE    0xFF
#define PACK_MAX_DEPTH     64 /* owntracks limits input to 32; decoding stays bounded regardless */

/*
 * The key dictionary. Append-only: a stored byte refers to an index forever. The first keys
 * are the ones nearly every message carries. Listed once, expanded into the tables below.
 */
/* clang-format off */
#define PACK_DICTIONARY(X) \
    X("_type") X("tst") X("lat") X("lon") X("acc") X("alt") X("vac") X("vel") X("cog") X("batt") \
    X("bs") X("tid") X("t") X("m") X("conn") X("p") X("created_at") X("_id") X("inregions") \
    X("inrids") X("SSID") X("BSSID") X("topic") X("rad") X("poi") X("image") X("imagename") \
    X("tag") X("motionactivities") X("_http") X("_decrypted") X("tzname") X("desc") X("event") \
    X("wtst") X("rid") X("uuid") X("major") X("minor") X("name") X("face") X("waypoints") \
    X("_creator") X("action") X("steps") X("from") X("to") X("rssi") X("prox") X("iOS") \
    X("android") X("username") X("device") X("ghash") X("addr") X("cc") X("locality") \
    X("isorcv") X("isotst") X("disptst") X("request") X("tour") X("odometer") X("ubatt") \
    X("uext") X("ign") X("motion")
/* clang-format on */

static const struct {
    const char *name;
    unsigned char len;
} dict[] = {
#define NAME(s) {s, sizeof(s) - 1},
    PACK_DICTIONARY(NAME)
#undef NAME
};

/* Dictionary indexes in strcmp order of their names, for binary search when encoding.
 * tests/unit/test_pack.c checks that this is sorted and covers every index exactly once. */
static const unsigned char dict_sorted[] = {
    21, 20, 42, 30, 29, 17, 0,  4,  43, 54, 5,  50, 9,  10, 55, 8,  14, 16, 32, 52, 59, 33, 40,
    45, 53, 49, 65, 25, 26, 18, 19, 57, 58, 2,  56, 3,  13, 37, 38, 66, 28, 39, 62, 15, 24, 48,
    23, 60, 35, 47, 44, 12, 27, 11, 46, 22, 61, 1,  31, 63, 64, 51, 36, 6,  7,  41, 34,
};

_Static_assert(sizeof(dict) / sizeof(dict[0]) == sizeof(dict_sorted), "dictionary tables");
_Static_assert(sizeof(dict_sorted) < PACK_KEY_INLINE, "dictionary index must fit a byte");

/* The dictionary's keys as JSON object keys after a comma (",\"lat\":"), so that writers
 * emit a known key, with or without the comma before it, in one copy. */
static const struct {
    char text[SINK_SMALL + 1]; /* padded: written with sink_put_small from text or text + 1 */
    unsigned char len;         /* without the comma */
} dict_json[] = {
#define JSON_KEY(s) {",\"" s "\":", sizeof(s) + 2},
    PACK_DICTIONARY(JSON_KEY)
#undef JSON_KEY
};

static inline void write_json_key(struct sink *s, int key_index, const char *key, size_t len)
{
    if (key_index >= 0 && (size_t)key_index < WL_ARRAY_LEN(dict_json)) {
        sink_put_small(s, dict_json[key_index].text + 1, dict_json[key_index].len);
    } else {
        sink_json_string(s, key, len);
        sink_putc(s, ':');
    }
}

void pack_write_json_key(struct sink *s, int key_index, const char *key, size_t len)
{
    write_json_key(s, key_index, key, len);
}

size_t pack_dictionary_size(void)
{
    return WL_ARRAY_LEN(dict);
}

const char *pack_dictionary_key(size_t index)
{
    return index < WL_ARRAY_LEN(dict) ? dict[index].name : NULL;
}

/* Public for the test that checks dict_sorted; not in the header. */
const unsigned char *pack_dictionary_sorted(void);
const unsigned char *pack_dictionary_sorted(void)
{
    return dict_sorted;
}

static int dict_lookup(const char *key, size_t len)
{
    size_t lo = 0, hi = sizeof(dict_sorted);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        unsigned idx = dict_sorted[mid];
        size_t dl = dict[idx].len;
        int c = memcmp(key, dict[idx].name, len < dl ? len : dl);
        if (c == 0)
            c = len < dl ? -1 : len > dl ? 1 : 0;
        if (c == 0)
            return (int)idx;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return -1;
}

/* ---------------------------------------------------------------- encoding */

static void put_varint(struct sink *s, uint64_t v)
{
    uint8_t b[10];
    sink_put(s, b, (size_t)(varint_put(b, v) - b));
}

static uint64_t zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static void put_byte(struct sink *s, unsigned char b)
{
    sink_putc(s, (char)b);
}

static void put_int(struct sink *s, bool neg, uint64_t mag)
{
    if (!neg) {
        if (mag < 64) {
            put_byte(s, (unsigned char)(PACK_TAG_UINT_SMALL + mag));
        } else {
            put_byte(s, PACK_TAG_UINT);
            put_varint(s, mag);
        }
    } else if (mag >= 1 && mag <= 32) {
        put_byte(s, (unsigned char)(PACK_TAG_NEG_SMALL + mag - 1));
    } else {
        put_byte(s, PACK_TAG_NEG);
        put_varint(s, mag - 1);
    }
}

static void put_string(struct sink *s, const char *p, size_t n)
{
    if (n <= PACK_STR_SHORT_MAX) {
        put_byte(s, (unsigned char)(PACK_TAG_STR_SHORT + n));
    } else {
        put_byte(s, PACK_TAG_STR);
        put_varint(s, n);
    }
    sink_put(s, p, n);
}

/*
 * Encodes JSON number text (strict RFC 8259 syntax, as json-c accepted it) exactly: the
 * significant digits become an integer mantissa and the position of the decimal point an
 * exponent. Text whose digits do not fit 64 bits is kept verbatim.
 */
static void put_number_text(struct sink *s, const char *text)
{
    const char *p = text;
    bool neg = false;
    uint64_t mag = 0;
    int64_t exp = 0;
    int sig = 0; /* significant digits taken into mag */

    if (*p == '-') {
        neg = true;
        p++;
    }
    for (int frac = 0; frac < 2; frac++) {
        while (*p >= '0' && *p <= '9') {
            if (mag == 0 && *p == '0') {
                /* leading zero: only moves the decimal point in the fraction */
            } else if (sig < 19) {
                mag = mag * 10 + (uint64_t)(*p - '0');
                sig++;
            } else {
                goto verbatim;
            }
            if (frac)
                exp--;
            p++;
        }
        if (frac == 0 && *p == '.')
            p++;
        else
            break;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        bool eneg = *p == '-';
        if (*p == '-' || *p == '+')
            p++;
        int64_t e = 0;
        while (*p >= '0' && *p <= '9') {
            if (e > 100000)
                goto verbatim;
            e = e * 10 + (*p++ - '0');
        }
        exp += eneg ? -e : e;
    }
    if (*p != '\0')
        goto verbatim;

    if (exp <= 0 && exp >= -31) {
        put_byte(s, (unsigned char)((neg ? PACK_TAG_DEC_NEG : PACK_TAG_DEC_POS) + (int)-exp));
        put_varint(s, mag);
    } else {
        put_byte(s, PACK_TAG_DEC);
        put_byte(s, neg);
        put_varint(s, mag);
        put_varint(s, zigzag(exp));
    }
    return;
verbatim:
    put_byte(s, PACK_TAG_NUMTEXT);
    put_varint(s, strlen(text));
    sink_puts(s, text);
}

static int encode_value(struct sink *s, struct json_object *v, int depth);

static void put_key(struct sink *s, const char *key)
{
    size_t len = strlen(key);
    int idx = dict_lookup(key, len);
    if (idx >= 0) {
        put_byte(s, (unsigned char)idx);
    } else {
        put_byte(s, PACK_KEY_INLINE);
        put_varint(s, len);
        sink_put(s, key, len);
    }
}

/* Containers carry their byte length so a reader can skip them without decoding. The body
 * is encoded into a scratch sink first; containers are rare (inregions, nested status). */
static int encode_container(struct sink *s, struct json_object *v, int depth)
{
    struct sink body;
    bool is_array = json_object_is_type(v, json_type_array);
    size_t count;
    int rc = 0;

    if (depth > PACK_MAX_DEPTH)
        return -EINVAL;
    if ((is_array ? json_object_array_length(v) : (size_t)json_object_object_length(v)) == 0) {
        put_byte(s, is_array ? PACK_TAG_EMPTY_ARRAY : PACK_TAG_EMPTY_OBJECT);
        return 0;
    }
    if (sink_init_mem(&body, 256))
        return -ENOMEM;
    if (is_array) {
        count = json_object_array_length(v);
        for (size_t i = 0; i < count && rc == 0; i++)
            rc = encode_value(&body, json_object_array_get_idx(v, i), depth + 1);
    } else {
        count = (size_t)json_object_object_length(v);
        json_object_object_foreach(v, key, val)
        {
            put_key(&body, key);
            rc = encode_value(&body, val, depth + 1);
            if (rc)
                break;
        }
    }
    if (rc == 0 && body.err)
        rc = body.err;
    if (rc == 0) {
        put_byte(s, is_array ? PACK_TAG_ARRAY : PACK_TAG_OBJECT);
        put_varint(s, varint_len(count) + body.len);
        put_varint(s, count);
        sink_put(s, body.buf, body.len);
    }
    sink_free(&body);
    return rc;
}

static int encode_value(struct sink *s, struct json_object *v, int depth)
{
    switch (json_object_get_type(v)) {
    case json_type_null: put_byte(s, PACK_TAG_NULL); return 0;
    case json_type_boolean:
        put_byte(s, json_object_get_boolean(v) ? PACK_TAG_TRUE : PACK_TAG_FALSE);
        return 0;
    case json_type_int: {
        /* json-c keeps integers above INT64_MAX as uint64; ask for the right one. */
        int64_t i = json_object_get_int64(v);
        if (i == INT64_MAX) {
            uint64_t u = json_object_get_uint64(v);
            put_int(s, false, u);
        } else if (i < 0) {
            put_int(s, true, (uint64_t)0 - (uint64_t)i);
        } else {
            put_int(s, false, (uint64_t)i);
        }
        return 0;
    }
    case json_type_double: {
        /* json-c keeps the parsed text of every double; encode from it, not from the
         * binary value, so no digit is invented or lost. */
        const char *text = json_object_get_userdata(v);
        char tmp[32];
        if (!text) {
            double d = json_object_get_double(v);
            if (!isfinite(d)) {
                put_byte(s, PACK_TAG_NULL); /* JSON has no such number */
                return 0;
            }
            snprintf(tmp, sizeof(tmp), "%.17g", d);
            text = tmp;
        }
        put_number_text(s, text);
        return 0;
    }
    case json_type_string:
        put_string(s, json_object_get_string(v), (size_t)json_object_get_string_len(v));
        return 0;
    case json_type_array:
    case json_type_object: return encode_container(s, v, depth);
    }
    return -EINVAL;
}

int pack_encode(struct sink *out, struct json_object *obj, const struct pack_encode_ctx *ctx)
{
    if (!json_object_is_type(obj, json_type_object))
        return -EINVAL;

    put_varint(out, (uint64_t)json_object_object_length(obj));
    json_object_object_foreach(obj, key, val)
    {
        put_key(out, key);
        if (ctx->tst_member && strcmp(key, "tst") == 0) {
            put_byte(out, PACK_TAG_TST);
        } else if (ctx->type && strcmp(key, "_type") == 0 &&
                   json_object_is_type(val, json_type_string) &&
                   strcmp(json_object_get_string(val), ctx->type) == 0) {
            put_byte(out, PACK_TAG_TYPE);
        } else if (strcmp(key, "created_at") == 0 && json_object_is_type(val, json_type_int) &&
                   ctx->tst > 0 && json_object_get_int64(val) != INT64_MAX &&
                   json_object_get_int64(val) != INT64_MIN) {
            put_byte(out, PACK_TAG_TST_REL);
            put_varint(out, zigzag(json_object_get_int64(val) - ctx->tst));
        } else {
            int rc = encode_value(out, val, 1);
            if (rc)
                return rc;
        }
    }
    return out->err;
}

/* ---------------------------------------------------------------- decoding */

static bool get_varint(struct pack_reader *r, uint64_t *out)
{
    return varint_get(&r->p, r->end, out);
}

static bool get_bytes(struct pack_reader *r, uint64_t n, const char **out)
{
    if (n > (uint64_t)(r->end - r->p))
        return false;
    *out = (const char *)r->p;
    r->p += n;
    return true;
}

int pack_open(struct pack_reader *r, const void *data, size_t len, int64_t tst, const char *type)
{
    uint64_t count;
    *r = (struct pack_reader){
        .p = data, .end = (const uint8_t *)data + len, .top = true, .tst = tst, .type = type};
    if (!get_varint(r, &count) || count > len)
        return WL_ECORRUPT;
    r->remaining = (size_t)count;
    return 0;
}

void pack_open_value(struct pack_reader *r, const struct pack_value *c)
{
    *r = (struct pack_reader){.p = c->body,
                              .end = c->body + c->body_len,
                              .remaining = c->count,
                              .is_array = c->type == PACK_ARRAY};
}

static inline __attribute__((always_inline)) int read_value(struct pack_reader *r,
                                                            struct pack_value *v)
{
    uint64_t u, e;
    const char *str;

    if (r->p >= r->end)
        return WL_ECORRUPT;
    unsigned char tag = *r->p++;
    /* Only what each type defines is set; the rest is left as it was (hot path). */
    v->neg = false;
    v->exp = 0;

    if (tag < PACK_TAG_NEG_SMALL) {
        v->type = PACK_INT;
        v->mag = tag;
    } else if (tag < PACK_TAG_DEC_POS) {
        v->type = PACK_INT;
        v->neg = true;
        v->mag = (uint64_t)(tag - PACK_TAG_NEG_SMALL) + 1;
    } else if (tag < PACK_TAG_STR_SHORT) {
        v->type = PACK_DECIMAL;
        v->neg = tag >= PACK_TAG_DEC_NEG;
        v->exp = -(int32_t)(tag & 31);
        if (!get_varint(r, &v->mag))
            return WL_ECORRUPT;
    } else if (tag <= PACK_TAG_STR_SHORT + PACK_STR_SHORT_MAX) {
        v->type = PACK_STRING;
        v->len = tag - PACK_TAG_STR_SHORT;
        if (!get_bytes(r, v->len, &v->str))
            return WL_ECORRUPT;
    } else {
        switch (tag) {
        case PACK_TAG_NULL: v->type = PACK_NULL; break;
        case PACK_TAG_FALSE: v->type = PACK_FALSE; break;
        case PACK_TAG_TRUE: v->type = PACK_TRUE; break;
        case PACK_TAG_UINT:
            v->type = PACK_INT;
            if (!get_varint(r, &v->mag))
                return WL_ECORRUPT;
            break;
        case PACK_TAG_NEG:
            v->type = PACK_INT;
            v->neg = true;
            if (!get_varint(r, &u) || u == UINT64_MAX)
                return WL_ECORRUPT;
            v->mag = u + 1;
            break;
        case PACK_TAG_DEC:
            v->type = PACK_DECIMAL;
            if (r->p >= r->end)
                return WL_ECORRUPT;
            v->neg = *r->p++ != 0;
            if (!get_varint(r, &v->mag) || !get_varint(r, &e))
                return WL_ECORRUPT;
            int64_t ex = unzigzag(e);
            if (ex < INT32_MIN || ex > INT32_MAX)
                return WL_ECORRUPT;
            v->exp = (int32_t)ex;
            break;
        case PACK_TAG_NUMTEXT:
        case PACK_TAG_STR:
            v->type = tag == PACK_TAG_STR ? PACK_STRING : PACK_NUMTEXT;
            if (!get_varint(r, &u) || !get_bytes(r, u, &str))
                return WL_ECORRUPT;
            v->str = str;
            v->len = (size_t)u;
            break;
        case PACK_TAG_ARRAY:
        case PACK_TAG_OBJECT: {
            v->type = tag == PACK_TAG_ARRAY ? PACK_ARRAY : PACK_OBJECT;
            const uint8_t *start;
            if (!get_varint(r, &u) || u > (uint64_t)(r->end - r->p))
                return WL_ECORRUPT;
            start = r->p;
            struct pack_reader inner = {.p = start, .end = start + u};
            uint64_t count;
            if (!get_varint(&inner, &count) || count > u)
                return WL_ECORRUPT;
            v->count = (size_t)count;
            v->body = inner.p;
            v->body_len = (size_t)(inner.end - inner.p);
            r->p = start + u;
            break;
        }
        case PACK_TAG_EMPTY_ARRAY:
        case PACK_TAG_EMPTY_OBJECT:
            v->type = tag == PACK_TAG_EMPTY_ARRAY ? PACK_ARRAY : PACK_OBJECT;
            v->body = r->p; /* never read: count 0 */
            v->body_len = 0;
            v->count = 0;
            break;
        case PACK_TAG_TST:
            if (!r->top)
                return WL_ECORRUPT;
            v->type = PACK_INT;
            v->neg = r->tst < 0;
            v->mag = (uint64_t)(r->tst < 0 ? -r->tst : r->tst);
            break;
        case PACK_TAG_TYPE:
            if (!r->top || !r->type)
                return WL_ECORRUPT;
            v->type = PACK_STRING;
            v->str = r->type;
            v->len = strlen(r->type);
            break;
        case PACK_TAG_TST_REL: {
            if (!r->top || !get_varint(r, &u))
                return WL_ECORRUPT;
            int64_t val = r->tst + unzigzag(u);
            v->type = PACK_INT;
            v->neg = val < 0;
            v->mag = val < 0 ? (uint64_t)0 - (uint64_t)val : (uint64_t)val;
            break;
        }
        default: return WL_ECORRUPT;
        }
    }
    return 0;
}

/* pack_next's body, inlined into the JSON writer's loop (the export hot path). */
static inline __attribute__((always_inline)) int
next_member(struct pack_reader *r, const char **key, size_t *keylen, struct pack_value *v)
{
    if (r->remaining == 0)
        return 0;
    r->remaining--;
    r->key_index = -1;
    if (r->is_array) {
        if (key) {
            *key = NULL;
            *keylen = 0;
        }
    } else {
        if (r->p >= r->end)
            return WL_ECORRUPT;
        unsigned char k = *r->p++;
        const char *name;
        size_t len;
        r->key_index = k < WL_ARRAY_LEN(dict) ? k : -1;
        if (k == PACK_KEY_INLINE) {
            uint64_t n;
            if (!get_varint(r, &n) || !get_bytes(r, n, &name))
                return WL_ECORRUPT;
            len = (size_t)n;
        } else if (k < WL_ARRAY_LEN(dict)) {
            name = dict[k].name;
            len = dict[k].len;
        } else {
            return WL_ECORRUPT;
        }
        if (key) {
            *key = name;
            *keylen = len;
        }
    }
    int rc = read_value(r, v);
    return rc ? rc : 1;
}

int pack_next(struct pack_reader *r, const char **key, size_t *keylen, struct pack_value *v)
{
    return next_member(r, key, keylen, v);
}

int pack_find(const void *data, size_t len, int64_t tst, const char *type, const char *name,
              struct pack_value *v)
{
    struct pack_reader r;
    const char *key;
    size_t keylen, nlen = strlen(name);
    int rc = pack_open(&r, data, len, tst, type);

    if (rc)
        return rc;
    while ((rc = pack_next(&r, &key, &keylen, v)) == 1) {
        if (keylen == nlen && memcmp(key, name, nlen) == 0)
            return 1;
    }
    return rc;
}

bool pack_to_double(const struct pack_value *v, double *out)
{
    switch (v->type) {
    case PACK_INT: *out = v->neg ? -(double)v->mag : (double)v->mag; return true;
    case PACK_DECIMAL: {
        /* Exact for the scales phones send: the mantissa is below 2^53 and 10^scale is
         * exact for scale <= 22, so one correctly rounded division. */
        static const double exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
        double m = (double)v->mag;
        int32_t e = v->exp >= 0 ? v->exp : -v->exp;
        double scale = e < (int32_t)WL_ARRAY_LEN(exact) ? exact[e] : pow(10, e);
        double d = v->exp >= 0 ? m * scale : m / scale;
        *out = v->neg ? -d : d;
        return true;
    }
    case PACK_NUMTEXT: {
        char tmp[64];
        if (v->len >= sizeof(tmp))
            return false;
        memcpy(tmp, v->str, v->len);
        tmp[v->len] = '\0';
        *out = strtod(tmp, NULL);
        return true;
    }
    default: return false;
    }
}

bool pack_to_int(const struct pack_value *v, int64_t *out)
{
    uint64_t mag = v->mag;
    if (v->type == PACK_DECIMAL) {
        int32_t e = v->exp;
        for (; e < 0; e++) {
            if (mag % 10)
                return false;
            mag /= 10;
        }
        for (; e > 0; e--) {
            if (mag > UINT64_MAX / 10)
                return false;
            mag *= 10;
        }
    } else if (v->type != PACK_INT) {
        return false;
    }
    if (mag > (uint64_t)INT64_MAX + v->neg)
        return false;
    *out = v->neg ? (int64_t)((uint64_t)0 - mag) : (int64_t)mag;
    return true;
}

/* mag * 10^-scale (1 <= scale <= 31) as plain decimal digits ending at `end`, written right
 * to left: exactly `scale` fraction digits (zero-padded, so 2000070 at scale 6 is 2.000070),
 * the point, the integer part, the sign. Returns where the text starts. Division by the
 * constant 10 is a multiplication; by 10^scale it would be a slow 64-bit divide. */
static char *format_decimal(char *end, bool neg, uint64_t mag, unsigned scale)
{
    char *d = end;
    for (unsigned i = 0; i < scale; i++) {
        *--d = (char)('0' + mag % 10);
        mag /= 10;
    }
    *--d = '.';
    d = digits_u64(d, mag);
    if (neg)
        *--d = '-';
    return d;
}

static inline void write_int(struct sink *s, bool neg, uint64_t mag)
{
    char buf[24 + SINK_SMALL]; /* a sign and 20 digits, then slack for sink_put_small */
    char *end = buf + 24, *d = digits_u64(end, mag);
    if (neg)
        *--d = '-';
    sink_put_small(s, d, (size_t)(end - d));
}

static void write_decimal(struct sink *s, bool neg, uint64_t mag, unsigned scale)
{
    char buf[64 + SINK_SMALL]; /* slack after the text, for sink_put_small */
    char *end = buf + 64, *d = format_decimal(end, neg, mag, scale);
    if (end - d <= SINK_SMALL)
        sink_put_small(s, d, (size_t)(end - d));
    else
        sink_put(s, d, (size_t)(end - d));
}

void pack_write_number(struct sink *s, const struct pack_value *v)
{
    /* Integers are built right to left at the end of a buffer and copied once; the buffer
     * has SINK_SMALL bytes of slack after the text, for sink_put_small. */
    char buf[64 + SINK_SMALL];
    char *end = buf + 64, *d;

    if (v->type == PACK_INT) {
        write_int(s, v->neg, v->mag);
        return;
    }
    if (v->type == PACK_NUMTEXT) {
        sink_put(s, v->str, v->len);
        return;
    }
    if (v->type == PACK_DECIMAL && v->neg && v->mag == 0 && v->exp >= 0) {
        sink_put(s, "-0.0", 4); /* "-0" would read back as the integer 0, without its sign */
        return;
    }
    if (v->type == PACK_DECIMAL && v->exp < 0 && v->exp >= -31) {
        write_decimal(s, v->neg, v->mag, (unsigned)-v->exp);
        return;
    }
    d = digits_u64(end, v->mag);
    size_t nd = (size_t)(end - d);
    /* Integers are spelled out up to 18 digits: beyond, many JSON readers (json-c
     * among them) would clamp them to 64 bits, so a decimal keeps its exponent. */
    if (v->exp == 0 && nd <= 18) {
        if (v->neg)
            *--d = '-';
        sink_put_small(s, d, (size_t)(end - d));
        return;
    }
    /* Rare: positive exponents and very small numbers. */
    if (v->neg)
        sink_putc(s, '-');
    sink_put(s, d, nd);
    if (v->exp > 0 && nd + (size_t)v->exp <= 18 && !(nd == 1 && d[0] == '0')) {
        for (int32_t i = 0; i < v->exp; i++) /* 15e2 -> 1500, short enough to spell out */
            sink_putc(s, '0');
    } else {
        sink_putc(s, 'e');
        sink_put_i64(s, v->exp);
    }
}

static int write_container_json(struct sink *s, const struct pack_value *c, int64_t tst, int depth);

static int write_value_json(struct sink *s, const struct pack_value *v, int64_t tst, int depth)
{
    switch (v->type) {
    case PACK_NULL: sink_put(s, "null", 4); break;
    case PACK_FALSE: sink_put(s, "false", 5); break;
    case PACK_TRUE: sink_put(s, "true", 4); break;
    case PACK_INT:
    case PACK_DECIMAL:
    case PACK_NUMTEXT: pack_write_number(s, v); break;
    case PACK_STRING: sink_json_string(s, v->str, v->len); break;
    case PACK_ARRAY:
    case PACK_OBJECT: return write_container_json(s, v, tst, depth + 1);
    }
    return 0;
}

static int write_container_json(struct sink *s, const struct pack_value *c, int64_t tst, int depth)
{
    struct pack_reader r;
    struct pack_value v;
    const char *key;
    size_t keylen;
    int rc, first = 1;

    if (depth > PACK_MAX_DEPTH)
        return WL_ECORRUPT;
    pack_open_value(&r, c);
    r.tst = tst;
    sink_putc(s, c->type == PACK_ARRAY ? '[' : '{');
    while ((rc = pack_next(&r, &key, &keylen, &v)) == 1) {
        if (!first)
            sink_putc(s, ',');
        first = 0;
        if (key) {
            sink_json_string(s, key, keylen);
            sink_putc(s, ':');
        }
        rc = write_value_json(s, &v, tst, depth);
        if (rc)
            return rc;
    }
    sink_putc(s, c->type == PACK_ARRAY ? ']' : '}');
    return rc;
}

void pack_write_value_json(struct sink *s, const struct pack_value *v, int64_t tst)
{
    write_value_json(s, v, tst, 0);
}

/* The forms nearly every top-level member takes, written straight from the packed bytes. */
static inline void write_small_uint(struct sink *s, unsigned m) /* m < 100 */
{
    if (m < 10)
        sink_putc(s, (char)('0' + m));
    else
        sink_put(s, digits_pair(m), 2);
}

/*
 * The export hot path: a year as JSON is some 750,000 members. A dictionary key, a small
 * integer, a decimal with a scale and a short string (the forms nearly every member takes)
 * go from packed bytes to text here without filling a pack_value; any other value falls back
 * to read_value and write_value_json. Both paths format numbers with the same functions;
 * test_pack checks that they write the same text for every round trip.
 */
int pack_write_members_json(struct sink *s, const void *data, size_t len, int64_t tst,
                            const char *type, uint64_t *seen)
{
    struct pack_reader r;
    struct pack_value v;
    uint64_t keys = 0;
    int n = 0;
    int rc = pack_open(&r, data, len, tst, type);

    if (seen)
        *seen = 0;
    for (; rc == 0 && r.remaining > 0; r.remaining--) {
        if (r.p >= r.end)
            return WL_ECORRUPT;
        bool comma = n++ > 0;

        unsigned char k = *r.p++;
        if (k < WL_ARRAY_LEN(dict_json)) {
            sink_put_small(s, dict_json[k].text + !comma, dict_json[k].len + comma);
            if (k < 64)
                keys |= (uint64_t)1 << k;
        } else if (k == PACK_KEY_INLINE) {
            uint64_t keylen;
            const char *key;
            if (!get_varint(&r, &keylen) || !get_bytes(&r, keylen, &key))
                return WL_ECORRUPT;
            if (comma)
                sink_putc(s, ',');
            sink_json_string(s, key, (size_t)keylen);
            sink_putc(s, ':');
        } else {
            return WL_ECORRUPT;
        }

        if (r.p >= r.end)
            return WL_ECORRUPT;
        unsigned char tag = *r.p;
        if (tag < PACK_TAG_NEG_SMALL) {
            r.p++;
            write_small_uint(s, tag);
        } else if (tag >= PACK_TAG_DEC_POS && tag < PACK_TAG_STR_SHORT && (tag & 31) != 0) {
            uint64_t mag;
            r.p++;
            if (!get_varint(&r, &mag))
                return WL_ECORRUPT;
            write_decimal(s, tag >= PACK_TAG_DEC_NEG, mag, tag & 31);
        } else if (tag >= PACK_TAG_STR_SHORT && tag <= PACK_TAG_STR_SHORT + PACK_STR_SHORT_MAX) {
            const char *str;
            r.p++;
            if (!get_bytes(&r, tag - PACK_TAG_STR_SHORT, &str))
                return WL_ECORRUPT;
            sink_json_string(s, str, tag - PACK_TAG_STR_SHORT);
        } else if ((rc = read_value(&r, &v)) == 0) {
            if (v.type == PACK_INT) /* tst and created_at: 10 digits each */
                write_int(s, v.neg, v.mag);
            else if (v.type == PACK_STRING) /* "_type" */
                sink_json_string(s, v.str, v.len);
            else
                rc = write_value_json(s, &v, tst, 0);
        }
    }
    if (seen)
        *seen = keys;
    return rc < 0 ? rc : n;
}
