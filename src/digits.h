/*
 * digits.h - the decimal digits of an unsigned number, written once for the two places that
 * print many numbers (sink_put_u64 for every integer of an export, pack for every decoded
 * coordinate). Inline: it is on the hot path of both. No state: any thread.
 */
#ifndef WL_DIGITS_H
#define WL_DIGITS_H

#include <stdint.h>

/* The most digits a uint64_t has (18446744073709551615). */
#define DIGITS_U64_MAX 20

/* "00" to "99". At file scope, not inside digits_pair(): the export's instruction count
 * measured 0.5 % higher with the table local to an inline function. */
static const char digits_pairs[] = "00010203040506070809101112131415161718192021222324252627282930"
                                   "31323334353637383940414243444546474849505152535455565758596061"
                                   "62636465666768697071727374757677787980818283848586878889909192"
                                   "93949596979899";

/* The two digits of m < 100 (not NUL-terminated). */
static inline const char *digits_pair(unsigned m)
{
    return digits_pairs + 2 * m;
}

/* Writes the digits of v right to left, ending just before `end` (at most DIGITS_U64_MAX of
 * them, no NUL); returns where they start. Two digits per division. */
static inline char *digits_u64(char *end, uint64_t v)
{
    while (v >= 100) {
        unsigned d = (unsigned)(v % 100) * 2;
        v /= 100;
        *--end = digits_pairs[d + 1];
        *--end = digits_pairs[d];
    }
    if (v >= 10) {
        *--end = digits_pairs[v * 2 + 1];
        *--end = digits_pairs[v * 2];
    } else {
        *--end = (char)('0' + v);
    }
    return end;
}

#endif
