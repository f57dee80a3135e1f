#include "prom.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void put_double(struct sink *s, double v)
{
    if (isinf(v))
        sink_puts(s, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        sink_printf(s, "%.0f", v);
    else
        sink_printf(s, "%.9g", v);
}

void prom_header(struct sink *s, const char *name, const char *type, const char *help)
{
    sink_printf(s, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void prom_metric(struct sink *s, const char *name, const char *type, const char *help, double value)
{
    prom_header(s, name, type, help);
    prom_sample(s, name, NULL, value);
}

void prom_sample(struct sink *s, const char *name, const char *labels, double value)
{
    sink_puts(s, name);
    if (labels && labels[0]) {
        sink_putc(s, '{');
        sink_puts(s, labels);
        sink_putc(s, '}');
    }
    sink_putc(s, ' ');
    put_double(s, value);
    sink_putc(s, '\n');
}

char *prom_label(char *buf, size_t size, const char *key, const char *value)
{
    size_t len = strlen(buf), start = len;
    int n = snprintf(buf + len, size - len, "%s%s=\"", len ? "," : "", key);
    if (n < 0 || (size_t)n >= size - len)
        goto drop;
    len += (size_t)n;
    for (const char *p = value; *p; p++) {
        const char *esc = *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : *p == '\n' ? "\\n" : NULL;
        size_t need = esc ? 2 : 1;
        if (len + need + 2 > size)
            goto drop;
        if (esc)
            memcpy(buf + len, esc, 2);
        else
            buf[len] = *p;
        len += need;
    }
    buf[len++] = '"';
    buf[len] = '\0';
    return buf;
drop:
    buf[start] = '\0';
    return buf;
}

void prom_hist(struct sink *s, const char *name, const char *labels, const struct hist *h)
{
    char series[128];
    uint64_t cumulative = 0;
    const char *sep = labels && labels[0] ? "," : "";

    snprintf(series, sizeof(series), "%s_bucket", name);
    for (unsigned i = 0; i <= h->nbounds; i++) {
        cumulative += h->counts[i];
        sink_printf(s, "%s{%s%sle=\"", series, labels ? labels : "", sep);
        put_double(s, i < h->nbounds ? h->bounds[i] : INFINITY);
        sink_printf(s, "\"} %llu\n", (unsigned long long)cumulative);
    }
    snprintf(series, sizeof(series), "%s_sum", name);
    prom_sample(s, series, labels, h->sum);
    snprintf(series, sizeof(series), "%s_count", name);
    prom_sample(s, series, labels, (double)h->count);
}
