/*
 * sink.h - a byte buffer that output is written into, shared by every writer of text
 * (JSON, GPX, CSV, ...), so the same formatting code feeds a file, stdout or an HTTP response.
 *
 * Two kinds:
 *   fd sink:     a fixed buffer flushed to a file descriptor whenever it fills;
 *   memory sink: a growable buffer the owner drains (the HTTP layer copies it out in the
 *                pieces libmicrohttpd asks for, then calls sink_consume()).
 *
 * Errors are sticky: the first failed write or allocation is kept in `err`, so a formatter
 * can write a whole record and check once. After an error the inline writers may still copy
 * bytes into room the buffer has, but an fd sink never writes them out and the owner of a
 * memory sink must check err before using what it holds. A sink belongs to one thread at a
 * time; the caller owns the struct, sink_free() releases the buffer.
 *
 * A unit (one exported point) can be held: from sink_hold() to sink_keep() or sink_drop() its
 * bytes stay in the buffer (an fd sink flushes only what came before it, and grows its buffer
 * if the unit does not fit), so that a unit that fails halfway can be taken back whole.
 */
#ifndef WL_SINK_H
#define WL_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct sink {
    char *buf;
    size_t len;
    size_t cap;
    int fd;  /* -1 for a memory sink */
    int err; /* 0, or the first negative errno */
    bool holding;
    size_t hold; /* while holding: where the held unit starts in buf */
};

/* fd sink with a buffer of `cap` bytes (caller keeps ownership of fd; only a held unit larger
 * than that grows it). 0 or -ENOMEM (then sink_free() is harmless and not needed). */
int sink_init_fd(struct sink *s, int fd, size_t cap);
/* Memory sink; `cap` is the initial size, it grows as needed. 0 or -ENOMEM (as above). */
int sink_init_mem(struct sink *s, size_t cap);
/* Releases the buffer (does not flush, does not close the fd). */
void sink_free(struct sink *s);
/* Writes buffered bytes to the fd (no-op for memory sinks), all but a held unit. Returns
 * s->err: 0, the negative errno of write(2) (the bytes it failed on are dropped) or an earlier
 * -ENOMEM; with err already set it writes nothing. */
int sink_flush(struct sink *s);
/* Memory sink: drops the first n buffered bytes (all, if n is more) after the owner has
 * copied them out. Not while a unit is held. */
void sink_consume(struct sink *s, size_t n);

/* Starts holding a unit at the current end of the output (see above). Cannot fail. */
static inline void sink_hold(struct sink *s)
{
    s->hold = s->len;
    s->holding = true;
}
/* Ends the unit: its bytes are output like any others. */
static inline void sink_keep(struct sink *s)
{
    s->holding = false;
}
/* Ends the unit and takes back every byte written since sink_hold(). */
static inline void sink_drop(struct sink *s)
{
    s->len = s->hold;
    s->holding = false;
}

/* Slow path of sink_put: flushes or grows, then copies. */
void sink_put_slow(struct sink *s, const void *p, size_t n);

static inline void sink_put(struct sink *s, const void *p, size_t n)
{
    if (s->len + n <= s->cap) {
        memcpy(s->buf + s->len, p, n);
        s->len += n;
    } else {
        sink_put_slow(s, p, n);
    }
}

/*
 * sink_put for short pieces (n <= 32) whose source may be read 32 bytes past p (a padded
 * table entry, a scratch buffer with room): one fixed-size copy instead of a call to memcpy,
 * which matters when an export writes millions of three-byte keys and numbers.
 */
#define SINK_SMALL 32
static inline void sink_put_small(struct sink *s, const void *p, size_t n)
{
    if (s->len + SINK_SMALL <= s->cap) {
        memcpy(s->buf + s->len, p, SINK_SMALL); /* constant size: inlined by the compiler */
        s->len += n;
    } else {
        sink_put(s, p, n);
    }
}

static inline void sink_putc(struct sink *s, char c)
{
    if (s->len < s->cap)
        s->buf[s->len++] = c;
    else
        sink_put_slow(s, &c, 1);
}

static inline void sink_puts(struct sink *s, const char *str)
{
    sink_put(s, str, strlen(str));
}

/* Text longer than 511 bytes is formatted in a malloc'd buffer (-ENOMEM into err). */
void sink_printf(struct sink *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sink_put_u64(struct sink *s, uint64_t v);
void sink_put_i64(struct sink *s, int64_t v);

/* Escapers. Input is UTF-8 that was validated where it entered (owntracks, importers). */
/* A JSON string literal with quotes; control characters as \u00XX, '/' left alone. */
void sink_json_string_any(struct sink *s, const char *p, size_t n);
/* Bytes a JSON string holds as they are: all but controls, '"' and '\\'. */
static inline bool sink_json_plain(unsigned char c)
{
    return c >= 0x20 && c != '"' && c != '\\';
}
/* The same, with the short strings an export writes by the million ("m", "p0") copied in
 * place here, without a call. */
static inline void sink_json_string(struct sink *s, const char *p, size_t n)
{
    if (n <= 16 && s->len + n + 2 <= s->cap) {
        char *o = s->buf + s->len; /* written past len: only kept if all turns out plain */
        size_t i = 0;
        for (; i < n; i++) {
            if (!sink_json_plain((unsigned char)p[i]))
                break;
            o[i + 1] = p[i];
        }
        if (i == n) {
            o[0] = '"';
            o[n + 1] = '"';
            s->len += n + 2;
            return;
        }
    }
    sink_json_string_any(s, p, n);
}
/* XML character data or attribute value: & < > " ' escaped; characters XML 1.0 forbids
 * (C0 controls other than tab, CR, LF) become U+FFFD so the document stays well-formed. */
void sink_xml_text(struct sink *s, const char *p, size_t n);
/* One CSV field, RFC 4180: quoted (quotes doubled) only when it holds , " CR or LF. */
void sink_csv_field(struct sink *s, const char *p, size_t n);

#endif
