/* JSON: the stored payloads, each with the tst-derived "isotst" and "disptst". */
#include <string.h>

#include "fmt_internal.h"
#include "wtime.h"

void fmt_json_begin(struct fmt_writer *w)
{
    sink_puts(w->sink, w->opt.recorder_envelope ? "{\"data\":[" : "[");
}

static void write_computed(struct fmt_writer *w, int64_t tst, bool iso, bool comma)
{
    struct sink *s = w->sink;
    char buf[WTIME_ISO_SIZE];
    if (comma)
        sink_putc(s, ',');
    if (iso) {
        wtime_iso_cached(&w->days, tst, buf);
        sink_puts(s, "\"isotst\":\"");
    } else {
        wtime_disp_cached(&w->days, tst, buf);
        sink_puts(s, "\"disptst\":\"");
    }
    sink_puts(s, buf);
    sink_putc(s, '"');
}

/* Only the requested members, in the requested order. */
static int write_fields(struct fmt_writer *w, int64_t tst, const void *data, size_t len)
{
    struct sink *s = w->sink;
    bool any = false;

    for (size_t i = 0; i < w->opt.nfields; i++) {
        const char *f = w->opt.fields[i];
        struct pack_value v;
        if (strcmp(f, "isotst") == 0 || strcmp(f, "disptst") == 0) {
            write_computed(w, tst, f[0] == 'i', any);
            any = true;
            continue;
        }
        int rc = pack_find(data, len, tst, "location", f, &v);
        if (rc < 0)
            return rc;
        if (rc == 0 && w->opt.place.write) {
            struct fmt_fix fix;
            double lat, lon;
            if (fmt_read_fix(tst, data, len, &fix) == 0 && pack_to_double(&fix.lat, &lat) &&
                pack_to_double(&fix.lon, &lon))
                any |= w->opt.place.write(w->opt.place.arg, lat, lon, f, 0, any, s) > 0;
            continue;
        }
        if (rc == 0)
            continue;
        if (any)
            sink_putc(s, ',');
        sink_json_string(s, f, strlen(f));
        sink_putc(s, ':');
        pack_write_value_json(s, &v, tst);
        any = true;
    }
    return 0;
}

/* Appends the string literal lit to out at *n. */
#define PUT_LITERAL(out, n, lit)                                                                   \
    do {                                                                                           \
        memcpy((out) + *(n), lit, sizeof(lit) - 1);                                                \
        *(n) += sizeof(lit) - 1;                                                                   \
    } while (0)

/* Both computed members in one write (every point of a full export carries them): the
 * disptst is the isotst with a blank for the 'T' and no 'Z'. */
static void write_both_computed(struct fmt_writer *w, int64_t tst, bool comma)
{
    /* HH:MM:SS, after the date and the 'T' */
    enum { TIME_AT = WTIME_DATE_LEN + 1, TIME_LEN = WTIME_DISP_LEN - TIME_AT };
    char iso[WTIME_ISO_SIZE];
    char out[sizeof(",\"isotst\":\"\",\"disptst\":\"\"") + WTIME_ISO_LEN + WTIME_DISP_LEN];
    size_t n = 0;

    wtime_iso_cached(&w->days, tst, iso);
    if (comma)
        out[n++] = ',';
    PUT_LITERAL(out, &n, "\"isotst\":\"");
    memcpy(out + n, iso, WTIME_ISO_LEN);
    n += WTIME_ISO_LEN;
    PUT_LITERAL(out, &n, "\",\"disptst\":\"");
    memcpy(out + n, iso, WTIME_DATE_LEN);
    out[n + WTIME_DATE_LEN] = ' ';
    memcpy(out + n + TIME_AT, iso + TIME_AT, TIME_LEN);
    n += WTIME_DISP_LEN;
    out[n++] = '"';
    sink_put(w->sink, out, n);
}

static int write_all(struct fmt_writer *w, int64_t tst, const void *data, size_t len)
{
    const uint64_t isotst = (uint64_t)1 << PACK_KEY_ISOTST,
                   disptst = (uint64_t)1 << PACK_KEY_DISPTST;
    uint64_t seen;
    int n = pack_write_members_json(w->sink, data, len, tst, "location", &seen);

    if (n < 0)
        return n;
    if (w->opt.place.write) {
        struct fmt_fix fix;
        double lat, lon;
        if (fmt_read_fix(tst, data, len, &fix) == 0 && pack_to_double(&fix.lat, &lat) &&
            pack_to_double(&fix.lon, &lon))
            n += w->opt.place.write(w->opt.place.arg, lat, lon, NULL, seen, n > 0, w->sink);
    }
    /* Payloads imported from elsewhere may already carry these; never write a key twice. */
    if (!(seen & (isotst | disptst))) {
        write_both_computed(w, tst, n > 0);
        return 0;
    }
    if (!(seen & isotst))
        write_computed(w, tst, true, n > 0);
    if (!(seen & disptst))
        write_computed(w, tst, false, true);
    return 0;
}

int fmt_json_point(struct fmt_writer *w, int64_t tst, const void *data, size_t len)
{
    struct sink *s = w->sink;
    int rc;

    sink_puts(s, w->count ? ",\n{" : "\n{");
    rc = w->opt.nfields ? write_fields(w, tst, data, len) : write_all(w, tst, data, len);
    if (rc)
        return rc; /* fmt_point takes the partial object back */
    sink_putc(s, '}');
    return 0;
}

void fmt_json_end(struct fmt_writer *w)
{
    struct sink *s = w->sink;
    if (!w->opt.recorder_envelope) {
        sink_puts(s, w->count ? "\n]\n" : "]\n");
        return;
    }
    sink_puts(s, w->count ? "\n],\"count\":" : "],\"count\":");
    sink_put_u64(s, w->count);
    if (w->opt.in_range_known) {
        sink_puts(s, ",\"in_range\":");
        sink_put_u64(s, w->opt.in_range);
    }
    sink_puts(s, ",\"status\":200,\"version\":");
    const char *v = w->opt.version ? w->opt.version : "";
    sink_json_string(s, v, strlen(v));
    sink_puts(s, "}\n");
}
