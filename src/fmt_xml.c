/*
 * OwnTracks Recorder's XML: <owntracks><point><key>value</key>...</point></owntracks>.
 * Unlike the Recorder we only write members whose names are valid XML element names, so
 * the document is always well-formed whatever a phone sends.
 */
#include <string.h>

#include "fmt_internal.h"
#include "wtime.h"

void fmt_xml_begin(struct fmt_writer *w)
{
    sink_puts(w->sink, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<owntracks>\n");
}

static bool xml_name(const char *p, size_t n)
{
    if (n == 0 || n > 64)
        return false;
    if (!((p[0] >= 'A' && p[0] <= 'Z') || (p[0] >= 'a' && p[0] <= 'z') || p[0] == '_'))
        return false;
    if (n >= 3 && (p[0] | 0x20) == 'x' && (p[1] | 0x20) == 'm' && (p[2] | 0x20) == 'l')
        return false; /* reserved */
    for (size_t i = 1; i < n; i++) {
        char c = p[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

int fmt_xml_point(struct fmt_writer *w, int64_t tst, const void *data, size_t len)
{
    struct sink *s = w->sink;
    struct pack_reader r;
    struct pack_value v;
    const char *key;
    size_t keylen;
    char buf[WTIME_ISO_SIZE];
    int rc = pack_open(&r, data, len, tst, "location");

    if (rc)
        return rc;
    if (!w->scratch.buf && (rc = sink_init_mem(&w->scratch, 256)) != 0)
        return rc;
    sink_puts(s, "<point>");
    while ((rc = pack_next(&r, &key, &keylen, &v)) == 1) {
        if (r.key_index == PACK_KEY_TYPE || !xml_name(key, keylen))
            continue;
        sink_putc(s, '<');
        sink_put(s, key, keylen);
        sink_putc(s, '>');
        if (v.type == PACK_STRING) {
            sink_xml_text(s, v.str, v.len);
        } else {
            w->scratch.len = 0;
            pack_write_value_json(&w->scratch, &v, tst);
            sink_xml_text(s, w->scratch.buf, w->scratch.len);
        }
        sink_puts(s, "</");
        sink_put(s, key, keylen);
        sink_putc(s, '>');
    }
    wtime_iso(tst, buf);
    sink_puts(s, "<isotst>");
    sink_puts(s, buf);
    wtime_disp(tst, buf);
    sink_puts(s, "</isotst><disptst>");
    sink_puts(s, buf);
    sink_puts(s, "</disptst></point>\n");
    return rc < 0 ? rc : 0;
}

void fmt_xml_end(struct fmt_writer *w)
{
    sink_puts(w->sink, "</owntracks>\n");
}
