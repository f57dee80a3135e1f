/*
 * varint.h - unsigned LEB128 integers, the variable-length encoding shared by the packed
 * message form (pack.c) and the point chunks (store.c). Header-only: these sit in hot loops.
 * No state: any thread.
 */
#ifndef WL_VARINT_H
#define WL_VARINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes needed for v (1..10). */
static inline size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Writes v at p (room for varint_len(v) bytes); returns the end. */
static inline uint8_t *varint_put(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* Reads a varint from *p, never past end; advances *p. False if truncated or longer than 10
 * bytes (*p has then moved past what was read). Bits beyond the 64th are dropped. */
static inline bool varint_get(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    if (*p < end && **p < 0x80) { /* one byte: the common case */
        *out = *(*p)++;
        return true;
    }
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

#endif
