/* GPX 1.1 (read back with gpxpy and gpsbabel by the tests, and validated against the schema when
 * one is at hand). */
#include <string.h>

#include "fmt_internal.h"
#include "wtime.h"

static void write_name(struct fmt_writer *w)
{
    struct sink *s = w->sink;
    const char *u = w->opt.user ? w->opt.user : "", *d = w->opt.device ? w->opt.device : "";
    sink_puts(s, "<name>");
    sink_xml_text(s, u, strlen(u));
    sink_putc(s, '/');
    sink_xml_text(s, d, strlen(d));
    sink_puts(s, "</name>");
}

void fmt_gpx_begin(struct fmt_writer *w)
{
    sink_puts(w->sink, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                       "<gpx version=\"1.1\" creator=\"wherelog\" "
                       "xmlns=\"http://www.topografix.com/GPX/1/1\" "
                       "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
                       "xsi:schemaLocation=\"http://www.topografix.com/GPX/1/1 "
                       "http://www.topografix.com/GPX/1/1/gpx.xsd\">\n<metadata>");
    write_name(w);
    sink_puts(w->sink, "</metadata>\n");
}

int fmt_gpx_point(struct fmt_writer *w, int64_t tst, const void *data, size_t len)
{
    struct sink *s = w->sink;
    struct fmt_fix fix;
    char iso[WTIME_ISO_SIZE];
    int rc = fmt_read_fix(tst, data, len, &fix);

    if (rc)
        return rc;
    if (w->count == 0) {
        sink_puts(s, "<trk>");
        write_name(w);
        sink_puts(s, "\n<trkseg>\n");
    } else if (tst - w->prev_tst > w->opt.gpx_segment_gap) {
        sink_puts(s, "</trkseg>\n<trkseg>\n");
    }
    sink_puts(s, "<trkpt lat=\"");
    fmt_write_decimal(s, &fix.lat);
    sink_puts(s, "\" lon=\"");
    /* GPX's longitude type is [-180, 180): 180 and -180 are the same meridian. Stored
     * longitudes are within [-180, 180], so only exactly 180 needs rewriting. */
    int64_t whole;
    if (!fix.lon.neg && pack_to_int(&fix.lon, &whole) && whole == 180)
        sink_puts(s, "-180");
    else
        fmt_write_decimal(s, &fix.lon);
    sink_puts(s, "\">");
    if (fix.has_alt) {
        sink_puts(s, "<ele>");
        fmt_write_decimal(s, &fix.alt);
        sink_puts(s, "</ele>");
    }
    wtime_iso_cached(&w->days, tst, iso);
    sink_puts(s, "<time>");
    sink_put(s, iso, 20);
    sink_puts(s, "</time></trkpt>\n");
    return 0;
}

void fmt_gpx_end(struct fmt_writer *w)
{
    if (w->count)
        sink_puts(w->sink, "</trkseg>\n</trk>\n");
    sink_puts(w->sink, "</gpx>\n");
}
