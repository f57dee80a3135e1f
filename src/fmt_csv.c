/* CSV (RFC 4180): a header line, then one row per point; CRLF line ends. */
#include <errno.h>
#include <string.h>

#include "fmt_internal.h"
#include "wtime.h"

/* Columns when the caller names none: what people plot or put in a spreadsheet. */
static const char *const default_columns[] = {"tst", "isotst", "lat", "lon",  "alt", "acc",
                                              "vac", "vel",    "cog", "batt", "bs",  "conn",
                                              "tid", "t",      "m",   "tag",  "poi", "inregions"};

static short key_index_of(const char *name)
{
    for (size_t i = 0; i < pack_dictionary_size(); i++)
        if (strcmp(pack_dictionary_key(i), name) == 0)
            return (short)i;
    return -1;
}

void fmt_csv_begin(struct fmt_writer *w)
{
    struct sink *s = w->sink;

    if (w->opt.nfields) {
        w->cols = w->opt.fields;
        w->ncols = w->opt.nfields;
    } else {
        w->cols = default_columns;
        w->ncols = sizeof(default_columns) / sizeof(default_columns[0]);
    }
    memset(w->col_of_key, -1, sizeof(w->col_of_key));
    for (size_t i = 0; i < w->ncols; i++) {
        w->col_key[i] = key_index_of(w->cols[i]);
        if (w->col_key[i] >= 0 && w->col_of_key[w->col_key[i]] < 0)
            w->col_of_key[w->col_key[i]] = (signed char)i;
        if (i)
            sink_putc(s, ',');
        sink_csv_field(s, w->cols[i], strlen(w->cols[i]));
    }
    sink_put(s, "\r\n", 2);
}

static void write_cell(struct fmt_writer *w, const struct pack_value *v, int64_t tst)
{
    struct sink *s = w->sink;

    switch (v->type) {
    case PACK_NULL: break;
    case PACK_FALSE: sink_puts(s, "false"); break;
    case PACK_TRUE: sink_puts(s, "true"); break;
    case PACK_STRING: sink_csv_field(s, v->str, v->len); break;
    case PACK_INT:
    case PACK_DECIMAL:
    case PACK_NUMTEXT: pack_write_number(s, v); break;
    case PACK_ARRAY:
    case PACK_OBJECT:
        /* Nested values are written as their JSON text, quoted as CSV needs. */
        if (!w->scratch.buf && sink_init_mem(&w->scratch, 256) != 0) {
            s->err = s->err ? s->err : -ENOMEM;
            return;
        }
        w->scratch.len = 0;
        pack_write_value_json(&w->scratch, v, tst);
        sink_csv_field(s, w->scratch.buf, w->scratch.len);
        break;
    }
}

int fmt_csv_point(struct fmt_writer *w, int64_t tst, const void *data, size_t len)
{
    struct sink *s = w->sink;
    struct pack_value vals[FMT_MAX_FIELDS];
    bool have[FMT_MAX_FIELDS] = {false};
    struct pack_reader r;
    struct pack_value v;
    const char *key;
    size_t keylen;
    int rc = pack_open(&r, data, len, tst, "location");

    while (rc == 0 && (rc = pack_next(&r, &key, &keylen, &v)) == 1) {
        rc = 0;
        if (r.key_index >= 0) {
            int col = w->col_of_key[r.key_index];
            if (col >= 0) {
                vals[col] = v;
                have[col] = true;
            }
            continue;
        }
        for (size_t i = 0; i < w->ncols; i++) {
            if (w->col_key[i] < 0 && strlen(w->cols[i]) == keylen &&
                memcmp(w->cols[i], key, keylen) == 0) {
                vals[i] = v;
                have[i] = true;
            }
        }
    }
    if (rc < 0)
        return rc;
    /* A column named twice shows the value twice. */
    for (size_t i = 0; i < w->ncols; i++) {
        int first = w->col_key[i] >= 0 ? w->col_of_key[w->col_key[i]] : (int)i;
        if (first != (int)i && have[first]) {
            vals[i] = vals[first];
            have[i] = true;
        }
    }
    for (size_t i = 0; i < w->ncols; i++) {
        if (i)
            sink_putc(s, ',');
        if (have[i]) {
            write_cell(w, &vals[i], tst);
        } else if (w->col_key[i] == PACK_KEY_ISOTST || w->col_key[i] == PACK_KEY_DISPTST) {
            char buf[WTIME_ISO_SIZE];
            if (w->col_key[i] == PACK_KEY_ISOTST)
                wtime_iso_cached(&w->days, tst, buf);
            else
                wtime_disp_cached(&w->days, tst, buf);
            sink_puts(s, buf);
        }
    }
    sink_put(s, "\r\n", 2);
    return 0;
}

void fmt_csv_end(struct fmt_writer *w)
{
    (void)w;
}
