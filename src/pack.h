/*
 * pack.h - the compact binary form in which every stored OwnTracks message is kept.
 *
 * A phone's JSON object is re-encoded member by member, so nothing is lost (unknown fields
 * and nested values survive) while the common parts shrink:
 *   - well-known keys ("lat", "batt", "tid", ...) become one byte (a fixed, append-only
 *     dictionary: indexes never change meaning once released);
 *   - numbers keep their decimal digits exactly as sent (48.856826 is the integer 48856826
 *     and a scale of 6), which is smaller than text, needs no float rounding, and prints
 *     back with integer arithmetic only;
 *   - the top-level "_type" and "tst" are implied by the record (kind and key), and
 *     "created_at" is stored relative to tst.
 * JSON formatting is normalised (no whitespace, exponents expanded where short, "\u00e9"
 * escapes become UTF-8); values are not changed.
 *
 * Layout (all varints are unsigned LEB128):
 *   message := count member*count          (the top-level object)
 *   member  := key value
 *   key     := byte < 0xFF (dictionary index) | 0xFF varint(len) bytes
 *   value   := tag byte, see PACK_TAG_* in pack.c
 *
 * Thread rules: all functions are reentrant; nothing here allocates except pack_encode (its
 * scratch buffers, and the caller-owned memory sink it appends to).
 */
#ifndef WL_PACK_H
#define WL_PACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sink.h"

struct json_object;

enum pack_type {
    PACK_NULL,
    PACK_FALSE,
    PACK_TRUE,
    PACK_INT,     /* neg, mag: value = neg ? -mag : mag */
    PACK_DECIMAL, /* neg, mag, exp: value = (neg ? -1 : 1) * mag * 10^exp */
    PACK_NUMTEXT, /* str/len: a JSON number too long for the forms above, verbatim */
    PACK_STRING,  /* str/len: UTF-8, not NUL-terminated */
    PACK_ARRAY,   /* count elements at body/body_len */
    PACK_OBJECT,  /* count members at body/body_len */
};

/* A decoded value. Pointers borrow from the packed bytes and live as long as they do. */
struct pack_value {
    enum pack_type type;
    bool neg;
    uint64_t mag;
    int32_t exp;
    const char *str;
    size_t len;
    const uint8_t *body;
    size_t body_len;
    size_t count;
};

/* Dictionary indexes of the keys formatters look for (see the dictionary in pack.c). */
enum pack_key {
    PACK_KEY_TYPE = 0,
    PACK_KEY_TST = 1,
    PACK_KEY_LAT = 2,
    PACK_KEY_LON = 3,
    PACK_KEY_ACC = 4,
    PACK_KEY_ALT = 5,
    PACK_KEY_VAC = 6,
    PACK_KEY_VEL = 7,
    PACK_KEY_COG = 8,
    PACK_KEY_BATT = 9,
    PACK_KEY_TID = 11,
    PACK_KEY_IMAGE = 25,
    PACK_KEY_TZNAME = 31,
    PACK_KEY_NAME = 39,
    PACK_KEY_FACE = 40,
    PACK_KEY_GHASH = 53,
    PACK_KEY_ADDR = 54,
    PACK_KEY_CC = 55,
    PACK_KEY_LOCALITY = 56,
    PACK_KEY_ISOTST = 58,
    PACK_KEY_DISPTST = 59,
};

/* Iterates the members of an object (or the elements of an array) in stored order. */
struct pack_reader {
    int key_index; /* after pack_next: enum pack_key / dictionary index of the key, or -1 */
    const uint8_t *p;
    const uint8_t *end;
    size_t remaining;
    bool is_array;
    bool top;         /* top-level object: placeholders for tst and _type resolve */
    int64_t tst;      /* the record's timestamp, for the tst and created_at forms */
    const char *type; /* the record's _type name */
};

/* What pack_encode needs to know about the message beyond its JSON. */
struct pack_encode_ctx {
    const char *type; /* _type name; a top-level "_type" equal to it is implied */
    int64_t tst;      /* the record's timestamp */
    bool tst_member;  /* the top-level "tst" member is the record's tst (normalised to it) */
};

/*
 * Appends the packed form of the JSON object `obj` to `out` (a memory sink).
 * Returns 0, -EINVAL if obj is not an object or nests deeper than the packer allows, -ENOMEM,
 * or out->err. On error out holds a partial message: the caller drops it.
 */
int pack_encode(struct sink *out, struct json_object *obj, const struct pack_encode_ctx *ctx);

/* Starts reading a packed top-level message. Returns 0 or WL_ECORRUPT. */
int pack_open(struct pack_reader *r, const void *data, size_t len, int64_t tst, const char *type);
/* Starts reading the inside of a PACK_ARRAY or PACK_OBJECT value (checked when it was read, so
 * this cannot fail; pack_next reports malformed bytes inside). */
void pack_open_value(struct pack_reader *r, const struct pack_value *container);

/*
 * Next member (objects: key and keylen are set) or element (arrays: key is NULL).
 * Returns 1 when a value was read, 0 at the end, WL_ECORRUPT on malformed bytes.
 */
int pack_next(struct pack_reader *r, const char **key, size_t *keylen, struct pack_value *v);

/* Finds a top-level member by name (a fresh scan from the start). Returns 1 found, 0 not,
 * or WL_ECORRUPT. */
int pack_find(const void *data, size_t len, int64_t tst, const char *type, const char *name,
              struct pack_value *v);

/* Numeric value of PACK_INT or PACK_DECIMAL (or PACK_NUMTEXT) as a double; false otherwise. */
bool pack_to_double(const struct pack_value *v, double *out);
/* Integer value if the number is integral and fits int64; false otherwise. */
bool pack_to_int(const struct pack_value *v, int64_t *out);

/* The writers below write into a sink and cannot fail themselves: output errors are the
 * sink's (sticky in s->err). */
/* Writes a number value as JSON number text (also used for GPX, CSV and XML output). */
void pack_write_number(struct sink *s, const struct pack_value *v);
/* Writes `"key":` for a member (key_index from pack_reader; -1 for keys outside the
 * dictionary, which are escaped). */
void pack_write_json_key(struct sink *s, int key_index, const char *key, size_t len);
/* Writes any value as JSON. Malformed bytes inside an array or object cut it short (the
 * output is then not valid JSON); pack_write_members_json reports them. */
void pack_write_value_json(struct sink *s, const struct pack_value *v, int64_t tst);
/* Writes the members of a top-level message as JSON, without the enclosing braces. If seen
 * is not NULL it gets a bit (1 << index) for each dictionary key below 64 that occurred.
 * Returns the number of members written, or WL_ECORRUPT. */
int pack_write_members_json(struct sink *s, const void *data, size_t len, int64_t tst,
                            const char *type, uint64_t *seen);

/* Number of keys in the dictionary, and the key at an index (for tests). */
size_t pack_dictionary_size(void);
const char *pack_dictionary_key(size_t index);

#endif
