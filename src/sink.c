#include "sink.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "array.h"
#include "digits.h"

int sink_init_fd(struct sink *s, int fd, size_t cap)
{
    *s = (struct sink){.fd = fd, .cap = cap};
    s->buf = malloc(cap);
    return s->buf ? 0 : -ENOMEM;
}

int sink_init_mem(struct sink *s, size_t cap)
{
    *s = (struct sink){.fd = -1, .cap = cap};
    s->buf = malloc(cap);
    return s->buf ? 0 : -ENOMEM;
}

void sink_free(struct sink *s)
{
    free(s->buf);
    s->buf = NULL;
    s->len = s->cap = 0;
}

int sink_flush(struct sink *s)
{
    size_t off = 0, n = s->holding ? s->hold : s->len;

    if (s->fd < 0 || s->err)
        return s->err;
    while (off < n) {
        ssize_t w = write(s->fd, s->buf + off, n - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            s->err = -errno;
            break;
        }
        off += (size_t)w;
    }
    if (n < s->len) /* the held unit moves to the front */
        memmove(s->buf, s->buf + n, s->len - n);
    s->len -= n;
    s->hold = 0;
    return s->err;
}

void sink_consume(struct sink *s, size_t n)
{
    if (n >= s->len) {
        s->len = 0;
        return;
    }
    memmove(s->buf, s->buf + n, s->len - n);
    s->len -= n;
}

void sink_put_slow(struct sink *s, const void *p, size_t n)
{
    if (s->err)
        return;
    if (s->fd >= 0) {
        if (sink_flush(s))
            return;
        if (s->holding && s->len + n > s->cap) { /* a held unit larger than the buffer */
            char *nb = array_reserve(s->buf, &s->cap, s->len + n, 1, 256);
            if (!nb) {
                s->err = -ENOMEM;
                return;
            }
            s->buf = nb;
        } else if (n >= s->cap) { /* larger than the whole buffer: write it straight through */
            const char *c = p;
            while (n) {
                ssize_t w = write(s->fd, c, n);
                if (w < 0) {
                    if (errno == EINTR)
                        continue;
                    s->err = -errno;
                    return;
                }
                c += w;
                n -= (size_t)w;
            }
            return;
        }
    } else {
        char *nb = array_reserve(s->buf, &s->cap, s->len + n, 1, 256);
        if (!nb) {
            s->err = -ENOMEM;
            return;
        }
        s->buf = nb;
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
}

void sink_printf(struct sink *s, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(tmp)) {
        sink_put(s, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        s->err = s->err ? s->err : -ENOMEM;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sink_put(s, big, (size_t)n);
    free(big);
}

void sink_put_u64(struct sink *s, uint64_t v)
{
    char tmp[DIGITS_U64_MAX];
    char *start = digits_u64(tmp + sizeof(tmp), v);
    size_t n = (size_t)(tmp + sizeof(tmp) - start);
    if (s->len + n <= s->cap) { /* straight into the buffer, no second call */
        memcpy(s->buf + s->len, start, n);
        s->len += n;
    } else {
        sink_put_slow(s, start, n);
    }
}

void sink_put_i64(struct sink *s, int64_t v)
{
    if (v < 0) {
        sink_putc(s, '-');
        sink_put_u64(s, (uint64_t)0 - (uint64_t)v);
    } else {
        sink_put_u64(s, (uint64_t)v);
    }
}

void sink_json_string_any(struct sink *s, const char *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0; /* start of the pending stretch that needs no escaping */
    size_t i = 0;

    /* Most strings need no escaping at all: one scan, one copy. */
    while (i < n && sink_json_plain((unsigned char)p[i]))
        i++;
    if (i == n && s->len + n + 2 <= s->cap) {
        char *o = s->buf + s->len;
        o[0] = '"';
        memcpy(o + 1, p, n);
        o[n + 1] = '"';
        s->len += n + 2;
        return;
    }
    sink_putc(s, '"');
    for (; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (sink_json_plain(c))
            continue;
        sink_put(s, p + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': sink_put(s, "\\\"", 2); break;
        case '\\': sink_put(s, "\\\\", 2); break;
        case '\n': sink_put(s, "\\n", 2); break;
        case '\r': sink_put(s, "\\r", 2); break;
        case '\t': sink_put(s, "\\t", 2); break;
        case '\b': sink_put(s, "\\b", 2); break;
        case '\f': sink_put(s, "\\f", 2); break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            sink_put(s, u, 6);
        }
        }
    }
    sink_put(s, p + run, n - run);
    sink_putc(s, '"');
}

void sink_xml_text(struct sink *s, const char *p, size_t n)
{
    size_t run = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        const char *rep;
        switch (c) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&apos;"; break;
        default:
            if (c >= 0x20 || c == '\t' || c == '\n' || c == '\r')
                continue;
            rep = "\xEF\xBF\xBD"; /* U+FFFD: XML 1.0 cannot carry this control character */
        }
        sink_put(s, p + run, i - run);
        sink_puts(s, rep);
        run = i + 1;
    }
    sink_put(s, p + run, n - run);
}

void sink_csv_field(struct sink *s, const char *p, size_t n)
{
    bool quote = false;
    for (size_t i = 0; i < n && !quote; i++)
        quote = p[i] == ',' || p[i] == '"' || p[i] == '\r' || p[i] == '\n';
    if (!quote) {
        sink_put(s, p, n);
        return;
    }
    sink_putc(s, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '"') {
            sink_put(s, p + run, i + 1 - run);
            sink_putc(s, '"');
            run = i + 1;
        }
    }
    sink_put(s, p + run, n - run);
    sink_putc(s, '"');
}
